"""The state folder as the hub leaves it for the services' accounts (real accounts, made with
useradd on this machine, as the host's preparation makes them: the tests run as root)."""

from __future__ import annotations

import grp
import os
import pwd
import stat

import pytest

from cleanroom.host import accounts, shares
from cleanroom.settings import Settings


def owner(path) -> tuple[str, str, int]:
    st = os.stat(path)
    return (
        pwd.getpwuid(st.st_uid).pw_name,
        grp.getgrgid(st.st_gid).gr_name,
        stat.S_IMODE(st.st_mode),
    )


@pytest.fixture
def state(tmp_path):
    settings = Settings.from_env({"CLEANROOM_STATE_DIR": str(tmp_path / "state")})
    settings.state_path.mkdir()
    # What a root command left before this start: the catalog in its old place, a grant
    # cache folder and an airlock database made by root.
    (settings.state_path / "catalog.sqlite").write_bytes(b"")
    (settings.state_path / "grants" / "airlock" / "k1").mkdir(parents=True)
    (settings.state_path / "airlock").mkdir()
    (settings.state_path / "airlock" / "airlock.sqlite").write_bytes(b"")
    accounts.ensure_accounts()
    shares.share_state(settings)
    return settings.state_path


def test_each_account_owns_its_part_and_the_shared_group_the_rest(state):
    airlock_group = grp.getgrgid(pwd.getpwnam(accounts.AIRLOCK).pw_gid).gr_name
    assert owner(state / "secrets") == ("root", "cleanroom", 0o710)
    assert owner(state / "secrets" / "audit.key") == ("root", "cleanroom", 0o640)
    for folder in ("audit", "audit-anchor", "catalog"):
        assert owner(state / folder) == ("root", "cleanroom", 0o2770), folder
        for path in (state / folder).iterdir():
            assert owner(path)[1:] == ("cleanroom", 0o660), path
    assert (state / "catalog" / "catalog.sqlite").stat().st_size > 0  # moved and migrated
    assert not (state / "catalog.sqlite").exists()
    assert owner(state / "airlock") == (accounts.AIRLOCK, airlock_group, 0o700)
    assert owner(state / "airlock" / "airlock.sqlite")[0] == accounts.AIRLOCK
    assert owner(state / "grants") == (accounts.CATALOG, airlock_group, 0o710)
    assert owner(state / "grants" / "airlock") == (accounts.CATALOG, airlock_group, 0o2750)
    assert owner(state / "grants" / "airlock" / "k1") == (accounts.CATALOG, airlock_group, 0o750)
    for folder in ("researcher", "tmp", "locks"):
        assert owner(state / "grants" / folder)[::2] == (accounts.CATALOG, 0o700)
    assert owner(state / "import")[::2] == (accounts.CATALOG, 0o700)
    assert owner(state / "sessions")[::2] == ("root", 0o2770)


def test_the_accounts_are_system_accounts_that_cannot_log_in(state):
    for account in accounts.SERVICE_ACCOUNTS:
        entry = pwd.getpwnam(account.user)
        assert entry.pw_uid < 1000 and entry.pw_shell == "/usr/sbin/nologin"
        assert accounts.groups_of(account.user) == {
            grp.getgrgid(entry.pw_gid).gr_name,
            accounts.SHARED_GROUP,
        }
