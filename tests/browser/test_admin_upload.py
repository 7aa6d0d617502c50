"""An admin uploads a dataset file from the browser (the admin pages' upload page, in Chromium,
through nginx and the hub's proxy like any admin) and registers it:

- a ~200 MB CSV with rows from a dozen companies: the progress bar moves, the file is checked
  and registered, and the dataset is in the catalog with the file's SHA-256;
- a dropped upload (every chunk after the second fails, as if the connection went): the page
  says where it stopped, nothing is registered and nothing is in the import directory (the
  part waits in the hidden staging directory); pressing Upload again resumes from the
  server's offset and completes.

The time the 200 MB upload took (hash, send, check) is printed.
"""

from __future__ import annotations

import hashlib
import re
import time
from pathlib import Path

import duckdb
import pytest
from playwright.sync_api import Page, expect
from support.browser import fill_login

from cleanroom.audit import AuditLog
from cleanroom.catalog.errors import AlreadyExists, UnknownDataset
from cleanroom.catalog.service import CatalogService
from cleanroom.catalog.uploads import CHUNK_BYTES, STAGING
from cleanroom.catalog.web.forms import list_import_files

pytestmark = [pytest.mark.browser, pytest.mark.docker]

ADMIN = "adam"
COMPANIES = [f"up-company-{n:02d}" for n in range(12)]
PLANTS = {f"UP-{n:02d}-{p}": company for n, company in enumerate(COMPANIES) for p in "AB"}
MAPPING = "\n".join(f"{plant}={company}" for plant, company in PLANTS.items())
LONG = 180_000  # ms: hashing, sending, checking and registering 200 MB


@pytest.fixture(scope="module")
def catalog(hub) -> CatalogService:
    catalog = CatalogService.open(
        hub.settings.catalog_database_url, AuditLog.from_state_dir(hub.settings.state_dir)
    )
    for company in COMPANIES:
        try:
            catalog.add_organisation(company, company.replace("-", " ").title(), actor=ADMIN)
        except AlreadyExists:
            pass
    return catalog


def write_csv(path: Path, rows: int) -> Path:
    plants = list(PLANTS)
    con = duckdb.connect()
    con.execute(
        f"""COPY (
            SELECT i AS lot,
                   list_extract({plants!r}, (i % {len(plants)}) + 1) AS plant,
                   round(70 + (i * 7 % 300) / 10.0, 1)::DOUBLE AS yield_pct,
                   'recipe-' || (i % 977) || '-step-' || (i % 13) || '-' || repeat('x', 40)
                       AS recipe
            FROM range({rows}) t(i)
        ) TO '{path}' (FORMAT csv, HEADER)"""
    )
    con.close()
    return path


@pytest.fixture(scope="module")
def big_csv(tmp_path_factory) -> Path:
    path = write_csv(tmp_path_factory.mktemp("upload") / "wafer lots 2024.csv", 2_500_000)
    assert 180e6 < path.stat().st_size < 240e6, path.stat().st_size
    return path


@pytest.fixture(scope="module")
def small_csv(tmp_path_factory) -> Path:
    path = write_csv(tmp_path_factory.mktemp("upload") / "press_runs.csv", 400_000)
    assert path.stat().st_size > 3 * CHUNK_BYTES
    return path


def sign_in(page: Page, hub) -> str:
    base = f"{hub.url}/services/catalog/"
    page.goto(base)
    page.wait_for_url(f"{hub.url}/hub/login**")
    fill_login(page, ADMIN, hub.passwords[ADMIN])
    page.wait_for_url(base, timeout=60_000)
    return base


def open_upload_page(page: Page, base: str, path: Path, dataset: str) -> None:
    page.goto(base + "datasets")
    page.get_by_role("link", name="Upload a dataset file").click()
    expect(page.locator("h1")).to_have_text("Upload a dataset file")
    page.set_input_files("#upload-input", str(path))
    page.fill("#ds-contributor", "plant")
    page.fill("#ds-mapping", MAPPING)
    page.fill("#ds-name", dataset)
    page.fill("#ds-description", "uploaded from the browser")


def progress(page: Page) -> float:
    return page.eval_on_selector("#upload-progress", "p => p.value / p.max")


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 22):
            digest.update(chunk)
    return digest.hexdigest()


