"""cleanroom.policy and cleanroom.policy.opa without OPA: the input schema, the example inputs the
Rego tests use, the builders, revisions, and fail-closed decisions against unreachable, broken
or hanging fake servers."""

from __future__ import annotations

import http.server
import json
import threading
import time
from datetime import UTC, datetime, timedelta, timezone

import jsonschema
import pytest
from support.paths import REPO

from cleanroom.audit import AuditLog
from cleanroom.errors import CleanRoomError
from cleanroom.policy import (
    AUDIT_UNAVAILABLE,
    INVALID_INPUT,
    UNAVAILABLE,
    CheckResult,
    Decision,
    FileFacts,
    GrantFacts,
    InputValidator,
    PersonFacts,
    PolicyClient,
    PolicyDenied,
    ProjectFacts,
    RequestFacts,
    UserFacts,
    access_input,
    format_time,
    input_digest,
    load_schema,
    release_input,
    review_input,
    revision_of_dir,
    revision_of_modules,
    user_facts_from_groups,
)
from cleanroom.policy.opa import (
    DEFAULT_ADDR,
    IGNORED,
    OpaNotFound,
    check_loopback,
    find_opa_binary,
    free_port,
    opa_command,
    opa_service,
    policy_files,
)

POLICIES = REPO / "policies"
SCHEMA = load_schema()
VALIDATOR = jsonschema.Draft7Validator(SCHEMA)
NOW = "2025-06-01T12:00:00Z"
SHA = "a" * 64


def examples() -> list[tuple[str, str, dict]]:
    found = []
    for path in sorted((POLICIES / "examples").glob("*.json")):
        for area, docs in json.loads(path.read_text()).items():
            for name, doc in docs.items():
                found.append((area, name, doc))
    return found


# -- the schema and the example inputs ------------------------------------------------------


def test_the_schema_is_a_valid_draft7_schema_with_descriptions():
    jsonschema.Draft7Validator.check_schema(SCHEMA)
    assert SCHEMA["description"]
    for name, definition in SCHEMA["properties"].items():
        assert definition.get("description"), f"input.{name} has no description"


def test_there_are_examples_for_every_area():
    assert {area for area, _, _ in examples()} == {"access", "release", "review"}


@pytest.mark.parametrize(("area", "name", "doc"), examples(), ids=lambda v: str(v)[:30])
def test_every_example_input_the_rego_tests_use_is_valid(area, name, doc):
    assert list(VALIDATOR.iter_errors(doc)) == []
    assert doc["action"] == area
    assert InputValidator(SCHEMA).errors(doc) == []


def _example(area: str, name: str) -> dict:
    return json.loads((POLICIES / "examples" / f"{area}.json").read_text())[area][name]


def _with(doc: dict, path: str, value) -> dict:
    doc = json.loads(json.dumps(doc))
    *parents, last = path.split("/")
    target = doc
    for part in parents:
        target = target[int(part)] if isinstance(target, list) else target[part]
    if value is _REMOVE:
        del target[last]
    elif isinstance(target, list):
        target[int(last)] = value
    else:
        target[last] = value
    return doc


_REMOVE = object()

INVALID = [
    ("access", "foundation_researcher", "user/roles", ["boss"]),
    ("access", "foundation_researcher", "now", "2025-06-01 12:00"),
    ("access", "foundation_researcher", "now", _REMOVE),
    ("access", "foundation_researcher", "user/organisation", 3),
    ("access", "foundation_researcher", "action", "delete"),
    ("access", "foundation_researcher", "extra", True),
    ("access", "project_member", "grants/0/expires_at", "tomorrow"),
    ("access", "project_member", "grants/0/revoked", "no"),
    ("access", "project_member", "project/role", "owner"),
    ("release", "clean", "project", None),
    ("release", "clean", "request", _REMOVE),
    ("release", "clean", "request/files/0/size", -1),
    ("release", "clean", "request/files/0/sha256", "xyz"),
    ("release", "clean", "request/files/0/type", "dataset"),
    ("release", "clean", "request/checks/0/status", "ok"),
    ("review", "reviewer", "request/requester", {"name": "alice"}),
]


@pytest.mark.parametrize(("area", "name", "path", "value"), INVALID, ids=lambda v: str(v)[:24])
def test_invalid_inputs_are_rejected_by_both_validators(area, name, path, value):
    doc = _with(_example(area, name), path, value)
    assert list(VALIDATOR.iter_errors(doc)), "jsonschema accepted it"
    errors = InputValidator(SCHEMA).errors(doc)
    assert errors and isinstance(errors[0], str)


