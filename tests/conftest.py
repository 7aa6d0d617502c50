"""Fixtures shared by the integration and browser tests.

- ``docker_client``: the real Docker engine (fails, never skips, when it is not running).
- ``hub``: a real clean-room hub (JupyterHub, its proxy, nginx over TLS, the researchers'
  network and firewall) on ports of its own, with users ``alice`` and ``bob`` (researchers),
  ``rita`` (reviewer) and ``adam`` (admin). Started once per session, torn down after.
- ``running_alice``: alice's server, started through her own login.
- ``edge_hub``: a second hub with a small display channel (rate, burst, daily quota), for the
  edge's limits.

When a test fails, the hub log and the logs of the test hub's containers are printed.
"""

from __future__ import annotations

import sys
from pathlib import Path

import docker
import pytest

sys.path.insert(0, str(Path(__file__).parent))

from support.testhub import TestHub, start_test_hub, stop_test_hub  # noqa: E402

NOTEBOOK_IMAGE = "cleanroom/notebook:latest"


@pytest.fixture(scope="session")
def docker_client() -> docker.DockerClient:
    try:
        client = docker.from_env()
        client.ping()
    except docker.errors.DockerException as error:
        pytest.fail(f"The Docker engine is not reachable ({error}): run scripts/start-docker.sh")
    return client


@pytest.fixture(scope="session")
def notebook_image(docker_client) -> str:
    try:
        docker_client.images.get(NOTEBOOK_IMAGE)
    except docker.errors.ImageNotFound:
        pytest.fail(f"{NOTEBOOK_IMAGE} is missing: run images/build.sh")
    return NOTEBOOK_IMAGE


_hubs: list[TestHub] = []


@pytest.fixture(scope="session")
def hub(docker_client, notebook_image) -> TestHub:
    test_hub = start_test_hub(docker_client)
    _hubs.append(test_hub)
    try:
        test_hub.add_user("alice", ("researcher",))
        test_hub.add_user("bob", ("researcher",))
        test_hub.add_user("rita", ("reviewer",))
        test_hub.add_user("adam", ("admin",))
        yield test_hub
    finally:
        stop_test_hub(test_hub)
        _hubs.remove(test_hub)


# The display channel's bounds for ``edge_hub``: small, so that tests reach them in seconds.
EDGE_LIMITS = {
    "CLEANROOM_DISPLAY_RATE": "2M",
    "CLEANROOM_DISPLAY_BURST": "2M",
    "CLEANROOM_DISPLAY_DAILY_QUOTA": "12M",
    "CLEANROOM_DISPLAY_AUDIT_THRESHOLD": "4M",
}


@pytest.fixture(scope="session")
def edge_hub(docker_client, notebook_image) -> TestHub:
    """A second hub whose display channel is small (EDGE_LIMITS), with researcher ``quinn``."""
    test_hub = start_test_hub(docker_client, **EDGE_LIMITS)
    _hubs.append(test_hub)
    try:
        test_hub.add_user("quinn", ("researcher",))
        yield test_hub
    finally:
        stop_test_hub(test_hub)
        _hubs.remove(test_hub)


@pytest.fixture(scope="session")
def running_alice(hub) -> dict:
    return hub.start_server("alice")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.when != "call" or not report.failed or not _hubs:
        return
    client = docker.from_env()
    for test_hub in _hubs:
        report.sections.append(("hub log (tail)", test_hub.hub_log_tail()))
        network = test_hub.settings.network
        for container in client.containers.list(all=True, filters={"network": network}):
            logs = container.logs(tail=60).decode(errors="replace")
            report.sections.append((f"container {container.name} log (tail)", logs))
