"""The real hub asks the real OPA before every spawn; a rule changed on disk takes effect at
once, and when OPA does not answer, no server starts. Every step lands in the audit log."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time

import pytest
from fixtures.opa import DENY_ALL
from support.testhub import opa_pid

from cleanroom.audit import AuditLog

pytestmark = pytest.mark.docker


def wait_until(condition, what: str, timeout: float = 20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


def audit_events(hub) -> list[tuple[str, str | None]]:
    log = AuditLog.from_state_dir(hub.settings.state_dir, create_key=False)
    return [(r.event, r.actor) for r in log.records()]


@pytest.fixture
def access_policy(hub):
    path = hub.settings.state_path / "policies" / "access.rego"
    original = path.read_text()
    yield path
    path.write_text(original)
    time.sleep(1.5)  # OPA's watcher reloads it


def test_deny_all_swapped_in_refuses_the_next_spawn_without_restart(
    hub, docker_client, access_policy
):
    hub.add_user("pia", ("researcher",))
    hub_pid_before = hub.settings.state_path.joinpath("run", "jupyterhub.pid").read_text()
    access_policy.write_text(DENY_ALL)
    time.sleep(1.5)  # OPA's watcher picks the file up
    messages = hub.spawn_messages("pia")
    assert any("closed for maintenance" in m for m in messages), messages
    assert not docker_client.containers.list(all=True, filters={"name": hub.container_name("pia")})
    # The same hub process took the decision: nothing was restarted.
    assert hub.settings.state_path.joinpath("run", "jupyterhub.pid").read_text() == hub_pid_before


def test_spawn_page_shows_each_step(hub):
    """Read the progress bar's stream while the start runs, as the spawn page does."""
    hub.add_user("stan", ("researcher",))
    session = hub.login("stan")
    starter = threading.Thread(
        target=hub.user_api, args=(session, "POST", "/users/stan/server"), kwargs={"json": {}}
    )
    starter.start()
    messages: list[str] = []
    deadline = time.monotonic() + 120
    while "Starting your kernels and your server" not in messages and time.monotonic() < deadline:
        stream = hub.user_api(session, "GET", "/users/stan/server/progress", stream=True)
        for line in stream.iter_lines():
            if line.startswith(b"data:"):
                event = json.loads(line[5:])
                messages.append(event.get("message", ""))
                if event.get("ready") or event.get("failed"):
                    break
        time.sleep(0.1)
    starter.join()
    hub.stop_server("stan")
    for step in (
        "Checking your access",
        "Preparing your isolated network and home",
        "Starting your kernels and your server",
    ):
        assert step in messages, messages


def test_real_policy_lets_a_researcher_in_and_everything_is_audited(hub, running_alice):
    events = audit_events(hub)
    assert ("login.succeeded", "alice") in events
    assert ("spawn.started", "alice") in events
    assert ("policy.decision", "alice") in events, sorted(set(events))
    result = subprocess.run(
        [
            os.path.join(os.path.dirname(sys.executable), "cleanroom"),
            "audit",
            "verify",
            "--state-dir",
            hub.settings.state_dir,
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_opa_not_answering_refuses_spawns_and_recovery_needs_no_restart(hub, docker_client):
    hub.add_user("olga", ("researcher",))
    pid = opa_pid(hub)
    os.kill(pid, signal.SIGSTOP)  # OPA hangs: every call times out
    try:
        messages = hub.spawn_messages("olga")
    finally:
        os.kill(pid, signal.SIGCONT)
    assert any("policy service unavailable" in m for m in messages), messages
    assert not docker_client.containers.list(all=True, filters={"name": hub.container_name("olga")})

    # OPA answers again: the same hub process spawns, no restart.
    hub.start_server("olga")
    hub.stop_server("olga")


def test_opa_killed_is_restarted_by_the_hub(hub):
    pid = opa_pid(hub)
    os.kill(pid, signal.SIGKILL)
    new_pid = wait_until(lambda: (p := _maybe_opa_pid(hub)) and p != pid and p, "OPA restart")
    assert new_pid != pid
    hub.add_user("otto", ("researcher",))
    hub.start_server("otto")  # the restarted OPA answers the next decision
    hub.stop_server("otto")


def _maybe_opa_pid(hub):
    try:
        return opa_pid(hub)
    except AssertionError:
        return None