def test_an_admin_uploads_a_200_mb_csv_and_registers_it(hub, page, catalog, big_csv):
    base = sign_in(page, hub)
    open_upload_page(page, base, big_csv, "uploaded_lots")
    started = time.monotonic()
    page.get_by_role("button", name="Upload", exact=True).click()

    # The bar moves: sampled until it is full, it only grows and takes several values.
    samples: list[float] = []
    deadline = time.monotonic() + 120
    while not samples or samples[-1] < 1.0:
        assert time.monotonic() < deadline, f"the upload did not finish: {samples[-5:]}"
        value = progress(page)
        if value > 0 and (not samples or value != samples[-1]):
            samples.append(value)
        page.wait_for_timeout(20)
    sent = time.monotonic() - started
    assert samples == sorted(samples), samples
    assert len(samples) >= 4, samples

    # Checked, then registered through the register form (its job's page says so).
    expect(page.locator(".notice")).to_contain_text(
        "Registered uploaded_lots v1: 2500000 rows", timeout=LONG
    )
    total = time.monotonic() - started
    print(
        f"200 MB upload: hashed and sent in {sent:.1f} s, checked and registered after "
        f"{total:.1f} s; {len(samples)} bar values"
    )
    version = catalog.get_version("uploaded_lots")
    assert version.content_sha256 == sha256(big_csv)
    assert version.created_by == ADMIN and version.row_count == 2_500_000
    assert set(version.organisations) == set(COMPANIES)
    assert Path(version.source_path).parent == hub.settings.import_path.resolve()
    assert Path(version.source_path).name == "wafer_lots_2024.csv"
    events = [r.event for r in catalog.audit.records() if r.actor == ADMIN]
    # The session's hub is shared: look only at what followed this upload's start.
    assert "catalog.upload.start" in events
    since = events[len(events) - 1 - events[::-1].index("catalog.upload.start") :]
    assert since.index("catalog.upload.complete") < since.index("catalog.dataset.register")


def test_a_dropped_upload_leaves_nothing_and_a_retry_completes(hub, page, catalog, small_csv):
    import_dir = hub.settings.import_path
    listed = list_import_files(import_dir)
    base = sign_in(page, hub)
    open_upload_page(page, base, small_csv, "pressed_runs")

    chunk_url = re.compile(r".*/services/catalog/uploads/[A-Za-z0-9_-]+\?offset=(\d+)$")
    offsets: list[int] = []

    def drop_after_two_chunks(route):
        offset = int(chunk_url.match(route.request.url).group(1))
        offsets.append(offset)
        if offset >= 2 * CHUNK_BYTES:
            route.abort("connectionreset")
        else:
            route.continue_()

    page.route(chunk_url, drop_after_two_chunks)
    page.get_by_role("button", name="Upload", exact=True).click()
    expect(page.locator("#upload-status")).to_contain_text("The upload stopped at", timeout=LONG)
    expect(page.locator("#upload-status")).to_contain_text("Press Upload again to resume")
    assert 0 < progress(page) < 1
    assert offsets.count(2 * CHUNK_BYTES) == 4  # the first try and three more

    # Nothing registered, nothing in the import directory; the part waits out of sight.
    with pytest.raises(UnknownDataset):
        catalog.get_dataset("pressed_runs")
    assert list_import_files(import_dir) == listed
    parts = list((import_dir / STAGING).glob("*.part"))
    assert [p.stat().st_size for p in parts] == [2 * CHUNK_BYTES]

    # Again, with the connection back: from the server's offset, to the end.
    page.unroute(chunk_url)
    offsets.clear()

    def count(route):
        offsets.append(int(chunk_url.match(route.request.url).group(1)))
        route.continue_()

    page.route(chunk_url, count)
    page.get_by_role("button", name="Upload", exact=True).click()
    expect(page.locator(".notice")).to_contain_text(
        "Registered pressed_runs v1: 400000 rows", timeout=LONG
    )
    assert offsets[0] == 2 * CHUNK_BYTES
    assert catalog.get_version("pressed_runs").content_sha256 == sha256(small_csv)
    assert list_import_files(import_dir) == sorted([*listed, "press_runs.csv"])
    assert list((import_dir / STAGING).glob("*.part")) == []
