"""The system accounts the hub's services run as, and who may read or write which state.

The hub (root: it alone holds the Docker socket and starts containers) runs its services
under accounts of their own, so that a flaw in one (the airlock parses what researchers send,
the admin pages take uploads) reaches only what that service needs:

=============== ======================= ===================================================
service         account                 its own state (mode 0700, owned by the account)
=============== ======================= ===================================================
airlock         ``cleanroom-airlock``   the airlock's database and store (``airlock_dir``)
catalog         ``cleanroom-catalog``   the grant cache and the import folder
grant-watcher   ``cleanroom-watcher``   nothing; reads and marks the servers' session folders
=============== ======================= ===================================================

All three are members of the group ``cleanroom``, which may append to the audit log (its
database, anchor, lock and key) and use the catalog's database. None is in the ``docker``
group; none can read the hub's database, cookie secret or tokens; the airlock cannot read
the grant cache; parsing of researcher-made files happens in the sandbox besides
(:mod:`cleanroom.sandbox`). ``ensure_accounts`` creates what is missing (``useradd
--system``, no home, no login shell); ``python -m cleanroom.host.accounts`` shows them.
"""

from __future__ import annotations

import grp
import os
import pwd
import subprocess
import sys
from dataclasses import dataclass

SHARED_GROUP = "cleanroom"


@dataclass(frozen=True)
class ServiceAccount:
    service: str  # the hub's name for the service
    user: str


SERVICE_ACCOUNTS = (
    ServiceAccount("airlock", "cleanroom-airlock"),
    ServiceAccount("catalog", "cleanroom-catalog"),
    ServiceAccount("grant-watcher", "cleanroom-watcher"),
)
BY_SERVICE = {a.service: a for a in SERVICE_ACCOUNTS}
AIRLOCK = BY_SERVICE["airlock"].user
CATALOG = BY_SERVICE["catalog"].user
WATCHER = BY_SERVICE["grant-watcher"].user


class AccountError(RuntimeError):
    pass


def _run(*argv: str) -> None:
    result = subprocess.run(argv, capture_output=True, text=True)  # noqa: S603 - fixed argv
    if result.returncode != 0:
        raise AccountError(f"{' '.join(argv)} failed: {result.stderr.strip()}")


def _group_exists(name: str) -> bool:
    try:
        grp.getgrnam(name)
        return True
    except KeyError:
        return False


def _user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


def ensure_accounts() -> None:
    """Create the shared group and each service's user (with a group of its own) unless
    they exist; each user is put in the shared group. Root only."""
    if not _group_exists(SHARED_GROUP):
        _run("groupadd", "--system", SHARED_GROUP)
    for account in SERVICE_ACCOUNTS:
        if not _user_exists(account.user):
            _run(
                "useradd",
                "--system",
                "--user-group",
                "--no-create-home",
                "--home-dir",
                "/nonexistent",
                "--shell",
                "/usr/sbin/nologin",
                "--groups",
                SHARED_GROUP,
                account.user,
            )
        elif SHARED_GROUP not in groups_of(account.user):
            _run("usermod", "--append", "--groups", SHARED_GROUP, account.user)


def groups_of(user: str) -> set[str]:
    entry = pwd.getpwnam(user)
    return {grp.getgrgid(g).gr_name for g in os.getgrouplist(user, entry.pw_gid)}


def uid(user: str) -> int:
    return pwd.getpwnam(user).pw_uid


def gid(group: str) -> int:
    return grp.getgrnam(group).gr_gid


def own(path: os.PathLike[str] | str, user: str | None, group: str | None, mode: int) -> None:
    """chown (None: leave as it is) and chmod one path; a link is left alone."""
    if os.path.islink(path):
        return
    os.chown(path, uid(user) if user else -1, gid(group) if group else -1)
    os.chmod(path, mode)


def own_tree(root: os.PathLike[str] | str, user: str, group: str | None = None) -> None:
    """Give ``root`` and everything under it to ``user`` (and ``group``, default the user's
    own), keeping modes; links are neither followed nor changed."""
    user_uid = uid(user)
    group_gid = gid(group) if group else pwd.getpwnam(user).pw_gid
    for here, dirs, files in os.walk(root):
        os.chown(here, user_uid, group_gid, follow_symlinks=False)
        for name in files:
            os.chown(os.path.join(here, name), user_uid, group_gid, follow_symlinks=False)
        dirs[:] = [d for d in dirs if not os.path.islink(os.path.join(here, d))]


def main() -> int:
    for account in SERVICE_ACCOUNTS:
        try:
            entry = pwd.getpwnam(account.user)
        except KeyError:
            print(f"{account.service}: {account.user} (missing)")
            continue
        groups = ", ".join(sorted(groups_of(account.user)))
        print(f"{account.service}: {account.user} uid {entry.pw_uid}, groups {groups}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
