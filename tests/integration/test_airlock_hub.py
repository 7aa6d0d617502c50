"""The airlock as the hub runs it: a managed service with its own hub token, OAuth for
browsers over TLS through nginx, a researcher's real server token, the real OPA, catalog and
audit log, and a real researcher container calling it over the gateway port.

Who is who (names of this module only): ``alma`` researcher of project ``alproj`` (org
al-uni); ``alvin`` (al-acme) and ``alba`` (al-bolt) reviewers of it; ``alec`` admin;
``alfie`` a researcher outside the project.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import socket
import threading
import time
from pathlib import Path
from urllib.parse import quote, urlsplit

import hypothesis
import pytest
import requests
import schemathesis

from cleanroom.airlock.web.handlers.api import OPENAPI_PATH
from cleanroom.audit import AuditLog
from cleanroom.catalog.service import CatalogService
from cleanroom.policy import PolicyClient, revision_of_dir

pytestmark = pytest.mark.docker

CSV = b"plant_group,mean_yield\nA,97.1\nB,95.4\n"


@pytest.fixture(scope="module")
def catalog(hub) -> CatalogService:
    return CatalogService.open(
        hub.settings.catalog_database_url, AuditLog.from_state_dir(hub.settings.state_dir)
    )


@pytest.fixture(scope="module")
def airlock(hub, catalog, docker_client):
    """The people, the project, alma's running server for it and its token."""
    for org, kind in (("al-uni", "other"), ("al-acme", "depositor"), ("al-bolt", "depositor")):
        catalog.add_organisation(org, org, kind, actor="alec")
    people = {
        "alma": (("researcher",), "al-uni"),
        "alvin": (("reviewer",), "al-acme"),
        "alba": (("reviewer",), "al-bolt"),
        "alec": (("admin",), "al-uni"),
        "alfie": (("researcher",), "al-uni"),
    }
    for name, (groups, org) in people.items():
        hub.add_user(name, groups)
        catalog.set_user_organisation(name, org, actor="alec")
    catalog.create_project("alproj", actor="alec")
    catalog.add_member("alproj", "alma", "researcher", actor="alec")
    catalog.add_member("alproj", "alvin", "reviewer", actor="alec")
    catalog.add_member("alproj", "alba", "reviewer", actor="alec")
    deadline = time.monotonic() + 60
    while True:
        try:
            answer = requests.get(
                hub.airlock_url + "api/openapi.json", verify=str(hub.certificate), timeout=10
            )
            if answer.status_code == 200:
                break
        except requests.RequestException:
            pass
        assert time.monotonic() < deadline, (
            f"the airlock does not answer through the proxy: {hub.hub_log_tail(60)}"
        )
        time.sleep(0.5)
    hub.start_server("alma", options={"project": "alproj"})
    # This deployment's release policy asks two reviewers for every request (the policy's
    # own setting, changed in the test hub's copy of the policies and reloaded by OPA).
    release = Path(hub.settings.policies_dir) / "release.rego"
    original = release.read_text()
    assert '"min_reviewers": 1,' in original
    tmp = release.with_name(".release.rego.tmp")
    tmp.write_text(original.replace('"min_reviewers": 1,', '"min_reviewers": 2,'))
    tmp.replace(release)
    with PolicyClient(hub.settings.policy_url) as policy:
        deadline = time.monotonic() + 30
        while policy.fetch_revision() != revision_of_dir(hub.settings.policies_dir):
            assert time.monotonic() < deadline, "OPA did not load the changed release policy"
            time.sleep(0.2)
    try:
        yield {"token": hub.server_token(docker_client, "alma")}
    finally:
        tmp.write_text(original)
        tmp.replace(release)
        hub.stop_server("alma")


def api(hub, token: str, method: str, path: str, **kwargs) -> requests.Response:
    """Call the airlock directly at the gateway, as a researcher's server does."""
    headers = {"Authorization": f"token {token}", **kwargs.pop("headers", {})}
    return requests.request(
        method, hub.airlock_direct_url + path, headers=headers, timeout=60, **kwargs
    )


def new_request(hub, token: str, files: dict[str, bytes], **body) -> str:
    created = api(
        hub,
        token,
        "POST",
        "api/requests",
        json={"justification": "yield by plant group, for the paper", **body},
    )
    assert created.status_code == 201, created.text
    rid = created.json()["id"]
    for name, data in files.items():
        put = api(
            hub, token, "PUT", f"api/requests/{rid}/files/{quote(name)}?type=table", data=data
        )
        assert put.status_code == 201, put.text
        assert put.json()["sha256"] == hashlib.sha256(data).hexdigest()
        assert put.json()["media_type"] == "text/csv"
    return rid


