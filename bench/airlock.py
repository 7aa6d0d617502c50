"""Airlock benchmark (not a test): how fast files get from a researcher's server into the
airlock's store, against the plain file-system floor.

(a) One 100 MB file from submit to stored: ``PUT api/requests/{id}/files/{name}`` with the
    researcher's server token at the gateway address, timed until the 201 (streamed to a
    temporary file while hashed, fsynced, renamed to its SHA-256, the directory fsynced, the
    row committed, the audit record appended), against ``cp`` + ``sha256sum`` + ``sync`` of
    the same file into the same directory's disk. Median of RUNS each; goal: ratio <= 1.5.
(b) CONCURRENT submitters, each with a draft of its own, each putting FILES_EACH files of
    1 MB at once: errors, p99 latency of one upload, uploads per second.
(c) The review page's preview of a PDF_PAGES-page PDF (what ``RequestPage`` calls for it:
    ``sandboxed.preview``: a sandbox started, the PDF inspected, its first pages rendered by
    poppler and checked) against ``pdftoppm`` run directly on the same file for the same
    pages, side by side. Median of RUNS each; the ratio is the sandbox's cost.
(d) The review page's preview of a CSV_ROWS-row CSV (``sandboxed.preview``, as the page calls
    it: a sandbox started, the first rows rendered, the rows counted) against a fresh DuckDB
    connection reading its first 200 rows directly (``read_csv ... LIMIT 200``), side by side.
    ``bench/review_pages.py`` times the same rendering without the sandbox, and the full view.

Needs root, a running Docker engine and the built images: it starts a test hub of its own (on
free ports), one researcher's server for a project, and stops everything at the end.

Usage: .venv/bin/python bench/airlock.py [--review-only]   (just (c) and (d), no hub)
Last line: RESULT submit_ratio=<x> concurrent_errors=<n> pdf_review_ratio=<x>
csv_review_ratio=<x> concurrent_p99_ms=<x> concurrent_per_s=<x>
"""

from __future__ import annotations

import concurrent.futures
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import docker
import requests

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from factories.pdfs import make_pdf  # noqa: E402
from support.testhub import start_test_hub, stop_test_hub  # noqa: E402

from cleanroom.airlock.inspect import sandboxed  # noqa: E402
from cleanroom.airlock.inspect.previews import pdf as pdf_preview  # noqa: E402
from cleanroom.audit import AuditLog  # noqa: E402
from cleanroom.catalog.service import CatalogService  # noqa: E402

RUNS = 3
BIG = 100 * 1024 * 1024
SMALL = 1024 * 1024
CONCURRENT = 50
FILES_EACH = 4
PDF_PAGES = 20
CSV_ROWS = 1_000_000


def new_draft(base: str, token: str) -> str:
    answer = requests.post(
        base + "api/requests",
        json={"justification": "benchmark"},
        headers={"Authorization": f"token {token}"},
        timeout=60,
    )
    answer.raise_for_status()
    return answer.json()["id"]


def put(base: str, token: str, rid: str, name: str, path: Path, session=None) -> float:
    """Seconds for one upload, streamed from ``path``, until the airlock answered 201."""
    http = session or requests
    with open(path, "rb") as body:
        start = time.perf_counter()
        answer = http.put(
            f"{base}api/requests/{rid}/files/{name}?type=table",
            data=body,
            headers={"Authorization": f"token {token}"},
            timeout=600,
        )
        elapsed = time.perf_counter() - start
    if answer.status_code != 201:
        raise RuntimeError(f"{answer.status_code}: {answer.text[:200]}")
    return elapsed


def floor_seconds(source: Path, target_dir: Path) -> float:
    """cp + sha256sum + sync of ``source`` into ``target_dir`` (the same disk as the store)."""
    target = target_dir / f"floor-{os.getpid()}-{time.monotonic_ns()}"
    start = time.perf_counter()
    subprocess.run(["cp", str(source), str(target)], check=True)
    subprocess.run(["sha256sum", str(target)], check=True, capture_output=True)
    subprocess.run(["sync"], check=True)
    elapsed = time.perf_counter() - start
    target.unlink()
    return elapsed


