"""Review pages benchmark (not a test): what a reviewer waits for on a 1-million-row CSV,
against DuckDB reading the same file directly.

(a) The review page's preview of the file (``previews.render_preview``, as the request page
    renders it: the first rows, the shape, the note that links to the full view).
(b) The full view's first page and its last page (``previews.render_full_page``: a sandboxed
    DuckDB, ``LIMIT``/``OFFSET`` on the file; the last page counts the rows first).
(c) Direct: a fresh DuckDB connection, ``SELECT * FROM read_csv(?) LIMIT 200``.

Median of RUNS each after one warm-up, side by side in one run, on a file written to a
temporary directory (1,000,000 rows, about 9 MB). Goal: (a) / (c) at most 1.5.

Usage: .venv/bin/python bench/review_pages.py
Last line: RESULT csv_review_ratio=<x> csv_last_page_s=<x> direct_s=<x>
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import duckdb

from cleanroom.airlock.inspect import mediatypes as mt
from cleanroom.airlock.inspect.previews import LAST, render_full_page, render_preview

ROWS = 1_000_000
RUNS = 7
URL = "/services/airlock/requests/r-bench/full/1"


def write_csv(path: Path) -> Path:
    with path.open("w") as f:
        f.write("id,plant_group,yield\n")
        f.writelines(f"{i},g{i % 7},{i % 1000 / 10}\n" for i in range(1, ROWS + 1))
    return path


def timed(what: Callable[[], object]) -> float:
    what()  # warm-up: imports, the page cache
    times = []
    for _ in range(RUNS):
        start = time.perf_counter()
        what()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def direct(path: Path) -> None:
    con = duckdb.connect()
    try:
        rows = con.execute("SELECT * FROM read_csv(?) LIMIT 200", [str(path)]).fetchall()
    finally:
        con.close()
    assert len(rows) == 200


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        path = write_csv(Path(tmp) / "big.csv")
        print(f"{ROWS:,}-row CSV, {path.stat().st_size:,} bytes; median of {RUNS} runs")

        def preview() -> None:
            html = render_preview(path, mt.CSV, "big.csv", full_url=URL)
            assert f"{ROWS:,} rows" in html and URL in html

        def first_page() -> None:
            assert render_full_page(path, mt.CSV, "big.csv", 1, url=URL).has_next

        def last_page() -> None:
            page = render_full_page(path, mt.CSV, "big.csv", LAST, url=URL)
            assert page.pages == ROWS // 200 and f"<td>{ROWS}</td>" in page.html

        direct_s = timed(lambda: direct(path))
        review_s = timed(preview)
        first_s = timed(first_page)
        last_s = timed(last_page)
    ratio = review_s / direct_s
    print(f"direct DuckDB LIMIT 200:          {direct_s:.3f} s")
    print(f"review page preview:              {review_s:.3f} s  (ratio {ratio:.2f}, goal <= 1.5)")
    print(f"full view, first page:            {first_s:.3f} s  (ratio {first_s / direct_s:.2f})")
    print(f"full view, last page (row {ROWS:,}): {last_s:.3f} s")
    print(
        f"RESULT csv_review_ratio={ratio:.3f} csv_last_page_s={last_s:.3f} direct_s={direct_s:.3f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
