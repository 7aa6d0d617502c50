"""Server-rendered pages: the reviewer's queue, a request (files, sizes, hashes, policy reasons,
checks, previews, diffs between versions, votes), the requester's own requests with the
download links once approved, and the admin pages (all requests, revoke, the audit log).

No page carries a script (the Content-Security-Policy allows none), so researcher-made content
shown in a preview cannot run. Previews and diffs come from ``cleanroom.airlock.inspect.previews``,
run in the sandbox (``cleanroom.airlock.inspect.sandboxed``); when the sandbox fails, a page says
"no preview" and why, and shows nothing made up.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import quote

from markupsafe import Markup

from cleanroom.airlock.errors import InvalidInput, NotFound
from cleanroom.airlock.inspect import sandboxed
from cleanroom.airlock.service import VoteInput, current_files
from cleanroom.airlock.states import DESCRIPTIONS, RELEASABLE_STATES, State
from cleanroom.airlock.web import findings as table_findings
from cleanroom.airlock.web.handlers.api import DownloadHandler
from cleanroom.airlock.web.handlers.base import AirlockHandler, authenticated
from cleanroom.airlock.web.serialise import request_model

# Sandboxes one request page runs at once.
SANDBOXES_PER_PAGE = 3


def full_view_url(prefix: str, request_id: str, file_id: int) -> str:
    """The link to a file version's full view: built from the request's id and the file
    version's number (the airlock's), never from its name (the researcher's)."""
    return f"{quote(prefix)}requests/{quote(request_id, safe='')}/full/{int(file_id)}"


def render_preview(
    path,
    media_type: str,
    name: str,
    sha256: str,
    full_url: str | None = None,
    highlight: list[dict] | None = None,
) -> Markup:
    """The file's preview, made in the sandbox (a failure there is a note, not an error);
    a table marks the cells in ``highlight``."""
    try:
        html = sandboxed.preview(path, media_type, name, sha256, full_url, highlight=highlight)
        return Markup(html)  # noqa: S704 - sanitised by previews
    except Exception as error:  # noqa: BLE001 - a bad file must not break the page
        return Markup('<p class="error">The preview failed: {}</p>').format(str(error)[:300])


def render_diff(old, new, media_type: str, name: str, old_sha: str, new_sha: str) -> Markup:
    """The diff against the previous version, made in the sandbox."""
    try:
        return Markup(sandboxed.diff(old, new, media_type, name, old_sha, new_sha))  # noqa: S704 - sanitised by previews
    except Exception as error:  # noqa: BLE001
        return Markup('<p class="error">The comparison failed: {}</p>').format(str(error)[:300])


class PageHandler(AirlockHandler):
    def page(self, template: str, *, status: int = 200, **context: Any) -> None:
        # The nav item to mark as the current page: the list this page is (or belongs to).
        context.setdefault("here", self.request.path.removeprefix(self.prefix))
        context.update(
            prefix=self.prefix,
            user=self.caller,
            xsrf=self.xsrf_token.decode("ascii"),
            descriptions=DESCRIPTIONS,
            notice=self.get_query_argument("notice", None),
        )
        self.set_status(status)
        self.set_header("Content-Type", "text/html; charset=UTF-8")
        self.finish(self.settings["templates"].get_template(template).render(**context))

    def done(self, url: str, notice: str) -> None:
        from urllib.parse import urlencode

        self.redirect(f"{url}?{urlencode({'notice': notice[:300]})}", status=303)

    def argument(self, name: str) -> str:
        return (self.get_body_argument(name, "") or "").strip()


class HomePage(PageHandler):
    @authenticated
    async def get(self):
        mine = await self.call(self.airlock.list_mine, self.me)
        queue = await self.call(self.airlock.review_queue, self.me)
        self.page(
            "home.html",
            mine=[request_model(r, self.me, inside=self.inside) for r in mine],
            queue=[request_model(r, self.me, inside=self.inside) for r in queue],
        )


class QueuePage(PageHandler):
    @authenticated
    async def get(self):
        waiting = await self.call(self.airlock.review_queue, self.me)
        everything = await self.call(self.airlock.review_queue, self.me, False)
        waiting_ids = {r.id for r in waiting}
        self.page(
            "queue.html",
            waiting=[request_model(r, self.me, inside=self.inside) for r in waiting],
            voted=[
                request_model(r, self.me, inside=self.inside)
                for r in everything
                if r.id not in waiting_ids
            ],
        )


class RequestPage(PageHandler):
    @authenticated
    async def get(self, request_id: str):
        request = await self.call(self.airlock.get, self.me, request_id)
        model = request_model(request, self.me, inside=self.inside)
        is_requester = self.me.name == request.requester
        may_review = False
        if not is_requester:
            may_review = await self.call(self.airlock.may_review, self.me, request)
        contents = not is_requester and (may_review or self.me.is_admin)
        previews: dict[str, Markup] = {}
        diffs: dict[str, Markup] = {}
        full_urls: dict[tuple[str, int], str] = {}
        # The verified-table check of each current file, beside its preview (by name).
        tables: dict[str, table_findings.TableReview] = {}
        if contents:
            for f in current_files(request):
                check = table_findings.table_check(request.checks, f.id)
                if check is not None:
                    tables[f.name] = table_findings.table_review(check, f.table_spec)
            previews, diffs = await self.call(self._contents, request, tables)
            # Every version's full view, by (name, version): the current ones and the earlier.
            full_urls = {
                (f.name, f.version): full_view_url(self.prefix, request.id, f.id)
                for f in request.files
            }
        votable = []
        if may_review and request.state == State.IN_REVIEW:
            votable = [
                f["name"]
                for f in model["files"]
                if not any(v["reviewer"] == self.me.name for v in f["votes"])
            ]
        here, parent = "", "My requests"
        if not is_requester and may_review:
            here, parent = "review", "Waiting for me"
        elif not is_requester and self.me.is_admin:
            here, parent = "admin", "All requests"
        self.page(
            "request.html",
            here=here,
            parent=parent,
            request=model,
            is_requester=is_requester,
            show_contents=contents,
            previews=previews,
            diffs=diffs,
            full_urls=full_urls,
            tables=tables,
            preview_rows=sandboxed.PREVIEW_ROWS,
            rule_labels=table_findings.RULES,
            votable=votable,
            downloadable=is_requester and State(request.state) in RELEASABLE_STATES,
            in_clean_room=self.peer_in_clean_room(),
            may_revoke=self.me.is_admin and State(request.state) in RELEASABLE_STATES,
            editable=is_requester and request.state in (State.DRAFT, State.RETURNED),
            withdrawable=is_requester
            and request.state in (State.DRAFT, State.SUBMITTED, State.IN_REVIEW, State.RETURNED),
        )

    def _contents(self, request, tables: dict) -> tuple[dict, dict]:
        """Previews of the current files and diffs against each one's previous version, each
        made in a sandbox of its own, a few at a time (a sandbox is mostly waiting). A
        verified table's preview marks its flagged cells (``tables``: by file name)."""
        store = self.airlock.store
        previews, diffs = {}, {}
        with ThreadPoolExecutor(max_workers=SANDBOXES_PER_PAGE) as pool:
            for f in current_files(request):
                path = store.verified_path(f.sha256)
                url = full_view_url(self.prefix, request.id, f.id)
                marks = None
                if f.name in tables:
                    shown = range(sandboxed.PREVIEW_ROWS)
                    marks = table_findings.highlight(tables[f.name].findings, shown)
                previews[f.name] = pool.submit(
                    render_preview, path, f.media_type, f.name, f.sha256, url, marks
                )
                older = [o for o in request.files if o.name == f.name and o.version < f.version]
                if older:
                    old = max(older, key=lambda o: o.version)
                    diffs[f.name] = pool.submit(
                        render_diff,
                        store.verified_path(old.sha256),
                        path,
                        f.media_type,
                        f.name,
                        old.sha256,
                        f.sha256,
                    )
        return (
            {name: job.result() for name, job in previews.items()},
            {name: job.result() for name, job in diffs.items()},
        )


class FullViewPage(PageHandler):
    """All of a file, a page at a time (``previews.full``), for reviewers and admins, in a
    browser outside the clean room. Query: ``page`` (a number or ``last``), or ``row`` (the
    page holding it), and ``view`` (``text`` or ``hex``, for any file)."""

    # The previews' policy: nothing runs, nothing loads but the style sheets and data: images.
    content_security_policy = sandboxed.PREVIEW_CSP

    @authenticated
    async def get(self, request_id: str, file_id: str):
        page, row, view = self._query(sandboxed.FULL_VIEWS)
        request = await self.call(self.airlock.get, self.me, request_id)
        f, path = await self.call(
            self.airlock.file_for_full_view,
            self.me,
            request_id,
            int(file_id),
            peer_in_clean_room=self.peer_in_clean_room(),
        )
        url = full_view_url(self.prefix, request.id, f.id)
        check = table_findings.table_check(request.checks, f.id)
        table = table_findings.table_review(check, f.table_spec) if check is not None else None
        shown = await self.call(
            sandboxed.full_page,
            path,
            f.media_type,
            f.name,
            page if page == "last" else int(page),
            row=row,
            view=view,
            sha256=f.sha256,
            url=url,
            highlight=None if view else self._marks(table, page, row),
        )
        may_review = await self.call(self.airlock.may_review, self.me, request)
        here, parent = ("review", "Waiting for me") if may_review else ("admin", "All requests")
        self.page(
            "full.html",
            status=404 if shown.past_end else 200,
            here=here,
            parent=parent,
            request=request_model(request, self.me),
            file=f,
            shown=shown,
            body=Markup(shown.html),  # noqa: S704 - built escaped by previews.full
            url=url,
            view=view or "",
            views=list(sandboxed.FULL_VIEWS),
            table=table,
        )

    @staticmethod
    def _marks(
        table: table_findings.TableReview | None, page: str, row: int | None
    ) -> list[dict] | None:
        """The cells the page marks: the verified-table check's findings on its rows (on
        the last page, whose rows are not known here, the last findings)."""
        if table is None:
            return None
        if page == "last" and row is None:
            return table_findings.highlight(table.findings, from_end=True)
        n = sandboxed.FULL_VIEW_ROWS
        number = (row - 1) // n + 1 if row is not None else int(page)
        return table_findings.highlight(table.findings, range((number - 1) * n, number * n))

    def _query(self, views) -> tuple[str, int | None, str | None]:
        page = self.get_query_argument("page", "1").strip() or "1"
        if page != "last" and not (page.isdigit() and int(page) >= 1):
            raise InvalidInput(f"page {page[:20]!r} does not exist: give a number from 1, or last")
        row = self.get_query_argument("row", "").strip() or None
        if row is not None and not (row.isdigit() and int(row) >= 1):
            raise InvalidInput(f"row {row[:20]!r} does not exist: give a number from 1")
        view = self.get_query_argument("view", "").strip() or None
        if view is not None and view not in views:
            raise InvalidInput(f"there is no view {view[:20]!r}: choose {' or '.join(views)}")
        return page, int(row) if row else None, view


class VoteForm(PageHandler):
    @authenticated
    async def post(self, request_id: str):
        votes = []
        for index in range(self.airlock.limits.max_files):
            name = self.get_body_argument(f"file_{index}", None)
            if name is None:
                break
            decision = self.argument(f"decision_{index}")
            if not decision:
                continue  # not voted on this file now
            votes.append(
                VoteInput(
                    name,
                    decision,
                    self.argument(f"comment_{index}"),
                    self.get_body_argument(f"visible_{index}", "") == "on",
                )
            )
        if not votes:
            raise InvalidInput("choose a decision for at least one file")
        seen = self.argument("seen_comments")
        if not seen.isdigit():
            raise InvalidInput("the form is incomplete: reload the page and vote again")
        request = await self.call(self.airlock.vote, self.me, request_id, votes, int(seen))
        self.done(
            f"{self.prefix}requests/{request_id}",
            f"Your vote is recorded; the request is now {request.state.replace('_', ' ')}.",
        )


class SubmitForm(PageHandler):
    @authenticated
    async def post(self, request_id: str):
        request = await self.call(self.airlock.submit, self.me, request_id)
        self.done(f"{self.prefix}requests/{request_id}", f"Submitted: {request.state}.")


class WithdrawForm(PageHandler):
    @authenticated
    async def post(self, request_id: str):
        await self.call(self.airlock.withdraw, self.me, request_id)
        self.done(f"{self.prefix}requests/{request_id}", "The request is withdrawn.")


class RevokeForm(PageHandler):
    @authenticated
    async def post(self, request_id: str):
        await self.call(self.airlock.revoke, self.me, request_id, self.argument("reason"))
        self.done(f"{self.prefix}requests/{request_id}", "The release is revoked.")


class DownloadPage(DownloadHandler):
    api = False


class AdminPage(PageHandler):
    @authenticated
    async def get(self):
        state = self.get_query_argument("state", "") or None
        if state is not None and state not in {s.value for s in State}:
            raise InvalidInput(f"{state!r} is not a state")
        rows = await self.call(self.airlock.list_all, self.me, state)
        counts: dict[str, int] = {}
        for r in await self.call(self.airlock.list_all, self.me, None):
            counts[r.state] = counts.get(r.state, 0) + 1
        self.page(
            "admin.html",
            requests=[request_model(r, self.me, inside=self.inside) for r in rows],
            state=state,
            states=[s.value for s in State],
            counts=counts,
        )


class AuditPage(PageHandler):
    @authenticated
    async def get(self):
        from cleanroom.airlock.permissions import check_user_can_administer

        check_user_can_administer(self.me)
        audit = self.airlock.audit
        result = await self.call(audit.verify)
        records = await self.call(audit.tail, 200)
        airlock_only = self.get_query_argument("all", "") != "1"
        if airlock_only:
            records = [
                r
                for r in records
                if r.event.startswith("airlock.")
                or (r.event == "policy.decision" and r.details.get("area") in ("release", "review"))
            ]
        self.page(
            "audit.html", result=result, records=list(reversed(records)), airlock_only=airlock_only
        )


class NotFoundPage(PageHandler):
    async def prepare(self) -> None:
        await super().prepare()
        raise NotFound(f"there is no page {self.request.path}")


RID = r"(?P<request_id>[^/]+)"
NAME = r"(?P<name>[^/]+)"
default_handlers = [
    ("", HomePage),
    (r"review", QueuePage),
    (rf"requests/{RID}", RequestPage),
    (rf"requests/{RID}/vote", VoteForm),
    (rf"requests/{RID}/submit", SubmitForm),
    (rf"requests/{RID}/withdraw", WithdrawForm),
    (rf"requests/{RID}/revoke", RevokeForm),
    (rf"requests/{RID}/files/{NAME}/download", DownloadPage),
    (rf"requests/{RID}/full/(?P<file_id>[0-9]{{1,18}})", FullViewPage),
    (r"admin", AdminPage),
    (r"admin/audit", AuditPage),
]