@pytest.fixture(autouse=True)
def no_open_requests_left(hub, airlock):
    """Each test leaves none of alma's requests open: a researcher may hold only so many
    drafts and open requests (``Limits``), and no test may depend on another's leftovers."""
    yield
    token = airlock["token"]
    listed = api(hub, token, "GET", "api/requests")
    for request in listed.json()["requests"] if listed.status_code == 200 else ():
        if request["state"] in ("draft", "submitted", "in_review", "returned"):
            api(hub, token, "POST", f"api/requests/{request['id']}/withdraw", json={})


def browser(hub, name: str) -> requests.Session:
    """``name`` signed in at the hub, then at the airlock's pages (the hub's OAuth)."""
    session = hub.login(name)
    page = session.get(hub.airlock_url, timeout=60)
    assert page.status_code == 200, page.text[:500]
    assert f"Signed in as <strong>{name}</strong>" in page.text
    return session


def as_admin(hub, rid: str) -> dict:
    """The request as an admin sees it: all of it. (The requester, outside the clean room,
    sees only what a review round that ended saw; these calls come from outside.)"""
    answer = browser(hub, "alec").get(f"{hub.airlock_url}api/requests/{rid}", timeout=60)
    assert answer.status_code == 200, answer.text[:300]
    return answer.json()


def raw_put(hub, token: str, rid: str, name: str, length: int) -> str:
    """A PUT that declares ``length`` bytes and sends none: the answer, read to its end."""
    url = urlsplit(hub.airlock_direct_url)
    with socket.create_connection((url.hostname, url.port), timeout=30) as s:
        s.sendall(
            f"PUT {url.path}api/requests/{rid}/files/{name}?type=table HTTP/1.1\r\n"
            f"Host: {url.netloc}\r\nAuthorization: token {token}\r\n"
            f"Content-Length: {length}\r\n\r\n".encode()
        )
        answer = b""
        while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
            try:
                chunk = s.recv(65536)
            except TimeoutError:
                break
            if not chunk:
                break
            answer += chunk
    return answer.decode(errors="replace")


def vote_form(session: requests.Session, page: str, decisions: dict[str, tuple[str, str]]):
    """The vote form of a request page as a browser sends it, with ``decisions`` filled in."""
    form = {"_xsrf": session.cookies.get("_xsrf", path="/services/airlock/")}
    names = re.findall(r'name="file_(\d+)" value="([^"]+)"', page)
    assert names, page[-3000:]
    for index, name in names:
        form[f"file_{index}"] = name  # the hidden fields a browser sends
        if name in decisions:
            form[f"decision_{index}"], form[f"comment_{index}"] = decisions[name]
    seen = re.search(r'name="seen_comments" value="(\d+)"', page)
    assert seen, "the vote form says how many comments it showed"
    form["seen_comments"] = seen.group(1)
    return form


def vote(hub, session: requests.Session, rid: str, decisions: dict[str, tuple[str, str]]):
    page = session.get(f"{hub.airlock_url}requests/{rid}", timeout=60)
    assert page.status_code == 200, page.text[:500]
    form = vote_form(session, page.text, decisions)
    return session.post(f"{hub.airlock_url}requests/{rid}/vote", data=form, timeout=60)


def test_the_service_refuses_callers_without_a_hub_identity(hub, airlock):
    answer = requests.get(hub.airlock_direct_url + "api/requests", timeout=30)
    assert answer.status_code == 401 and "sign in" in answer.json()["error"]
    bogus = api(hub, "not-a-token", "GET", "api/requests")
    assert bogus.status_code == 401
    unknown = api(hub, airlock["token"], "GET", "api/requests/r-0000000000000000")
    assert unknown.status_code == 404 and "error" in unknown.json()