def big_file(directory: Path, size: int, seed: int) -> Path:
    """A file of ``size`` bytes that is not all zeros (CSV-like text, unique per seed)."""
    path = directory / f"bench-{seed}-{size}.csv"
    line = f"{seed},lot,97.1,plant-{seed}\n".encode()
    with open(path, "wb") as f:
        remaining = size
        while remaining > 0:
            chunk = (line * 4096)[:remaining]
            f.write(chunk)
            remaining -= len(chunk)
    return path


def pdf_review(work: Path) -> float:
    """(c): prints both timings and returns the ratio sandbox / pdftoppm directly."""
    path = work / "report.pdf"
    path.write_bytes(make_pdf(pages=PDF_PAGES, text="Quarterly yield report"))
    shown = min(pdf_preview.PREVIEW_PAGES, PDF_PAGES)
    sandbox_times, direct_times = [], []
    for run in range(RUNS):
        start = time.perf_counter()
        fragment = sandboxed.preview(path, "application/pdf", "report.pdf")
        sandbox_times.append(time.perf_counter() - start)
        if fragment.count("<img ") != shown:
            raise RuntimeError(f"the preview shows no pages: {fragment[:300]}")
        out = work / f"direct-{run}"
        out.mkdir()
        start = time.perf_counter()
        subprocess.run(
            [pdf_preview.PDFTOPPM, "-png", "-r", str(pdf_preview.DPI), "-scale-to"]
            + [str(pdf_preview.MAX_SIDE_PIXELS), "-f", "1", "-l", str(shown), str(path)]
            + [str(out / "page")],
            check=True,
        )
        direct_times.append(time.perf_counter() - start)
    sandbox_s, direct_s = statistics.median(sandbox_times), statistics.median(direct_times)
    ratio = sandbox_s / direct_s
    print(
        f"{PDF_PAGES}-page PDF, review preview ({shown} pages): sandbox {sandbox_s:.3f} s "
        f"(runs {[round(t, 3) for t in sandbox_times]}), pdftoppm directly {direct_s:.3f} s "
        f"(runs {[round(t, 3) for t in direct_times]}), ratio {ratio:.2f}"
    )
    return ratio


def csv_review(work: Path) -> float:
    """(d): prints both timings and returns the ratio sandboxed preview / DuckDB directly."""
    import duckdb

    path = work / "big.csv"
    with path.open("w") as f:
        f.write("id,plant_group,yield\n")
        f.writelines(f"{i},g{i % 7},{i % 1000 / 10}\n" for i in range(1, CSV_ROWS + 1))

    def direct() -> None:
        con = duckdb.connect()
        try:
            rows = con.execute("SELECT * FROM read_csv(?) LIMIT 200", [str(path)]).fetchall()
        finally:
            con.close()
        assert len(rows) == 200

    def preview() -> None:
        html = sandboxed.preview(path, "text/csv", "big.csv")
        if f"{CSV_ROWS:,} rows" not in html:
            raise RuntimeError(f"the preview does not count the rows: {html[:300]}")

    timings = {}
    for name, what in (("direct", direct), ("sandbox", preview)):
        what()  # warm-up: the page cache
        runs = []
        for _ in range(RUNS):
            start = time.perf_counter()
            what()
            runs.append(time.perf_counter() - start)
        timings[name] = runs
    sandbox_s, direct_s = (statistics.median(timings[k]) for k in ("sandbox", "direct"))
    ratio = sandbox_s / direct_s
    print(
        f"{CSV_ROWS:,}-row CSV ({path.stat().st_size:,} bytes), review preview: sandbox "
        f"{sandbox_s:.3f} s (runs {[round(t, 3) for t in timings['sandbox']]}), DuckDB "
        f"LIMIT 200 directly {direct_s:.3f} s, ratio {ratio:.2f}"
    )
    return ratio