# -- builders ---------------------------------------------------------------------------------


def test_access_input_for_the_foundation_equals_the_example():
    doc = access_input(UserFacts("alice", None, ("researcher",)), None, now=NOW)
    assert doc == _example("access", "foundation_researcher")


def test_access_input_with_a_project_and_grants_equals_the_example():
    grants = [
        GrantFacts("g-sensors", "p-yield", "fab-sensors", "v1"),
        GrantFacts(
            "g-quality",
            "p-yield",
            "quality-records",
            "v3",
            expires_at=datetime(2026, 1, 1, tzinfo=UTC),
            columns=("lot", "yield", "plant"),
            row_filter="year >= 2023",
        ),
        GrantFacts(
            "g-old", "p-yield", "weld-logs", "v1", expires_at=datetime(2025, 5, 31, 23, 59, 59)
        ),
        GrantFacts("g-revoked", "p-yield", "design-params", "v2", revoked=True),
        GrantFacts("g-elsewhere", "p-other", "fab-sensors", "v1"),
    ]
    user = UserFacts("alice", "uni-a", ("researcher",))
    project = ProjectFacts("p-yield", "researcher", "Yield drivers")
    doc = access_input(user, project, grants, now=datetime(2025, 6, 1, 12, tzinfo=UTC))
    assert doc == _example("access", "project_member")


def _request(**changes) -> RequestFacts:
    values = dict(
        id="r-1",
        project="p-yield",
        requester=PersonFacts("alice", "uni-a"),
        files=[FileFacts("out/t.csv", "table", "text/csv", 10, SHA)],
        checks=[
            CheckResult(
                "min_contributors",
                "out/t.csv",
                "warn",
                message="2 organisations",
                version="1",
                findings=({"location": "row 1", "message": "2"},),
                metrics={"min_organisations": 2},
            ),
            CheckResult("bundle", None, "pass"),
        ],
        contributing_organisations=["globex", "acme", "acme"],
        state="submitted",
    )
    values.update(changes)
    return RequestFacts(**values)


def test_release_and_review_inputs_are_valid_and_complete():
    user = UserFacts("alice", "uni-a", ("researcher",))
    doc = release_input(user, ProjectFacts("p-yield", "researcher"), _request(), now=NOW)
    assert VALIDATOR.is_valid(doc)
    assert doc["request"]["contributing_organisations"] == ["acme", "globex"]
    assert doc["request"]["checks"][0]["findings"] == [{"location": "row 1", "message": "2"}]
    assert doc["request"]["checks"][1] == {"check": "bundle", "file": None, "status": "pass"}
    voter = UserFacts("rita", "vault-operator", ("reviewer",))
    doc = review_input(voter, ProjectFacts("p-yield", "reviewer"), _request(), now=NOW)
    assert VALIDATOR.is_valid(doc) and doc["action"] == "review" and doc["user"]["name"] == "rita"


def test_format_time_is_rfc3339_utc():
    assert format_time(datetime(2025, 6, 1, 12, 0, 0)) == "2025-06-01T12:00:00Z"
    plus_two = timezone(timedelta(hours=2))
    assert format_time(datetime(2025, 6, 1, 14, 0, 0, tzinfo=plus_two)) == "2025-06-01T12:00:00Z"
    assert format_time(datetime(2025, 6, 1, 12, 0, 0, 5, tzinfo=UTC)).endswith(".000005Z")
    assert VALIDATOR.is_valid({**_example("access", "foundation_researcher"), "now": format_time()})


def test_user_facts_from_groups_keeps_only_global_roles():
    user = user_facts_from_groups("alice", ["researcher", "beta-testers", "admin"], "uni-a")
    assert user == UserFacts("alice", "uni-a", ("admin", "researcher"))


def test_input_digest_is_canonical():
    assert input_digest({"a": 1, "b": [1, 2]}) == input_digest({"b": [1, 2], "a": 1})
    assert input_digest({"a": 1}) != input_digest({"a": 2})


# -- revisions ------------------------------------------------------------------------------


def test_the_revision_ignores_order_and_names_but_not_content():
    assert revision_of_modules(["a", "b"]) == revision_of_modules(["b", "a"])
    assert revision_of_modules(["a", "b"]) != revision_of_modules(["a", "c"])


