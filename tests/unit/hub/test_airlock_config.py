"""How the airlock is wired into the hub: the managed service, its hub role, the groups that
may reach it, the server token's scopes, the container's CLEANROOM_AIRLOCK_URL, settings."""

from __future__ import annotations

import pytest
from traitlets.config import Config

from cleanroom import scopes as roles
from cleanroom.errors import SettingsError
from cleanroom.hub.config import configure
from cleanroom.settings import Settings


def make_config(**env):
    return configure(Config(), Settings.from_env(env), admin_token="t" * 64)


def test_the_airlock_is_a_managed_service_on_the_gateway_at_its_port():
    c = make_config(CLEANROOM_SUBNET="10.7.0.0/24", CLEANROOM_AIRLOCK_PORT="9082")
    (airlock,) = [s for s in c.JupyterHub.services if s["name"] == "airlock"]
    assert airlock["url"] == "http://10.7.0.1:9082"  # the proxy routes /services/airlock/
    assert airlock["command"][1:] == ["-m", "cleanroom.airlock"]
    assert airlock["environment"]["CLEANROOM_AIRLOCK_PORT"] == "9082"
    assert set(airlock["oauth_client_allowed_scopes"]) == set(roles.CUSTOM_SCOPES)
    assert c.CleanRoomSpawner.airlock_url == "http://10.7.0.1:9082/services/airlock/"
    assert 9082 in c.CleanRoomSpawner.allowed_host_ports


def test_the_airlock_reads_users_and_servers_and_nothing_more():
    c = make_config()
    (role,) = [r for r in c.JupyterHub.load_roles if r.get("services") == ["airlock"]]
    assert set(role["scopes"]) == {"read:users", "read:servers", "list:users"}


def test_a_servers_token_may_ask_for_releases():
    c = make_config()
    assert "custom:cleanroom:submit" in c.Spawner.server_token_scopes
    assert "access:servers!server" in c.Spawner.server_token_scopes
    assert not any(
        s.startswith(("admin", "read:users", "tokens")) for s in c.Spawner.server_token_scopes
    )


@pytest.mark.parametrize(
    ("group", "reaches"),
    [("researcher", True), ("reviewer", True), ("data-owner", True), ("admin", True)],
)
def test_every_global_role_reaches_the_airlock_and_only_the_admin_the_catalog(group, reaches):
    scopes = roles.GROUP_SCOPES[group]
    assert ("access:services!service=airlock" in scopes) is reaches
    assert ("access:services!service=catalog" in scopes) is (group == "admin")


def test_airlock_settings_have_defaults_and_are_checked():
    s = Settings.from_env({"CLEANROOM_STATE_DIR": "/srv/cr"})
    assert str(s.airlock_path) == "/srv/cr/airlock"
    assert s.airlock_max_file_bytes == 2 * 1024**3
    assert s.airlock_max_files == 50
    assert s.airlock_max_request_bytes == 4 * 1024**3
    s = Settings.from_env({"CLEANROOM_AIRLOCK_MAX_FILE_BYTES": "500M"})
    assert s.airlock_max_file_bytes == 500 * 1024**2
    assert Settings.from_env(s.to_env()) == s  # the hub's children read the same values
    with pytest.raises(SettingsError, match="inside the researchers' homes"):
        Settings.from_env(
            {"CLEANROOM_STATE_DIR": "/srv/cr", "CLEANROOM_AIRLOCK_DIR": "/srv/cr/homes/x"}
        )
    for bad in ("0", "-1", "1.5G", "lots"):
        with pytest.raises(SettingsError, match="CLEANROOM_AIRLOCK_MAX_FILE_BYTES"):
            Settings.from_env({"CLEANROOM_AIRLOCK_MAX_FILE_BYTES": bad})


def test_the_storage_quotas_are_settings_and_reach_the_airlocks_limits(tmp_path):
    from cleanroom.airlock.web.app import open_service

    s = Settings.from_env({"CLEANROOM_STATE_DIR": str(tmp_path)})
    assert s.airlock_researcher_quota_bytes == 10 * 1024**3
    assert s.airlock_project_quota_bytes == 50 * 1024**3
    assert (s.airlock_max_drafts, s.airlock_max_open_requests) == (5, 20)
    for bad in ("0", "lots"):
        with pytest.raises(SettingsError, match="CLEANROOM_AIRLOCK_PROJECT_QUOTA_BYTES"):
            Settings.from_env({"CLEANROOM_AIRLOCK_PROJECT_QUOTA_BYTES": bad})
    s = Settings.from_env(
        {
            "CLEANROOM_STATE_DIR": str(tmp_path),
            "CLEANROOM_AIRLOCK_RESEARCHER_QUOTA_BYTES": "3G",
            "CLEANROOM_AIRLOCK_PROJECT_QUOTA_BYTES": "7G",
            "CLEANROOM_AIRLOCK_MAX_FILES": "9",
            "CLEANROOM_AIRLOCK_MAX_DRAFTS": "2",
            "CLEANROOM_AIRLOCK_MAX_OPEN_REQUESTS": "4",
        }
    )
    assert Settings.from_env(s.to_env()) == s
    limits = open_service(s).limits
    assert (limits.max_drafts, limits.max_open_requests) == (2, 4)
    assert (limits.researcher_quota_bytes, limits.project_quota_bytes) == (3 * 1024**3, 7 * 1024**3)
    assert limits.max_files == 9 and limits.max_file_bytes == s.airlock_max_file_bytes


def test_the_airlock_recomputes_tables_from_the_deployment_s_grant_cache(tmp_path):
    from cleanroom.airlock.web.app import open_service

    s = Settings.from_env({"CLEANROOM_STATE_DIR": str(tmp_path)})
    assert open_service(s).grants_dir == tmp_path / "grants"