def test_the_project_and_requester_come_from_the_hub_never_the_body(hub, airlock):
    created = api(
        hub,
        airlock["token"],
        "POST",
        "api/requests",
        json={"justification": "x", "project": "someone-elses", "requester": "alvin"},
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["project"] == "alproj" and body["requester"] == "alma"
    assert body["state"] == "draft"


def test_bad_input_is_a_4xx_with_a_message(hub, airlock):
    token = airlock["token"]
    rid = new_request(hub, token, {"ok.csv": CSV})
    assert api(hub, token, "POST", "api/requests", data=b"{not json").status_code == 400
    assert api(hub, token, "POST", "api/requests", json=[1]).status_code == 400
    assert api(hub, token, "POST", "api/requests", json={"justification": ""}).status_code == 400
    for name in ("..", "a%2Fb", "x%00y", "tab%09name", "%2Fetc%2Fpasswd"):
        answer = api(hub, token, "PUT", f"api/requests/{rid}/files/{name}?type=table", data=b"1")
        assert 400 <= answer.status_code < 500, (name, answer.status_code, answer.text)
    bad_type = api(hub, token, "PUT", f"api/requests/{rid}/files/x.csv?type=secret", data=b"1")
    assert bad_type.status_code == 400 and "type" in bad_type.json()["error"]
    votes = api(hub, token, "POST", f"api/requests/{rid}/votes", json={"votes": "no"})
    assert votes.status_code == 400


def test_an_upload_over_the_limit_is_413_before_any_byte_is_stored(hub, airlock):
    token = airlock["token"]
    rid = new_request(hub, token, {})
    blobs = hub.settings.airlock_path / "blobs"
    before = sorted(p.name for p in blobs.iterdir())
    url = urlsplit(hub.airlock_direct_url)
    with socket.create_connection((url.hostname, url.port), timeout=30) as s:
        s.sendall(
            f"PUT {url.path}api/requests/{rid}/files/big.csv?type=table HTTP/1.1\r\n"
            f"Host: {url.netloc}\r\nAuthorization: token {token}\r\n"
            f"Content-Length: {hub.settings.airlock_max_file_bytes + 1}\r\n\r\n".encode()
        )
        answer = s.recv(65536).decode(errors="replace")
    assert answer.startswith("HTTP/1.1 413"), answer[:300]
    assert "at most" in answer
    assert sorted(p.name for p in blobs.iterdir()) == before


def test_an_upload_cut_off_half_way_leaves_nothing(hub, airlock):
    token = airlock["token"]
    rid = new_request(hub, token, {})
    blobs = hub.settings.airlock_path / "blobs"
    before = sorted(p.name for p in blobs.iterdir())
    url = urlsplit(hub.airlock_direct_url)
    with socket.create_connection((url.hostname, url.port), timeout=30) as s:
        s.sendall(
            f"PUT {url.path}api/requests/{rid}/files/cut.csv?type=table HTTP/1.1\r\n"
            f"Host: {url.netloc}\r\nAuthorization: token {token}\r\n"
            f"Content-Length: 10000000\r\n\r\n".encode()
            + b"a,b\n" * 100_000
        )
    deadline = time.monotonic() + 10
    while sorted(p.name for p in blobs.iterdir()) != before:
        assert time.monotonic() < deadline, "a temporary upload file stayed behind"
        time.sleep(0.2)
    assert as_admin(hub, rid)["files"] == []


def test_return_resubmit_two_reviewers_and_a_download_of_exactly_the_reviewed_bytes(hub, airlock):
    token = airlock["token"]
    rid = new_request(hub, token, {"yield.csv": CSV, "counts.csv": b"group,n\nA,12\nB,3\n"})
    submitted = api(hub, token, "POST", f"api/requests/{rid}/submit", json={})
    assert submitted.status_code == 200, submitted.text
    assert submitted.json()["state"] == "in_review"
    assert submitted.json()["reviewers_required"] == 2
    alvin, alba = browser(hub, "alvin"), browser(hub, "alba")
    queue = alvin.get(f"{hub.airlock_url}review", timeout=60)
    assert rid in queue.text
    assert "script-src" not in queue.headers["Content-Security-Policy"]
    returned = vote(
        hub,
        alvin,
        rid,
        {"yield.csv": ("approve", "fine"), "counts.csv": ("changes", "B has 3 lots: merge it")},
    )
    assert returned.status_code == 200 and "returned" in returned.text, returned.text[-1500:]
    # The researcher fixes the file from her server and resubmits.
    fixed = b"group,n\nA+B,15\n"
    put = api(hub, token, "PUT", f"api/requests/{rid}/files/counts.csv?type=table", data=fixed)
    assert put.status_code == 201 and put.json()["version"] == 2
    again = api(hub, token, "POST", f"api/requests/{rid}/submit", json={})
    assert again.json()["state"] == "in_review", again.text
    assert again.json()["round"] == 2
    vote(hub, alvin, rid, {"counts.csv": ("approve", "ok now")})
    done = vote(hub, alba, rid, {"yield.csv": ("approve", "ok"), "counts.csv": ("approve", "ok")})
    assert done.status_code == 200
    model = api(hub, token, "GET", f"api/requests/{rid}").json()
    assert model["state"] == "approved", model
    # The requester may not download it from her reviewer's account, nor see previews.
    download = f"{hub.airlock_url}requests/{rid}/files/counts.csv/download"
    assert alvin.get(download, timeout=60).status_code == 403
    alma = browser(hub, "alma")
    page = alma.get(f"{hub.airlock_url}requests/{rid}", timeout=60)
    assert "Download" in page.text and "preview-1" not in page.text
    got = alma.get(download, timeout=60)
    assert got.status_code == 200, got.text[:300]
    assert got.content == fixed
    assert hashlib.sha256(got.content).hexdigest() == model["files"][0]["sha256"] or any(
        f["sha256"] == hashlib.sha256(got.content).hexdigest() for f in model["files"]
    )
    assert got.headers["Content-Disposition"].startswith("attachment")
    assert api(hub, token, "GET", f"api/requests/{rid}").json()["state"] == "released"
    audit = AuditLog.from_state_dir(hub.settings.state_dir)
    steps = [
        (r.details["source"], r.details["target"])
        for r in audit.records()
        if r.event == "airlock.request.state" and r.details.get("request") == rid
    ]
    assert steps == [
        ("draft", "submitted"),
        ("submitted", "in_review"),
        ("in_review", "returned"),
        ("returned", "submitted"),
        ("submitted", "in_review"),
        ("in_review", "approved"),
        ("approved", "released"),
    ]
    assert audit.verify().ok
    admin = browser(hub, "alec")
    log_page = admin.get(f"{hub.airlock_url}admin/audit", timeout=60)
    assert 'id="verification"' in log_page.text and "Verified" in log_page.text
    assert alma.get(f"{hub.airlock_url}admin/audit", timeout=60).status_code == 403


def test_a_researcher_outside_the_project_and_a_reviewer_see_nothing_of_others(hub, airlock):
    rid = new_request(hub, airlock["token"], {"a.csv": CSV})
    alfie = browser(hub, "alfie")
    assert alfie.get(f"{hub.airlock_url}requests/{rid}", timeout=60).status_code == 403
    alvin = browser(hub, "alvin")
    # A draft is not for reviewers yet.
    assert alvin.get(f"{hub.airlock_url}requests/{rid}", timeout=60).status_code == 403


def test_inside_the_container_the_server_token_submits_but_never_downloads(
    hub, airlock, docker_client
):
    """The lab container holds the server's token (the kernels hold none and have no network:
    test_kernel_split.py); with it, from inside, a request is made but nothing downloads."""
    token = airlock["token"]
    rid = new_request(hub, token, {"inside.csv": CSV})
    api(hub, token, "POST", f"api/requests/{rid}/submit", json={})
    for reviewer in ("alvin", "alba"):
        vote(hub, browser(hub, reviewer), rid, {"inside.csv": ("approve", "fine")})
    assert api(hub, token, "GET", f"api/requests/{rid}").json()["state"] == "approved"
    code = f"""
import json, os, urllib.request, urllib.error
base = os.environ["CLEANROOM_AIRLOCK_URL"]
headers = {{"Authorization": "token " + os.environ["JUPYTERHUB_API_TOKEN"]}}
def call(method, path, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(base + path, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()
status, body = call("POST", "api/requests", {{"justification": "from inside", "project": "x"}})
created = json.loads(body)
status_put, _ = call("PUT", "api/requests/" + created["id"] + "/files/t.csv?type=table")
status_dl, dl = call("GET", "api/requests/{rid}/files/inside.csv/download")
status_page, page = call("GET", "requests/{rid}/files/inside.csv/download")
print(json.dumps({{"base": base, "created": status, "project": created.get("project"),
                  "download": status_dl, "page": status_page, "body": dl.decode()[:300]}}))
"""
    exit_code, out = hub.container(docker_client, "alma").exec_run(["python3", "-c", code])
    assert exit_code == 0, out.decode()
    result = json.loads(out.decode().strip().splitlines()[-1])
    assert result["base"] == hub.airlock_direct_url
    assert result["created"] == 201 and result["project"] == "alproj"
    assert result["download"] == 403 and result["page"] == 403
    assert "inside the clean room" in result["body"]
    audit = AuditLog.from_state_dir(hub.settings.state_dir)
    assert not [
        r
        for r in audit.records()
        if r.event == "airlock.release.download" and r.details.get("request") == rid
    ]


# -- text bounded and reviewed; caps; storage quotas (issue 13) -----------------------------


def test_a_comment_on_a_draft_and_a_crafted_file_field_are_refused(hub, airlock):
    token = airlock["token"]
    rid = new_request(hub, token, {"c.csv": CSV})
    comments = f"api/requests/{rid}/comments"
    # A draft: no reviewer would ever read it, so no comment.
    on_draft = api(hub, token, "POST", comments, json={"text": "plant 4 made 97.1393"})
    assert on_draft.status_code == 409, on_draft.text
    assert "only while a request is in review" in on_draft.json()["error"]
    submitted = api(hub, token, "POST", f"api/requests/{rid}/submit", json={})
    assert submitted.json()["state"] == "in_review", submitted.text
    # The file field names one of the request's files, nothing else.
    for crafted in ("plant 4 made 97.1393", "../c.csv", "c.csv\x00x", "C.CSV"):
        answer = api(hub, token, "POST", comments, json={"text": "see", "file": crafted})
        assert answer.status_code == 400, (crafted, answer.text)
        assert "has no file" in answer.json()["error"] and "c.csv" in answer.json()["error"]
    alvin = browser(hub, "alvin")
    stale = alvin.get(f"{hub.airlock_url}requests/{rid}", timeout=60).text
    ok = api(hub, token, "POST", comments, json={"text": "rounded to 1 decimal", "file": "c.csv"})
    assert ok.status_code == 201, ok.text
    # A vote from a page opened before the comment is refused: the review covers it.
    form = vote_form(alvin, stale, {"c.csv": ("approve", "fine")})
    refused = alvin.post(f"{hub.airlock_url}requests/{rid}/vote", data=form, timeout=60)
    assert refused.status_code == 409 and "since you opened it" in refused.text
    # Outside the clean room she does not see it back until the review round ends.
    assert ok.json()["comments"] == [] and ok.json()["withheld"] is True
    seen = as_admin(hub, rid)["comments"]
    assert [(c["by"], c["file"], c["text"]) for c in seen] == [
        ("alma", "c.csv", "rounded to 1 decimal")
    ]
    # The reviewers read it where they decide.
    page = alvin.get(f"{hub.airlock_url}requests/{rid}", timeout=60)
    assert "rounded to 1 decimal" in page.text and "(requester)" in page.text
    assert not any(f["votes"] for f in as_admin(hub, rid)["files"])


def test_the_text_and_request_caps_hold_with_clear_messages(hub, airlock):
    token = airlock["token"]
    title = api(hub, token, "POST", "api/requests", json={"justification": "j", "title": "t" * 121})
    assert title.status_code == 400 and "the title is at most 120 characters" in title.text
    why = api(hub, token, "POST", "api/requests", json={"justification": "j" * 4001})
    assert why.status_code == 400
    assert "the justification is at most 4000 characters" in why.json()["error"]
    # Comments by the requester: at most 10 on one request.
    rid = new_request(hub, token, {"n.csv": CSV})
    api(hub, token, "POST", f"api/requests/{rid}/submit", json={})
    for n in range(10):
        said = api(hub, token, "POST", f"api/requests/{rid}/comments", json={"text": f"note {n}"})
        assert said.status_code == 201, said.text
    over = api(hub, token, "POST", f"api/requests/{rid}/comments", json={"text": "note 10"})
    assert over.status_code == 409 and "10 comments on request" in over.json()["error"]
    assert len(as_admin(hub, rid)["comments"]) == 10
    # Drafts: at most 5 at once.
    for _ in range(5):
        new_request(hub, token, {})
    sixth = api(hub, token, "POST", "api/requests", json={"justification": "one more"})
    assert sixth.status_code == 409, sixth.text
    assert "5 draft requests" in sixth.json()["error"] and "withdraw" in sixth.json()["error"]


def test_a_quota_refusal_comes_before_any_byte_is_stored(hub, airlock):
    token = airlock["token"]
    quota = hub.settings.airlock_researcher_quota_bytes
    assert quota < hub.settings.airlock_max_file_bytes  # the test hub's quota binds first
    rid = new_request(hub, token, {"small.csv": CSV})
    blobs = hub.settings.airlock_path / "blobs"
    before = sorted(p.name for p in blobs.iterdir())
    answer = raw_put(hub, token, rid, "big.csv", quota + 1)
    assert answer.startswith("HTTP/1.1 413"), answer[:300]
    assert f"your storage quota is {quota} bytes" in answer and "nothing was stored" in answer
    assert sorted(p.name for p in blobs.iterdir()) == before
    assert [f["name"] for f in as_admin(hub, rid)["files"]] == ["small.csv"]


def test_outside_the_clean_room_the_requester_sees_only_what_reviewers_saw(
    hub, airlock, docker_client
):
    token = airlock["token"]
    title, why = "Plant 4 made 97.1393", "plant 7 made 93.0412"
    rid = new_request(hub, token, {"p4-97.1393.csv": CSV}, title=title, justification=why)
    alma = browser(hub, "alma")
    page = alma.get(f"{hub.airlock_url}requests/{rid}", timeout=60)
    assert page.status_code == 200 and 'id="withheld"' in page.text
    home = alma.get(hub.airlock_url, timeout=60).text
    for secret in ("97.1393", "93.0412"):
        assert secret not in page.text and secret not in home
    outside = api(hub, token, "GET", f"api/requests/{rid}").json()  # the gateway: outside
    assert (outside["title"], outside["justification"], outside["files"]) == ("", "", [])
    # From her server, inside the clean room, all of it (it was written there).
    code = f"""
import json, os, urllib.request
req = urllib.request.Request(
    os.environ["CLEANROOM_AIRLOCK_URL"] + "api/requests/{rid}",
    headers={{"Authorization": "token " + os.environ["JUPYTERHUB_API_TOKEN"]}},
)
with urllib.request.urlopen(req, timeout=30) as r:
    model = json.loads(r.read())
print(json.dumps([model["title"], model["justification"], [f["name"] for f in model["files"]]]))
"""
    exit_code, out = hub.container(docker_client, "alma").exec_run(["python3", "-c", code])
    assert exit_code == 0, out.decode()
    assert json.loads(out.decode().strip().splitlines()[-1]) == [title, why, ["p4-97.1393.csv"]]
    # The reviewers see her text where they decide; once they have, so does she, outside.
    api(hub, token, "POST", f"api/requests/{rid}/submit", json={})
    alvin = browser(hub, "alvin")
    review = alvin.get(f"{hub.airlock_url}requests/{rid}", timeout=60).text
    assert title in review and why in review
    vote(hub, alvin, rid, {"p4-97.1393.csv": ("approve", "fine")})
    vote(hub, browser(hub, "alba"), rid, {"p4-97.1393.csv": ("approve", "fine")})
    page = alma.get(f"{hub.airlock_url}requests/{rid}", timeout=60)
    assert title in page.text and why in page.text and 'id="withheld"' not in page.text
    assert api(hub, token, "GET", f"api/requests/{rid}").json()["title"] == title


# The document kept in the repository; the next test checks the service serves the same.
schema = schemathesis.openapi.from_path(OPENAPI_PATH)


def test_the_service_serves_the_openapi_document_kept_in_the_repository(hub, airlock):
    served = requests.get(hub.airlock_direct_url + "api/openapi.json", timeout=30).json()
    kept = json.loads(OPENAPI_PATH.read_text())
    assert served.pop("servers") == [{"url": "/services/airlock"}]
    assert served == kept


@schema.parametrize()
@hypothesis.settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=list(hypothesis.HealthCheck),
    phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],
)
def test_generated_requests_against_the_openapi_document_never_get_a_server_error(
    case, hub, airlock
):
    response = case.call(
        base_url=hub.airlock_direct_url.rstrip("/"),
        headers={"Authorization": f"token {airlock['token']}"},
        timeout=60,
    )
    assert response.status_code < 500, (case.method, case.formatted_path, response.text[:500])
    # Every refusal the airlock makes says why, as JSON. Two answers are not the airlock's:
    # to HEAD (no body, by HTTP's rules), and tornado's own 400 to a message it cannot parse
    # (schemathesis also sends a Content-Length that is not a number), before any handler.
    sent = response.request
    length = sent.headers.get("Content-Length", "0")
    unparsable = not str(length).strip().isdigit()
    if response.status_code >= 400 and sent.method != "HEAD" and not unparsable:
        assert "error" in response.json(), (sent.method, dict(sent.headers), response.text[:300])
    if unparsable:
        assert response.status_code == 400, response.status_code