def main() -> int:
    if sys.argv[1:] == ["--review-only"]:
        work = Path(tempfile.mkdtemp(prefix="airlock-bench-review-"))
        pdf_ratio, csv_ratio = pdf_review(work), csv_review(work)
        print(f"RESULT pdf_review_ratio={pdf_ratio:.3f} csv_review_ratio={csv_ratio:.3f}")
        return 0
    client = docker.from_env()
    # One researcher's server stands in for the CONCURRENT submitters: it may hold a draft
    # for each (a researcher's own cap is 5).
    hub = start_test_hub(
        client,
        CLEANROOM_AIRLOCK_MAX_DRAFTS=str(CONCURRENT + 5),
        CLEANROOM_AIRLOCK_MAX_OPEN_REQUESTS=str(CONCURRENT + 5),
    )
    try:
        catalog = CatalogService.open(
            hub.settings.catalog_database_url, AuditLog.from_state_dir(hub.settings.state_dir)
        )
        catalog.add_organisation("albench", "Bench University", "other", actor="bench")
        hub.add_user("albench", ("researcher",))
        catalog.set_user_organisation("albench", "albench", actor="bench")
        catalog.create_project("albench", actor="bench")
        catalog.add_member("albench", "albench", "researcher", actor="bench")
        deadline = time.monotonic() + 60
        while True:
            try:
                if requests.get(hub.airlock_direct_url + "api/openapi.json", timeout=5).ok:
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("the airlock does not answer")
            time.sleep(0.5)
        hub.start_server("albench", options={"project": "albench"})
        token = hub.server_token(client, "albench")
        base = hub.airlock_direct_url
        store_dir = hub.settings.airlock_path
        work = Path(tempfile.mkdtemp(prefix="airlock-bench-", dir=hub.settings.state_dir))

        # (a) one 100 MB file, against cp + sha256sum + sync into the store's disk.
        airlock_times, floor_times = [], []
        for run in range(RUNS):
            source = big_file(work, BIG, run)
            subprocess.run(["sync"], check=True)
            floor_times.append(floor_seconds(source, store_dir))
            rid = new_draft(base, token)
            airlock_times.append(put(base, token, rid, f"big-{run}.csv", source))
            source.unlink()
        airlock_s, floor_s = statistics.median(airlock_times), statistics.median(floor_times)
        ratio = airlock_s / floor_s
        print(
            f"100 MB: airlock {airlock_s:.3f} s (runs {[round(t, 3) for t in airlock_times]}), "
            f"cp+sha256sum+sync {floor_s:.3f} s (runs {[round(t, 3) for t in floor_times]}), "
            f"ratio {ratio:.2f}"
        )

        # (b) concurrent submitters of 1 MB files, each into a draft of its own.
        sources = [big_file(work, SMALL, 1000 + i) for i in range(CONCURRENT)]
        drafts = [new_draft(base, token) for _ in range(CONCURRENT)]

        def submitter(index: int) -> tuple[list[float], int]:
            times, errors = [], 0
            with requests.Session() as session:
                for n in range(FILES_EACH):
                    try:
                        times.append(
                            put(base, token, drafts[index], f"f{n}.csv", sources[index], session)
                        )
                    except Exception as error:  # noqa: BLE001 - counted
                        print(f"submitter {index}: {error}")
                        errors += 1
            return times, errors

        start = time.perf_counter()
        with concurrent.futures.ThreadPoolExecutor(CONCURRENT) as pool:
            results = list(pool.map(submitter, range(CONCURRENT)))
        wall = time.perf_counter() - start
        latencies = sorted(t for times, _ in results for t in times)
        errors = sum(e for _, e in results)
        p99 = (
            latencies[max(0, int(len(latencies) * 0.99) - 1)] * 1000 if latencies else float("nan")
        )
        per_s = len(latencies) / wall
        print(
            f"{CONCURRENT} submitters x {FILES_EACH} files of 1 MB: {len(latencies)} stored, "
            f"{errors} errors, p50 {statistics.median(latencies) * 1000:.0f} ms, "
            f"p99 {p99:.0f} ms, {per_s:.1f} uploads/s over {wall:.1f} s"
        )
        # (c), (d): review previews through the sandbox, against the tools directly.
        pdf_ratio, csv_ratio = pdf_review(work), csv_review(work)
        print(
            f"RESULT submit_ratio={ratio:.3f} concurrent_errors={errors} "
            f"pdf_review_ratio={pdf_ratio:.3f} csv_review_ratio={csv_ratio:.3f} "
            f"concurrent_p99_ms={p99:.1f} concurrent_per_s={per_s:.2f}"
        )
        return 0
    finally:
        stop_test_hub(hub)


if __name__ == "__main__":
    sys.exit(main())
