"""Uploading a dataset file through the admin pages, in-process (as test_web.py): the
chunked JSON API, resuming, every refusal (nothing in the import directory, nothing in the
catalog), the admin scope and XSRF, the audit records, and the cleaning of abandoned uploads.
"""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

import pytest
import requests
from fixtures.catalog import PLANTS, dump
from support.webpages import PREFIX, serving

from cleanroom.catalog.uploads import STAGING, UploadStore, content_format, safe_filename
from cleanroom.catalog.web.base import CONTENT_SECURITY_POLICY
from cleanroom.catalog.web.forms import list_import_files

MAX_BYTES = 1024 * 1024
MAPPING = "\n".join(f"{value}={org}" for value, org in PLANTS.items())


def csv_bytes(rows: int = 2000, plants=tuple(PLANTS)) -> bytes:
    lines = ["lot,plant,yield_pct"]
    lines += [f"{i},{plants[i % len(plants)]},{70 + i % 30}.5" for i in range(rows)]
    return ("\n".join(lines) + "\n").encode()


class Uploads:
    def __init__(self, url: str, import_dir: Path, catalog):
        self.url = url
        self.import_dir = import_dir
        self.catalog = catalog

    def session(self, user: str | None = "adam") -> requests.Session:
        session = requests.Session()
        session.trust_env = False
        if user:
            session.cookies.set("test-user", user)
            session.get(self.url + "datasets/upload-file", timeout=10, allow_redirects=False)
        return session

    def headers(self, session) -> dict[str, str]:
        return {"X-XSRFToken": session.cookies.get("_xsrf") or ""}

    def start(self, session, data: bytes, **overrides) -> requests.Response:
        body = {
            "filename": "lots.csv",
            "size": len(data),
            "sha256": hashlib.sha256(data).hexdigest(),
            "contributor_column": "plant",
            "mapping": MAPPING,
            **overrides,
        }
        return session.post(
            self.url + "uploads", json=body, headers=self.headers(session), timeout=10
        )

    def put(self, session, upload_id: str, offset: int, chunk: bytes) -> requests.Response:
        return session.put(
            f"{self.url}uploads/{upload_id}",
            params={"offset": offset},
            data=chunk,
            headers=self.headers(session),
            timeout=10,
        )

    def status(self, session, upload_id: str) -> dict:
        return session.get(f"{self.url}uploads/{upload_id}", timeout=10).json()

    def check(self, session, upload_id: str) -> dict:
        response = session.post(
            f"{self.url}uploads/{upload_id}/check", headers=self.headers(session), timeout=10
        )
        assert response.status_code == 202, response.text
        deadline = time.monotonic() + 30
        while True:
            state = self.status(session, upload_id)
            if state["state"] in ("done", "refused"):
                return state
            assert time.monotonic() < deadline, "the check did not end"
            time.sleep(0.1)

    def send(self, session, data: bytes, chunk: int = 7000, **overrides) -> dict:
        started = self.start(session, data, **overrides)
        assert started.status_code == 201, started.text
        upload_id = started.json()["id"]
        for offset in range(0, len(data), chunk):
            answer = self.put(session, upload_id, offset, data[offset : offset + chunk])
            assert answer.status_code == 200, answer.text
        return self.check(session, upload_id)

    def events(self) -> list[tuple[str, str | None]]:
        return [
            (r.event, r.actor)
            for r in self.catalog.audit.records()
            if r.event.startswith("catalog.upload.")
        ]

    def visible(self) -> list[str]:
        return list_import_files(self.import_dir)

    def staged_bytes(self) -> list[str]:
        staging = self.import_dir / STAGING
        return sorted(p.name for p in staging.glob("*.part")) if staging.is_dir() else []


@pytest.fixture
def uploads(seeded, tmp_path) -> Uploads:
    import_dir = tmp_path / "import"
    import_dir.mkdir()
    with serving(
        seeded,
        state_dir=str(tmp_path / "state"),
        import_dir=str(import_dir),
        upload_max_bytes=MAX_BYTES,
    ) as url:
        yield Uploads(url, import_dir, seeded)


