from traitlets.config import Config

from cleanroom.hub.config import configure
from cleanroom.hub.spawner import CleanRoomSpawner
from cleanroom.settings import Settings


def make_config(**env):
    return configure(Config(), Settings.from_env(env), admin_token="t" * 64)


def test_proxy_is_on_loopback_and_hub_on_the_gateway():
    c = make_config(CLEANROOM_SUBNET="10.7.0.0/24", CLEANROOM_HUB_PORT="9081")
    assert c.JupyterHub.bind_url.startswith("http://127.0.0.1:")
    assert c.ConfigurableHTTPProxy.api_url.startswith("http://127.0.0.1:")
    assert c.JupyterHub.hub_bind_url == "http://10.7.0.1:9081"
    assert c.JupyterHub.hub_connect_url == "http://10.7.0.1:9081"


def test_public_url_is_the_tls_entry_point():
    c = make_config(CLEANROOM_PUBLIC_HOST="vault.example", CLEANROOM_HTTPS_PORT="8443")
    assert c.JupyterHub.public_url == "https://vault.example:8443/"


def test_signups_wait_for_an_admin():
    c = make_config()
    assert c.JupyterHub.authenticator_class == "cleanroom.hub.auth.CleanRoomAuthenticator"
    assert c.NativeAuthenticator.open_signup is False


def test_hub_starts_opa_on_loopback_unless_one_is_given(tmp_path):
    c = make_config(CLEANROOM_OPA_PORT="9181")
    (opa,) = [s for s in c.JupyterHub.services if s["name"] == "opa"]
    assert "--addr=127.0.0.1:9181" in opa["command"] or "127.0.0.1:9181" in " ".join(opa["command"])
    assert "url" not in opa, "OPA gets no route on the public proxy"
    assert c.CleanRoomSpawner.policy_url == "http://127.0.0.1:9181"
    c = make_config(CLEANROOM_OPA_URL="http://127.0.0.1:9999")
    assert not [s for s in c.JupyterHub.services if s["name"] == "opa"]
    assert c.CleanRoomSpawner.policy_url == "http://127.0.0.1:9999"


def test_spawner_gets_the_settings():
    c = make_config(
        CLEANROOM_HUB_PORT="9081",
        CLEANROOM_AIRLOCK_PORT="9082",
        CLEANROOM_HOME_SIZE="3G",
        CLEANROOM_STATE_DIR="/srv/cr",
    )
    assert c.JupyterHub.spawner_class == "cleanroom.hub.spawner.CleanRoomSpawner"
    assert c.CleanRoomSpawner.allowed_host_ports == (9081, 9082)
    assert c.CleanRoomSpawner.home_size == "3G"
    assert c.CleanRoomSpawner.homes_dir == "/srv/cr/homes"
    assert c.JupyterHub.allow_named_servers is False


def test_the_researchers_limits_are_the_kernel_containers():
    c = make_config(CLEANROOM_MEM_LIMIT="6G", CLEANROOM_CPU_LIMIT="2.5", CLEANROOM_PIDS_LIMIT="300")
    assert c.CleanRoomSpawner.kernel_mem_limit == "6G"
    assert c.CleanRoomSpawner.kernel_cpu_limit == 2.5
    assert c.CleanRoomSpawner.kernel_pids_limit == 300
    # The lab container keeps the spawner's own small limits.
    assert "mem_limit" not in c.CleanRoomSpawner and "pids_limit" not in c.CleanRoomSpawner


def test_the_lab_server_reads_no_user_configuration():
    assert make_config().Spawner.disable_user_config is True


def test_admin_service_token_is_only_in_the_service():
    c = make_config()
    (service,) = [s for s in c.JupyterHub.services if s["name"] == "cleanroom-admin"]
    assert service["api_token"] == "t" * 64


# CleanRoomSpawner's trait defaults restate the settings' defaults so that the spawner works
# with the defaults alone. configure() always sets these traits from the settings; airlock_url's
# default is empty on purpose (no airlock URL given to the server).
SPAWNER_DEFAULTS_NOT_FROM_SETTINGS = {"airlock_url"}


def test_spawner_trait_defaults_are_the_settings_defaults():
    spawner = CleanRoomSpawner()
    configured = make_config().CleanRoomSpawner
    assert {"kernel_mem_limit", "home_size", "subnet", "policy_url"} <= set(configured)
    for trait, value in configured.items():
        if trait not in SPAWNER_DEFAULTS_NOT_FROM_SETTINGS:
            assert getattr(spawner, trait) == value, (
                f"CleanRoomSpawner.{trait} defaults to {getattr(spawner, trait)!r}, but the "
                f"default settings configure {value!r} (cleanroom/settings.py, config.py)"
            )