def airlock_pid(hub) -> int:
    """The pid of this test hub's airlock (``python -m cleanroom.airlock`` with this hub's
    state directory in its environment): the one process this test may kill."""
    marker = f"CLEANROOM_STATE_DIR={hub.settings.state_dir}".encode()
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().split(b"\0")
            environ = (proc / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"cleanroom.airlock" in cmdline and marker in environ:
            return int(proc.name)
    raise AssertionError("this hub's airlock process is not running")


def test_the_airlock_killed_mid_upload_keeps_what_it_acknowledged_and_nothing_partial(hub, airlock):
    token = airlock["token"]
    rid = new_request(hub, token, {"kept.csv": CSV})
    kept = as_admin(hub, rid)["files"][0]
    blobs = hub.settings.airlock_path / "blobs"
    pid = airlock_pid(hub)
    sent = threading.Event()

    def body():
        for _ in range(400):  # up to 400 MiB, slowly: the airlock dies long before the end
            yield b"x" * (1024 * 1024)
            sent.set()
            time.sleep(0.02)

    def upload():
        try:
            api(hub, token, "PUT", f"api/requests/{rid}/files/cut.csv?type=table", data=body())
        except requests.RequestException:
            pass

    uploader = threading.Thread(target=upload)
    uploader.start()
    assert sent.wait(30)
    deadline = time.monotonic() + 30
    while not any(p.name.startswith(".upload-") for p in blobs.iterdir()):
        assert time.monotonic() < deadline, "the upload never reached the store"
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)
    uploader.join(60)
    # The hub restarts its managed service (it polls about every 30 s).
    deadline = time.monotonic() + 120
    while True:
        try:
            if api(hub, token, "GET", "api/openapi.json").status_code == 200:
                break
        except requests.RequestException:
            pass
        assert time.monotonic() < deadline, "the hub did not restart the airlock"
        time.sleep(1)
    assert airlock_pid(hub) != pid
    assert not [p for p in blobs.iterdir() if p.name.startswith(".upload-")]
    model = as_admin(hub, rid)
    assert [f["name"] for f in model["files"]] == ["kept.csv"]
    assert model["files"][0]["sha256"] == kept["sha256"]
    stored = (blobs / kept["sha256"]).read_bytes()
    assert hashlib.sha256(stored).hexdigest() == kept["sha256"] and stored == CSV
    assert AuditLog.from_state_dir(hub.settings.state_dir).verify().ok