def test_chunked_upload_lands_checked_in_the_import_dir_and_registers(uploads):
    session = uploads.session()
    data = csv_bytes()
    before = dump(uploads.catalog)
    state = uploads.send(session, data)
    assert state["state"] == "done", state
    assert state["file"] == "lots.csv"
    assert (uploads.import_dir / "lots.csv").read_bytes() == data
    assert uploads.visible() == ["lots.csv"]
    assert uploads.staged_bytes() == []
    assert dump(uploads.catalog) == before  # uploaded, not registered
    assert uploads.events() == [
        ("catalog.upload.start", "adam"),
        ("catalog.upload.complete", "adam"),
    ]
    # The same name again: placed beside, never over the first.
    assert uploads.send(session, data)["file"] == "lots-2.csv"
    # The register form takes it like any file of the import directory.
    response = session.post(
        uploads.url + "datasets/new-dataset",
        timeout=30,
        data={
            "_xsrf": session.cookies.get("_xsrf"),
            "name": "lots",
            "file": "lots.csv",
            "contributor_column": "plant",
            "mapping": MAPPING,
        },
    )
    assert response.status_code == 200, response.text[:500]
    deadline = time.monotonic() + 30
    while not any(d.name == "lots" for d in uploads.catalog.list_datasets()):
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert uploads.catalog.get_version("lots").content_sha256 == hashlib.sha256(data).hexdigest()


def test_parquet_is_told_by_its_content(uploads, sources):
    session = uploads.session()
    data = sources.wafers.read_bytes()
    assert uploads.send(session, data, filename="w.parquet")["state"] == "done"
    refused = uploads.send(session, data, filename="w.csv")
    assert (
        refused["state"] == "refused"
        and "is named .csv but its content is Parquet" in (refused["message"])
    )
    garbage = b"PAR1" + os.urandom(3000) + b"PAR1"
    refused = uploads.send(session, garbage, filename="g.parquet")
    assert (
        refused["state"] == "refused" and "cannot read g.parquet as Parquet" in (refused["message"])
    )
    assert uploads.visible() == ["w.parquet"]


def test_a_dropped_chunk_resumes_from_the_servers_offset(uploads):
    session = uploads.session()
    data = csv_bytes()
    upload_id = uploads.start(session, data).json()["id"]
    assert uploads.put(session, upload_id, 0, data[:10000]).json()["offset"] == 10000
    # The next chunk "dropped": the page asks where the server is and resends from there.
    assert uploads.status(session, upload_id)["offset"] == 10000
    # A chunk at the wrong offset is refused with the server's offset.
    wrong = uploads.put(session, upload_id, 20000, data[20000:30000])
    assert wrong.status_code == 409 and wrong.json()["offset"] == 10000
    # Checking before every byte is there is refused too.
    early = session.post(
        f"{uploads.url}uploads/{upload_id}/check", headers=uploads.headers(session), timeout=10
    )
    assert early.status_code == 409 and early.json()["offset"] == 10000
    assert uploads.visible() == []
    assert uploads.put(session, upload_id, 10000, data[10000:]).json()["offset"] == len(data)
    beyond = uploads.put(session, upload_id, len(data), b"x")
    assert beyond.status_code == 400 and "declared" in beyond.json()["error"]
    assert uploads.check(session, upload_id)["state"] == "done"
    assert (uploads.import_dir / "lots.csv").read_bytes() == data


REFUSALS = {
    "wrong sha256": (dict(sha256="0" * 64), "do not have the SHA-256 declared"),
    "missing contributor column": (dict(contributor_column="yard"), "has no column 'yard'"),
    "unmapped contributor": (dict(mapping="acme-fab1=acme"), "have no organisation"),
    "unknown organisation": (
        dict(mapping=MAPPING.replace("=cora", "=nowhere")),
        "organisation(s) the catalog does not have",
    ),
    "not a csv": (dict(filename="bad.csv", data=b"\xff\xfe\x00binary"), "is not UTF-8"),
    "ragged csv": (
        dict(data=b"lot,plant\n1,acme-fab1\n2,acme-fab1,extra\n"),
        "line 3 has 3 fields",
    ),
}


