import pytest
from support.paths import REPO

from cleanroom.errors import SettingsError
from cleanroom.settings import SETTINGS, Settings, describe, markdown

REFERENCE = REPO / "docs" / "reference" / "settings.md"


def test_defaults_are_valid():
    settings = Settings.from_env({})
    assert settings.https_port == 443
    assert settings.gateway == "172.30.0.1"
    assert settings.public_url == "https://localhost/"
    assert settings.policy_url == "http://127.0.0.1:8181"


def test_round_trip_through_environment():
    settings = Settings.from_env(
        {"CLEANROOM_HTTPS_PORT": "8443", "CLEANROOM_SUBNET": "10.9.0.0/24"}
    )
    assert Settings.from_env(settings.to_env()) == settings
    assert settings.public_url == "https://localhost:8443/"


def test_terminals_are_refused_with_the_reason():
    assert Settings.from_env({"CLEANROOM_TERMINALS": "0"}).terminals is False
    with pytest.raises(SettingsError, match="lab container.*kernel container"):
        Settings.from_env({"CLEANROOM_TERMINALS": "1"})


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("HTTPS_PORT", "abc"),
        ("HTTPS_PORT", "70000"),
        ("SUBNET", "8.8.8.0/24"),  # public
        ("SUBNET", "10.0.0.0/30"),  # too small
        ("SUBNET", "10.0.0.1/24"),  # host bits set
        ("BRIDGE", "a-bridge-name-that-is-too-long"),
        ("MEM_LIMIT", "lots"),
        ("CPU_LIMIT", "-1"),
        ("PIDS_LIMIT", "0"),
        ("ADMIN_USERS", "Root User"),
        ("TLS_CERT", "relative.pem"),
        ("OPA_URL", "not a url"),
        ("TERMINALS", "yes"),
    ],
)
def test_bad_values_name_the_variable_and_the_fix(name, value):
    with pytest.raises(SettingsError) as raised:
        Settings.from_env({f"CLEANROOM_{name}": value})
    message = str(raised.value)
    assert f"CLEANROOM_{name}" in message
    assert "set it to" in message


def test_certificate_and_key_go_together():
    with pytest.raises(SettingsError, match="go together"):
        Settings.from_env({"CLEANROOM_TLS_CERT": "/etc/ssl/x.pem"})


def test_every_setting_is_documented():
    text = describe(Settings.from_env({}))
    for name in SETTINGS:
        assert f"CLEANROOM_{name.upper()}=" in text


def test_public_host_must_be_a_name():
    # Researchers' servers live on <user>.<public host>: an address cannot have those.
    with pytest.raises(SettingsError, match="wildcard"):
        Settings.from_env({"CLEANROOM_PUBLIC_HOST": "10.0.0.5"})
    assert Settings.from_env({"CLEANROOM_PUBLIC_HOST": "vault.example.org"}).public_host


def test_the_declared_defaults_are_what_an_empty_environment_reads():
    # Settings() takes each field's default from its declaration, parsed as from_env parses it.
    assert Settings() == Settings.from_env({})
    assert Settings.from_env(Settings().to_env()) == Settings()


def test_the_settings_reference_is_generated_from_the_declaration():
    text = REFERENCE.read_text()
    assert text == markdown(), (
        "docs/reference/settings.md differs from the settings declared in cleanroom/settings.py: "
        "regenerate it with `python -m cleanroom.settings --markdown > docs/reference/settings.md`"
    )
    for name in SETTINGS:
        assert f"`CLEANROOM_{name.upper()}`" in text