def test_an_admin_sees_all_requests_and_revokes_a_release_on_the_pages(hub, airlock):
    token = airlock["token"]
    rid = new_request(hub, token, {"revoked.csv": CSV})
    api(hub, token, "POST", f"api/requests/{rid}/submit", json={})
    for reviewer in ("alvin", "alba"):
        vote(hub, browser(hub, reviewer), rid, {"revoked.csv": ("approve", "ok")})
    admin = browser(hub, "alec")
    listing = admin.get(f"{hub.airlock_url}admin?state=approved", timeout=60)
    assert listing.status_code == 200 and rid in listing.text
    page = admin.get(f"{hub.airlock_url}requests/{rid}", timeout=60)
    assert "Revoke the release" in page.text and 'id="preview-1"' in page.text
    xsrf = admin.cookies.get("_xsrf", path="/services/airlock/")
    no_reason = admin.post(
        f"{hub.airlock_url}requests/{rid}/revoke", data={"_xsrf": xsrf, "reason": ""}, timeout=60
    )
    assert no_reason.status_code == 400
    done = admin.post(
        f"{hub.airlock_url}requests/{rid}/revoke",
        data={"_xsrf": xsrf, "reason": "the data owner objected"},
        timeout=60,
    )
    assert done.status_code == 200 and "revoked" in done.text
    alma = browser(hub, "alma")
    got = alma.get(f"{hub.airlock_url}requests/{rid}/files/revoked.csv/download", timeout=60)
    assert got.status_code == 403 and CSV not in got.content
    # Nobody else may revoke, and only admins see the list of everything.
    assert browser(hub, "alvin").get(f"{hub.airlock_url}admin", timeout=60).status_code == 403
    audit = AuditLog.from_state_dir(hub.settings.state_dir)
    states = [r for r in audit.records() if r.event == "airlock.request.state"]
    (record,) = [
        r for r in states if r.details.get("request") == rid and r.details["target"] == "revoked"
    ]
    assert record.actor == "alec" and record.details["reason"] == "the data owner objected"


