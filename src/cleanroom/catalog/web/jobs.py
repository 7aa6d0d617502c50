"""Background jobs: heavy catalog work (hashing, reading, materialising) in a thread, with a
page that shows its progress and reloads itself until the work is over.

    job = handler.jobs.start("register", "Register wafer_lots", actor, form, work)
    # work(progress) -> (summary text, URL of the result); progress(fraction, message)

A form whose job fails is shown again on the job's page, with the service's message and the
input as it was submitted. Jobs live in this process's memory only: after a restart of the
service a job's page says so, and the catalog itself tells what was done.
"""

from __future__ import annotations

import asyncio
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from cleanroom.catalog.web.base import CatalogHandler, log, needs_admin
from cleanroom.errors import CleanRoomError

Progress = Callable[[float, str], None]
Work = Callable[[Progress], tuple[str, str]]
# kind -> renders the job's form again: render(handler, form=..., error=..., status=...)
FormPage = Callable[..., Awaitable[None]]
FORM_PAGES: dict[str, FormPage] = {}

QUICK_ANSWER_S = 2.0
"""A POST waits this long for its job: a mistake found at once is shown on the form itself."""
KEEP_JOBS = 200


def form_page(kind: str) -> Callable[[FormPage], FormPage]:
    """Register the page that shows the form of jobs of ``kind`` again."""

    def register(render: FormPage) -> FormPage:
        FORM_PAGES[kind] = render
        return render

    return register


@dataclass
class Job:
    id: str
    kind: str
    title: str
    actor: str
    form: dict[str, Any]
    started: float = field(default_factory=time.time)
    fraction: float = 0.0
    message: str = "waiting for a worker"
    state: str = "running"  # running | done | failed
    result: str = ""
    result_url: str = ""
    error: str = ""
    finished: float | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def progress(self, fraction: float, message: str) -> None:
        with self._lock:
            self.fraction = max(self.fraction, min(1.0, max(0.0, float(fraction))))
            self.message = message

    @property
    def percent(self) -> int:
        return int(self.fraction * 100)

    @property
    def seconds(self) -> float:
        return (self.finished or time.time()) - self.started


class JobRunner:
    """Runs jobs on a small pool of threads and remembers the last ones."""

    def __init__(self, workers: int = 2):
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="catalog-job")
        self.jobs: OrderedDict[str, Job] = OrderedDict()
        self.futures: dict[str, asyncio.Future] = {}

    def get(self, job_id: str) -> Job | None:
        return self.jobs.get(job_id)

    def start(self, kind: str, title: str, actor: str, form: dict[str, Any], work: Work) -> Job:
        job = Job(secrets.token_urlsafe(12), kind, title, actor, dict(form))
        self.jobs[job.id] = job
        while len(self.jobs) > KEEP_JOBS:
            old_id, _old = self.jobs.popitem(last=False)
            self.futures.pop(old_id, None)

        def run() -> None:
            job.progress(0.0, "started")
            try:
                job.result, job.result_url = work(job.progress)
            except CleanRoomError as error:
                job.error, job.state = str(error), "failed"
            except Exception as error:  # noqa: BLE001 - shown to the admin, logged in full
                log.exception("job %s (%s) failed", job.id, job.title)
                job.error = (
                    f"{job.title} failed unexpectedly ({type(error).__name__}: {error}); the "
                    "service's log has the details"
                )
                job.state = "failed"
            else:
                job.fraction, job.message, job.state = 1.0, "done", "done"
            finally:
                job.finished = time.time()
                log.info("job %s %s by %s: %s", job.id, job.title, job.actor, job.state)

        loop = asyncio.get_running_loop()
        self.futures[job.id] = asyncio.ensure_future(loop.run_in_executor(self.pool, run))
        return job

    async def settle(self, job: Job, timeout: float | None = None) -> None:
        """Wait up to ``timeout`` (default QUICK_ANSWER_S) for a job; it goes on running."""
        future = self.futures.get(job.id)
        if future is None:
            return
        try:
            await asyncio.wait_for(
                asyncio.shield(future), QUICK_ANSWER_S if timeout is None else timeout
            )
        except TimeoutError:
            pass

    def shutdown(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)


async def start_job(
    handler: CatalogHandler, kind: str, title: str, work: Work, form: dict[str, Any]
) -> None:
    """Start a job for a form's POST; answer with the form and the message if it fails at
    once (400), else send the browser to the job's page (303)."""
    job = handler.jobs.start(kind, title, handler.actor, form, work)
    await handler.jobs.settle(job)
    if job.state == "failed":
        await FORM_PAGES[kind](handler, form=form, error=job.error, status=400)
        return
    handler.redirect(handler.url("jobs", job.id), status=303)


# The list each kind of job belongs to (its page's "where you are").
JOB_SECTIONS = {"register": "datasets", "version": "datasets", "grant": "projects"}


class JobHandler(CatalogHandler):
    @needs_admin
    async def get(self, job_id: str) -> None:
        job = self.jobs.get(job_id)
        if job is None:
            self.error_page(
                404,
                "There is no such job here: the service may have restarted since. "
                "The lists show what the catalog holds.",
            )
            return
        if job.state == "failed":
            await FORM_PAGES[job.kind](
                self, form=job.form, error=f"{job.title}: {job.error}", status=200
            )
            return
        self.page("job.html", job=job, here=JOB_SECTIONS.get(job.kind, ""))


default_handlers = [(r"jobs/([A-Za-z0-9_-]+)", JobHandler)]