def test_the_revision_of_the_policies_dir_leaves_out_tests_schema_and_examples(tmp_path):
    names = {p.relative_to(POLICIES).as_posix() for p in policy_files(POLICIES)}
    assert names == {"access.rego", "release.rego", "review.rego", "system/authz.rego"}
    before = revision_of_dir(POLICIES)
    assert len(before) == 64
    assert IGNORED and "*_test.rego" in IGNORED


# -- how OPA is run -------------------------------------------------------------------------


def test_opa_command_listens_on_loopback_and_watches_the_policies():
    command = opa_command("/x/opa", POLICIES, "127.0.0.1:8181")
    assert command[:3] == ["/x/opa", "run", "--server"]
    assert "--addr=127.0.0.1:8181" in command and "--watch" in command
    assert "--authorization=basic" in command and "--skip-version-check" in command
    assert "--ignore=*_test.rego" in command and command[-1] == str(POLICIES.resolve())


@pytest.mark.parametrize("addr", ["0.0.0.0:8181", "172.30.0.1:8181", "localhost:8181", "8181"])
def test_opa_may_not_listen_beyond_loopback(addr):
    with pytest.raises(ValueError):
        check_loopback(addr)


def test_loopback_addresses_are_accepted():
    assert check_loopback(DEFAULT_ADDR) == DEFAULT_ADDR
    assert check_loopback("[::1]:8181") == "[::1]:8181"


def test_the_managed_service_has_no_url_so_the_proxy_never_routes_to_it():
    service = opa_service("/x/opa", POLICIES, "127.0.0.1:9999")
    assert service["name"] == "opa" and "url" not in service
    command = service["command"]
    # OPA runs under the supervisor, which restarts it within a second if it dies.
    assert command[1:4] == ["-m", "cleanroom.policy.supervise", "--"]
    assert command[4] == "/x/opa" and "--addr=127.0.0.1:9999" in command


def test_find_opa_binary_prefers_the_environment(tmp_path, monkeypatch):
    fake = tmp_path / "opa"
    fake.write_text("#!/bin/sh\n")
    fake.chmod(0o755)
    monkeypatch.setenv("CLEANROOM_OPA", str(fake))
    assert find_opa_binary() == str(fake)
    monkeypatch.setenv("CLEANROOM_OPA", str(tmp_path / "missing"))
    with pytest.raises(OpaNotFound, match="install-opa.sh|CLEANROOM_OPA"):
        find_opa_binary()


def test_find_opa_binary_then_looks_on_path_and_says_what_to_run(tmp_path, monkeypatch):
    monkeypatch.delenv("CLEANROOM_OPA", raising=False)
    fake = tmp_path / "opa"
    fake.write_text("#!/bin/sh\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    assert find_opa_binary() == str(fake)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(OpaNotFound, match="scripts/install-opa.sh"):
        find_opa_binary()


# -- fail closed ------------------------------------------------------------------------------

ALICE = UserFacts("alice", None, ("researcher",))


class FakeOpa:
    """A local HTTP server that answers like a broken OPA would."""

    def __init__(self, status: int = 200, body: bytes = b"{}", delay: float = 0.0):
        self.requests: list[str] = []
        fake = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def _answer(self):
                fake.requests.append(f"{self.command} {self.path}")
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                time.sleep(delay)
                # The loaded policies (for the revision): none.
                policies = self.command == "GET" and self.path.startswith("/v1/policies")
                answer = b'{"result": []}' if policies else body
                self.send_response(200 if policies else status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            do_GET = do_POST = _answer

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def fake_opa(request):
    servers = []

    def make(**kwargs) -> FakeOpa:
        server = FakeOpa(**kwargs)
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.close()


def test_an_unreachable_opa_is_a_denial():
    client = PolicyClient(f"http://127.0.0.1:{free_port()}", timeout=0.5, retries=0)
    decision = client.access(ALICE, now=NOW)
    assert not decision.allowed and decision.reasons == (UNAVAILABLE,)
    assert decision.policy_revision == "" and len(decision.input_digest) == 64
    with pytest.raises(PolicyDenied) as raised:
        decision.require()
    assert isinstance(raised.value, CleanRoomError)
    assert raised.value.jupyterhub_message == UNAVAILABLE


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (500, b'{"code": "internal_error"}'),
        (404, b"{}"),
        (200, b"{}"),  # undefined decision: no "result"
        (200, b'{"result": {"reasons": []}}'),  # no allow
        (200, b'{"result": {"allow": "yes"}}'),  # allow not a boolean
        (200, b'{"result": true}'),
        (200, b"not json"),
    ],
)
def test_errors_and_undefined_or_malformed_decisions_are_denials(fake_opa, status, body):
    server = fake_opa(status=status, body=body)
    decision = PolicyClient(server.url, timeout=1.0, retries=0).access(ALICE, now=NOW)
    assert not decision.allowed and decision.reasons == (UNAVAILABLE,)