def test_a_1_gb_file_streams_in_without_the_airlock_holding_it_in_memory(hub, airlock):
    token = airlock["token"]
    rid = new_request(hub, token, {})
    pid = airlock_pid(hub)
    block = (b"lot,plant,yield\n" * 65536)[: 1024 * 1024]
    count = 1024
    digest = hashlib.sha256()
    for _ in range(count):
        digest.update(block)

    class Body:
        """1 GiB read in pieces, never held whole (requests streams what has read())."""

        def __init__(self):
            self.left = count * len(block)

        def __len__(self):
            return self.left

        def read(self, size=-1):
            size = len(block) if size is None or size < 0 else min(size, len(block))
            size = min(size, self.left)
            offset = (count * len(block) - self.left) % len(block)
            piece = (block[offset:] + block)[:size]
            self.left -= len(piece)
            return piece

    answer = api(hub, token, "PUT", f"api/requests/{rid}/files/huge.csv?type=table", data=Body())
    assert answer.status_code == 201, answer.text
    assert answer.json()["size"] == count * len(block)
    assert answer.json()["sha256"] == digest.hexdigest()
    status = Path(f"/proc/{pid}/status").read_text()
    peak_kib = int(
        next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:"))
    )
    assert peak_kib < 400 * 1024, f"the airlock's peak memory was {peak_kib} KiB"
    assert api(hub, token, "DELETE", f"api/requests/{rid}/files/huge.csv").status_code == 204