@pytest.mark.parametrize("case", REFUSALS)
def test_a_bad_file_is_refused_after_upload_and_nothing_appears(uploads, case):
    overrides, message = REFUSALS[case]
    overrides = dict(overrides)
    data = overrides.pop("data", csv_bytes())
    session = uploads.session()
    before = dump(uploads.catalog)
    state = uploads.send(session, data, **overrides)
    assert state["state"] == "refused"
    assert message in state["message"], state["message"]
    assert STAGING not in state["message"]  # named as the admin knows it
    assert [p.name for p in uploads.import_dir.iterdir()] == [STAGING]
    assert uploads.staged_bytes() == []
    assert dump(uploads.catalog) == before
    assert uploads.events() == [("catalog.upload.start", "adam"), ("catalog.upload.refuse", "adam")]
    refused = [r for r in uploads.catalog.audit.records() if r.event == "catalog.upload.refuse"]
    assert message.split("'")[0] in refused[0].details["reason"]


@pytest.mark.parametrize(
    ("overrides", "status", "message"),
    [
        ({"size": MAX_BYTES + 1}, 413, "more than the 1,048,576 bytes"),
        ({"filename": "lots.xlsx"}, 400, "is not a .csv or .parquet file"),
        ({"sha256": "abc"}, 400, "SHA-256 (64 hex digits)"),
        ({"size": 0}, 400, "is empty"),
        ({"contributor_column": ""}, 400, "name the contributor column"),
        ({"mapping": "no equals sign"}, 400, "is not VALUE=ORGANISATION"),
    ],
)
def test_a_bad_start_is_refused_before_any_byte(uploads, overrides, status, message):
    session = uploads.session()
    response = uploads.start(session, csv_bytes(), **overrides)
    assert response.status_code == status, response.text
    assert message in response.json()["error"]
    assert uploads.staged_bytes() == [] and uploads.visible() == []


def test_a_file_past_the_cap_is_refused_and_audited(uploads):
    session = uploads.session()
    data = csv_bytes(60000)
    assert len(data) > MAX_BYTES
    response = uploads.start(session, data)
    assert response.status_code == 413
    assert uploads.events() == [("catalog.upload.refuse", "adam")]


@pytest.mark.parametrize("user", ["hubadmin", "rita", None])
def test_without_the_admin_scope_nothing_is_accepted(uploads, user):
    admin = uploads.session()
    data = csv_bytes()
    upload_id = uploads.start(admin, data).json()["id"]
    session = uploads.session(user)
    if user:
        page = session.get(uploads.url + "datasets/upload-file", timeout=10)
        assert page.status_code == 403 and "<script" not in page.text
    token = {"X-XSRFToken": session.cookies.get("_xsrf") or ""}
    calls = [
        session.post(
            uploads.url + "uploads", json={"filename": "x.csv"}, headers=token, timeout=10
        ),
        session.get(f"{uploads.url}uploads/{upload_id}", timeout=10, allow_redirects=False),
        session.put(
            f"{uploads.url}uploads/{upload_id}",
            params={"offset": 0},
            data=data,
            headers=token,
            timeout=10,
        ),
        session.post(f"{uploads.url}uploads/{upload_id}/check", headers=token, timeout=10),
    ]
    for response in calls:
        assert response.status_code in ((302, 403) if user is None else (403,)), response.text
    assert uploads.status(admin, upload_id)["offset"] == 0
    assert uploads.visible() == []


def test_another_admin_cannot_touch_my_upload(uploads, monkeypatch):
    from support import webpages

    monkeypatch.setitem(webpages.USERS, "ada", webpages.USERS["adam"])
    data = csv_bytes()
    upload_id = uploads.start(uploads.session(), data).json()["id"]
    other = uploads.session("ada")
    answer = uploads.put(other, upload_id, 0, data)
    assert answer.status_code == 403 and "started by adam" in answer.json()["error"]