def test_a_hanging_opa_is_a_denial_after_the_timeout(fake_opa):
    server = fake_opa(delay=3.0, body=b'{"result": {"allow": true, "reasons": []}}')
    client = PolicyClient(server.url, timeout=0.3, retries=0)
    started = time.monotonic()
    decision = client.access(ALICE, now=NOW)
    assert time.monotonic() - started < 2.0
    assert decision.reasons == (UNAVAILABLE,)


def test_an_allow_from_opa_is_taken_with_its_result(fake_opa):
    server = fake_opa(body=b'{"result": {"allow": true, "reasons": [], "grants": ["g1"]}}')
    decision = PolicyClient(server.url, timeout=1.0).access(ALICE, now=NOW)
    assert decision.allowed and decision.result["grants"] == ["g1"]
    assert decision.policy_revision == revision_of_modules([])  # the fake has no modules
    assert server.requests[0] == "POST /v1/data/access/decision"


def test_a_denial_without_reasons_still_says_why(fake_opa):
    server = fake_opa(body=b'{"result": {"allow": false}}')
    decision = PolicyClient(server.url, timeout=1.0).access(ALICE, now=NOW)
    assert decision.reasons == ("denied by policy",)


def test_invalid_input_is_denied_without_asking_opa(fake_opa):
    server = fake_opa(body=b'{"result": {"allow": true}}')
    client = PolicyClient(server.url, timeout=1.0)
    bad_roles = client.access(UserFacts("alice", None, ("boss",)), now=NOW)
    assert not bad_roles.allowed
    assert bad_roles.reasons[0].startswith(f"{INVALID_INPUT}: user.roles[0]:")
    wrong_area = client.decide("release", access_input(ALICE, now=NOW))
    assert wrong_area.reasons[0].startswith(INVALID_INPUT)
    not_json = client.decide("access", {"now": object()})
    assert not_json.reasons[0].startswith(f"{INVALID_INPUT}: not a JSON document")
    assert server.requests == []


def test_an_unknown_area_is_a_programming_error():
    client = PolicyClient(f"http://127.0.0.1:{free_port()}")
    with pytest.raises(ValueError):
        client.decide("delete", {})
    with pytest.raises(ValueError):
        PolicyClient("ftp://opa")


def test_the_revision_is_read_at_most_once_per_ttl(fake_opa):
    server = fake_opa(body=b'{"result": {"allow": true, "reasons": []}}')
    client = PolicyClient(server.url, timeout=1.0, revision_ttl=60)
    for _ in range(5):
        client.access(ALICE, now=NOW)
    assert sum(r.startswith("GET /v1/policies") for r in server.requests) == 1
    client.invalidate_revision()
    client.access(ALICE, now=NOW)
    assert sum(r.startswith("GET /v1/policies") for r in server.requests) == 2


def test_a_decision_that_cannot_be_audited_is_a_denial(fake_opa, tmp_path, monkeypatch):
    server = fake_opa(body=b'{"result": {"allow": true, "reasons": []}}')
    audit = AuditLog(tmp_path / "a.sqlite", tmp_path / "h.json", tmp_path / "k")
    client = PolicyClient(server.url, timeout=1.0, audit=audit)
    assert client.access(ALICE, now=NOW).allowed
    assert audit.records()[0].details["allowed"] is True

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(AuditLog, "append", broken)
    decision = client.access(ALICE, now=NOW)
    assert not decision.allowed and decision.reasons == (AUDIT_UNAVAILABLE,)


def test_decision_is_frozen():
    decision = Decision.deny("access", UNAVAILABLE)
    with pytest.raises(AttributeError):
        decision.allowed = True  # type: ignore[misc]