def test_a_verified_table_is_recomputed_by_the_airlock_s_own_account_and_judged_by_organisations(
    hub, airlock, catalog, tmp_path
):
    """Through the deployment: the lab server's header, the airlock running as its own
    account, the grant's airlock copy as the materialiser left it, the sandbox without root
    and the release policy's table rules in the hub's OPA. Region S has 12 organisations,
    region T 12 plants of 2: T's cells fail, S's pass, and a forged table fails."""
    import duckdb
    from factories.tables import make_table, spec_header

    from cleanroom.catalog.data_plane import grant_materialiser, grants_dir
    from cleanroom.grants.cache import researcher_dir
    from cleanroom.tables.spec import FORMAT

    orgs = [f"al-o{i:02d}" for i in range(12)]
    for org in orgs:
        catalog.add_organisation(org, org, "depositor", actor="alec")
    plants = {f"s-{i}": orgs[i] for i in range(12)} | {f"t-{i}": orgs[i % 2] for i in range(12)}
    source = tmp_path / "alplants.parquet"
    con = duckdb.connect()
    con.execute("CREATE TABLE t (region VARCHAR, plant VARCHAR, output DOUBLE)")
    rows = [(p[0].upper(), p, 10.0 + i) for i, p in enumerate(plants)]
    con.executemany("INSERT INTO t VALUES (?, ?, ?)", rows)
    con.table("t").write_parquet(str(source))
    con.close()
    catalog.register_dataset(
        "alplants", source, contributor_column="plant", mapping=plants, actor="alec"
    )
    catalog.materialiser = grant_materialiser(grants_dir(hub.settings.state_dir))
    grant = catalog.grant("alproj", "alplants", reason="a table", actor="alec")
    doc = {
        "format": FORMAT,
        "dataset": "alplants",
        "grant": grant.materialisation_key,
        "rows": ["region"],
        "values": [{"aggregate": "count"}],
    }
    researcher_copy = researcher_dir(grants_dir(hub.settings.state_dir), grant.materialisation_key)
    table = make_table(researcher_copy / "data.parquet", doc)
    assert table == b"region,count\nS,12\nT,12\n"
    token = airlock["token"]

    def submit(data: bytes, spec: dict) -> dict:
        rid = new_request(hub, token, {})
        put = api(
            hub,
            token,
            "PUT",
            f"api/requests/{rid}/files/by_region.csv?type=table",
            data=data,
            headers={"X-Cleanroom-Table-Spec": spec_header(spec)},
        )
        assert put.status_code == 201, put.text
        submitted = api(hub, token, "POST", f"api/requests/{rid}/submit", json={})
        assert submitted.status_code == 409, submitted.text  # refused: a cell fails
        # Read as an admin: outside the clean room the requester sees no unreviewed checks.
        (check,) = [c for c in as_admin(hub, rid)["checks"] if c["check"] == "table"]
        return check

    check = submit(table, doc)
    assert check["status"] == "fail", check
    assert {(f["row"], f["column"], f["rule"]) for f in check["findings"]} == {
        (1, "count", "threshold")
    }
    assert check["metrics"]["min_organisations"] == 2
    forged = submit(b"region,count\nS,12\nT,40\n", doc)
    assert forged["status"] == "fail"
    assert [f["rule"] for f in forged["findings"]] == ["recompute"]
    # A specification this project's grants do not allow: 400 before the body, nothing kept.
    rid = new_request(hub, token, {})
    refused = api(
        hub,
        token,
        "PUT",
        f"api/requests/{rid}/files/t.csv?type=table",
        data=table,
        headers={"X-Cleanroom-Table-Spec": spec_header({**doc, "rows": ["nonexistent"]})},
    )
    assert refused.status_code == 400 and "not granted" in refused.json()["error"]
    garbled = api(
        hub,
        token,
        "PUT",
        f"api/requests/{rid}/files/t.csv?type=table",
        data=table,
        headers={"X-Cleanroom-Table-Spec": "%%%"},
    )
    assert garbled.status_code == 400 and "base64url" in garbled.json()["error"]
    assert api(hub, token, "GET", f"api/requests/{rid}").json()["files"] == []