def test_without_the_xsrf_token_nothing_is_accepted(uploads):
    session = uploads.session()
    data = csv_bytes()
    upload_id = uploads.start(session, data).json()["id"]
    for headers in ({}, {"X-XSRFToken": "2|forged|x|y"}):
        calls = [
            session.post(
                uploads.url + "uploads",
                json={"filename": "x.csv", "size": 1},
                headers=headers,
                timeout=10,
            ),
            session.put(
                f"{uploads.url}uploads/{upload_id}",
                params={"offset": 0},
                data=data,
                headers=headers,
                timeout=10,
            ),
            session.post(f"{uploads.url}uploads/{upload_id}/check", headers=headers, timeout=10),
        ]
        for response in calls:
            assert response.status_code == 403, response.text
            assert "_xsrf" in response.json()["error"] or "XSRF" in response.json()["error"]
    assert uploads.status(session, upload_id)["offset"] == 0
    assert uploads.visible() == []


def test_the_upload_page_alone_allows_its_own_script(uploads):
    session = uploads.session()
    page = session.get(uploads.url + "datasets/upload-file", timeout=10)
    assert page.status_code == 200
    policy = page.headers["Content-Security-Policy"]
    assert policy == CONTENT_SECURITY_POLICY + "; script-src 'self'; connect-src 'self'"
    assert "unsafe" not in policy
    assert f'<script src="{PREFIX}static/upload.js"></script>' in page.text
    assert page.text.lower().count("<script") == 1
    script = session.get(uploads.url + "static/upload.js", timeout=10)
    assert script.status_code == 200 and "X-XSRFToken" in script.text
    assert "eval(" not in script.text and "innerHTML" not in script.text
    for other in ("datasets", "datasets/new-dataset"):
        response = session.get(uploads.url + other, timeout=10)
        assert response.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
        assert "<script" not in response.text.lower()
        assert "datasets/upload-file" in response.text


def test_abandoned_uploads_are_cleaned_after_a_day(tmp_path):
    now = [1_000_000.0]
    store = UploadStore(tmp_path, max_bytes=MAX_BYTES, clock=lambda: now[0])
    old = store.start("a.csv", 10, "0" * 64, actor="adam", check={})
    os.utime(store._part(old.id), (now[0], now[0]))
    os.utime(store._meta(old.id), (now[0], now[0]))
    now[0] += 23 * 3600
    fresh = store.start("b.csv", 10, "0" * 64, actor="adam", check={})
    os.utime(store._part(fresh.id), (now[0], now[0]))
    os.utime(store._meta(fresh.id), (now[0], now[0]))
    assert store.clean() == []
    now[0] += 2 * 3600
    assert sorted(store.clean()) == sorted([f"{old.id}.part", f"{old.id}.json"])
    assert store._part(fresh.id).exists()


def test_file_names_and_types():
    assert safe_filename("C:\\data\\Wafer Lots 2024.CSV") == "Wafer_Lots_2024.csv"
    assert safe_filename("../../etc/x.parquet") == "x.parquet"
    assert safe_filename(".hidden.csv") == "hidden.csv"
    with pytest.raises(Exception, match="not a .csv or .parquet"):
        safe_filename("x.csv.exe")


def test_content_format(tmp_path, sources):
    assert content_format(sources.wafers) == "parquet"
    path = tmp_path / "x.csv"
    path.write_bytes(b"PAR1 but not at the end")
    assert content_format(path) == "csv"


def test_a_check_cut_short_by_a_restart_is_made_again(uploads):
    session = uploads.session()
    data = csv_bytes()
    upload_id = uploads.start(session, data).json()["id"]
    uploads.put(session, upload_id, 0, data)
    store = UploadStore(uploads.import_dir, max_bytes=MAX_BYTES)
    store.begin_check(upload_id, actor="adam")  # then the process stopped
    assert uploads.status(session, upload_id)["state"] == "checking"
    assert store.recover() == [upload_id]
    assert uploads.status(session, upload_id)["state"] == "receiving"
    assert uploads.check(session, upload_id)["state"] == "done"
