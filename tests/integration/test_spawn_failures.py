"""Docker down, image missing, network loosened: a readable reason, nothing half-created."""

from __future__ import annotations

import logging
from pathlib import Path
from types import SimpleNamespace

import pytest
from support.testhub import start_test_hub, stop_test_hub

from cleanroom.errors import SpawnRefused
from cleanroom.hub.spawner import CleanRoomSpawner

pytestmark = pytest.mark.docker


def make_spawner(tmp_path: Path, **traits) -> CleanRoomSpawner:
    user = SimpleNamespace(name="carol", id=1, url="/user/carol/", server=None, settings={})
    spawner = CleanRoomSpawner(user=user, homes_dir=str(tmp_path / "homes"), **traits)
    return spawner


def test_docker_down_is_a_readable_refusal(tmp_path, caplog):
    spawner = make_spawner(tmp_path, client_kwargs={"base_url": "unix:///nonexistent/docker.sock"})
    spawner.log = logging.getLogger("test-spawner")
    with caplog.at_level(logging.ERROR), pytest.raises(SpawnRefused) as refused:
        spawner.prepare_walls()
    assert "container engine is not running" in refused.value.jupyterhub_message
    assert "scripts/start-docker.sh" in caplog.text
    assert not (tmp_path / "homes").exists(), "no home created for a refused start"


def test_missing_image_is_a_readable_refusal(tmp_path, docker_client, caplog):
    spawner = make_spawner(tmp_path, image="cleanroom/absent:none")
    spawner.log = logging.getLogger("test-spawner")
    with caplog.at_level(logging.ERROR), pytest.raises(SpawnRefused) as refused:
        spawner.prepare_walls()
    assert "'cleanroom/absent:none' is not installed" in refused.value.jupyterhub_message
    assert "images/build.sh" in caplog.text
    assert not (tmp_path / "homes").exists()


def test_loosened_network_is_refused(tmp_path, docker_client, notebook_image):
    name = f"cleanroom-loose-{tmp_path.name[-6:]}"
    net = docker_client.networks.create(name, driver="bridge", internal=False)
    try:
        spawner = make_spawner(
            tmp_path, network_name=name, subnet="172.31.251.0/24", bridge_name="crt-loose"
        )
        with pytest.raises(SpawnRefused, match="not isolated"):
            spawner.prepare_walls()
    finally:
        net.remove()


@pytest.fixture(scope="module")
def broken_hub(docker_client, notebook_image):
    test_hub = start_test_hub(docker_client, CLEANROOM_IMAGE="cleanroom/absent:none")
    try:
        test_hub.add_user("dora", ("researcher",))
        yield test_hub
    finally:
        stop_test_hub(test_hub)


def test_researcher_sees_why_the_spawn_failed(broken_hub, docker_client):
    # What the browser does after login (the spawn page), then what its progress bar reads.
    messages = broken_hub.spawn_messages("dora", via_spawn_page=True)
    assert any("is not installed on this host" in m for m in messages), messages
    assert not any("Traceback" in m for m in messages)
    assert not docker_client.containers.list(
        all=True, filters={"name": broken_hub.container_name("dora")}
    )
