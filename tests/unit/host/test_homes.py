"""Home keys (one home per researcher and project, never shared) and the move of homes kept
under the legacy keys; on plain files here (ensure_home's real mounts are exercised by the
integration tests)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from cleanroom.errors import SpawnRefused
from cleanroom.host import homes
from cleanroom.hub import mounts as projectdata

TRICKY = [
    ("alice", None),
    ("alice", "demo"),
    ("alice--demo", None),  # the legacy key of this one and the one above were the same
    ("alice", "demo--x"),
    ("alice--demo", "x"),
    ("alice", ""),
    ("alice", "None"),
    ("Alice", None),
    ("ALICE", None),
    ("élise", None),
    ("e\u0301lise", None),  # the same name decomposed: another string, another home
    ("_e9lise", None),  # what "élise" was escaped to
    ("日本", "プロジェクト"),
    ("a" * 300, None),
    ("a" * 300 + "b", None),
    ("a" * 301, None),
    ("alice", "p" * 300),
    ("alice", "p" * 300 + "q"),
    (".", None),
    ("..", None),
    ("-", None),
    ("alice/../bob", None),
    ('al"ice', None),
    ("al", 'ice"'),
]


def test_keys_of_different_pairs_differ():
    keys = [homes.home_key(user, project) for user, project in TRICKY]
    assert len(set(keys)) == len(TRICKY)
    # What the digest is for: the old keys merged these.
    assert homes.legacy_home_key("alice--demo") == homes.legacy_home_key("alice", "demo")
    assert homes.legacy_home_key("Alice") == homes.legacy_home_key("alice")
    assert homes.legacy_home_key("élise") == homes.legacy_home_key("_e9lise")


@pytest.mark.parametrize(("user", "project"), TRICKY)
def test_keys_are_safe_names_of_bounded_length(user, project):
    key = homes.home_key(user, project)
    assert re.fullmatch(r"[a-z0-9_][a-z0-9_.-]*", key), key
    assert len(key) <= 80
    assert key == homes.home_key(user, project)


def test_keys_are_stable_and_readable():
    # Pinned: another key for the same pair would leave its home behind, unseen.
    assert homes.home_key("alice", "demo") == "alice--demo-55e1bbfe4eb12944"
    assert homes.home_key("alice") == "alice-c0f68b0577d03807"
    assert homes.home_key("alice", None) == homes.home_key("alice")
    assert homes.home_key("Élise", "étude").startswith("_e9lise--_e9tude-")


def test_legacy_keys_are_the_old_ones():
    assert homes.legacy_home_key("alice") == "alice"
    assert homes.legacy_home_key("Alice", "demo") == "alice--demo"
    assert homes.legacy_home_key("élise bo", "x/y") == "_e9lise_20bo--x_2fy"


# -- migration ------------------------------------------------------------------------------


@pytest.fixture
def no_mounting(monkeypatch):
    """Nothing is mounted under tmp_path: migration must not run mount or umount."""

    def refuse(*args, **kwargs):
        raise AssertionError(f"ran {args}")

    monkeypatch.setattr(homes, "_run", refuse)
    monkeypatch.setattr(homes.subprocess, "run", refuse)


def legacy_home(homes_dir: Path, user: str, project: str | None = None) -> Path:
    legacy = homes.legacy_home_key(user, project)
    homes_dir.mkdir(exist_ok=True)
    (homes_dir / legacy).mkdir()  # the (unmounted) mount point ensure_home made
    image = homes_dir / f"{legacy}.ext4"
    image.write_bytes(f"fs of {user} {project}".encode())
    return image


def test_migration_moves_the_image_and_removes_the_old_mount_point(tmp_path, no_mounting):
    image = legacy_home(tmp_path, "alice", "demo")
    assert homes.migrate_legacy_home(tmp_path, "alice", "demo")
    key = homes.home_key("alice", "demo")
    assert (tmp_path / f"{key}.ext4").read_bytes() == b"fs of alice demo"
    assert not image.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"{key}.ext4"]
    # Done once: the next start finds nothing to move.
    assert not homes.migrate_legacy_home(tmp_path, "alice", "demo")


def test_migration_leaves_both_when_the_new_home_exists(tmp_path, no_mounting):
    image = legacy_home(tmp_path, "alice", "demo")
    new = tmp_path / f"{homes.home_key('alice', 'demo')}.ext4"
    new.write_bytes(b"new fs")
    assert not homes.migrate_legacy_home(tmp_path, "alice", "demo")
    assert new.read_bytes() == b"new fs"
    assert image.read_bytes() == b"fs of alice demo"


def test_migration_without_a_legacy_home_does_nothing(tmp_path, no_mounting):
    assert not homes.migrate_legacy_home(tmp_path / "homes", "alice", "demo")
    assert not homes.migrate_legacy_home(tmp_path, "alice", "demo", sessions_dir=tmp_path / "s")
    assert list(tmp_path.iterdir()) == []


def test_migration_moves_the_session_and_its_stop_notice(tmp_path, no_mounting):
    sessions = tmp_path / "sessions"
    projectdata.record_stop(sessions / homes.legacy_home_key("alice", "demo"), ["revoked"])
    homes_dir = tmp_path / "homes"
    assert homes.migrate_legacy_home(homes_dir, "alice", "demo", sessions_dir=sessions)
    notice = projectdata.stop_notice(sessions / homes.home_key("alice", "demo"))
    assert notice is not None and notice["reasons"] == ["revoked"]
    assert [p.name for p in sessions.iterdir()] == [homes.home_key("alice", "demo")]


def test_migration_keeps_a_newer_session(tmp_path, no_mounting):
    sessions = tmp_path / "sessions"
    projectdata.record_stop(sessions / homes.legacy_home_key("alice"), ["old"])
    projectdata.record_stop(sessions / homes.home_key("alice"), ["new"])
    assert not homes.migrate_legacy_home(tmp_path / "homes", "alice", sessions_dir=sessions)
    assert projectdata.stop_notice(sessions / homes.home_key("alice"))["reasons"] == ["new"]
    assert projectdata.stop_notice(sessions / "alice")["reasons"] == ["old"]


def test_the_first_of_colliding_pairs_claims_the_legacy_home(tmp_path, no_mounting):
    legacy_home(tmp_path, "alice", "demo")  # the very file ("alice--demo", None) used too
    assert homes.migrate_legacy_home(tmp_path, "alice--demo", None)
    assert not homes.migrate_legacy_home(tmp_path, "alice", "demo")
    assert (tmp_path / f"{homes.home_key('alice--demo')}.ext4").exists()
    assert not (tmp_path / f"{homes.home_key('alice', 'demo')}.ext4").exists()


def test_a_user_named_like_a_new_key_takes_no_home(tmp_path, no_mounting):
    bobs = homes.home_key("bob")
    (tmp_path / f"{bobs}.ext4").write_bytes(b"bob's fs")
    (tmp_path / bobs).mkdir()
    # The user "bob-<digest>" had the legacy key bob's home has now.
    assert homes.legacy_home_key(bobs) == bobs
    assert not homes.migrate_legacy_home(tmp_path, bobs)
    assert (tmp_path / f"{bobs}.ext4").read_bytes() == b"bob's fs"
    assert (tmp_path / bobs).is_dir()


@pytest.mark.parametrize("user", [".", ".."])
def test_dot_names_never_touch_the_homes_directory(tmp_path, monkeypatch, no_mounting, user):
    homes_dir = tmp_path / "homes"
    homes_dir.mkdir()
    (homes_dir / f"{user}.ext4").write_bytes(b"fs")
    monkeypatch.setattr(homes.os.path, "ismount", lambda path: True)
    assert not homes.migrate_legacy_home(homes_dir, user)
    assert (homes_dir / f"{user}.ext4").exists()


@pytest.fixture
def mounted(monkeypatch):
    """Pretend the legacy mount point is mounted until umount runs on it; record the runs."""
    state = {"mounted": set(), "runs": [], "busy": False}
    real_ismount = homes.os.path.ismount

    def ismount(path):
        return str(path) in state["mounted"] or real_ismount(path)

    def run(*args):
        state["runs"].append(args)
        if state["busy"]:
            raise subprocess.CalledProcessError(32, args, stderr="umount: target is busy.")
        assert args[0] == "umount"
        state["mounted"].discard(args[1])

    monkeypatch.setattr(homes.os.path, "ismount", ismount)
    monkeypatch.setattr(homes, "_run", run)
    return state


def test_a_still_mounted_legacy_home_is_unmounted_before_it_moves(tmp_path, mounted):
    legacy_home(tmp_path, "alice", "demo")
    mountpoint = str(tmp_path / "alice--demo")
    mounted["mounted"].add(mountpoint)
    assert homes.migrate_legacy_home(tmp_path, "alice", "demo")
    assert mounted["runs"] == [("umount", mountpoint)]
    assert (tmp_path / f"{homes.home_key('alice', 'demo')}.ext4").exists()
    assert not (tmp_path / "alice--demo").exists()


def test_a_busy_legacy_home_is_refused_not_moved(tmp_path, mounted):
    image = legacy_home(tmp_path, "alice", "demo")
    mounted["mounted"].add(str(tmp_path / "alice--demo"))
    mounted["busy"] = True
    with pytest.raises(SpawnRefused, match="target is busy"):
        homes.migrate_legacy_home(tmp_path, "alice", "demo")
    assert image.exists()
    assert not (tmp_path / f"{homes.home_key('alice', 'demo')}.ext4").exists()
