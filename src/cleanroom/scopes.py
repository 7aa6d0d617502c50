"""Scopes and global roles, in one place: the custom scopes the services check, and the
JupyterHub groups (global roles) that grant scopes, and nothing about any one project.

Who may do what *in a project* is the catalog's and the policy's business (see the design's
data model). These groups only open the doors a person needs at all. The hub's configuration,
the airlock, the admin pages and the access policy's facts all read them from here.
"""

from __future__ import annotations

# Custom scopes the services check (JupyterHub requires the ``custom:`` prefix).
SUBMIT = "custom:cleanroom:submit"
REVIEW = "custom:cleanroom:review"
OWNER_APPROVE = "custom:cleanroom:owner-approve"
ADMINISTER = "custom:cleanroom:administer"

CUSTOM_SCOPES: dict[str, dict[str, str]] = {
    SUBMIT: {"description": "Ask for outputs to be released."},
    REVIEW: {"description": "Review release requests."},
    OWNER_APPROVE: {"description": "Co-approve releases that contain one's organisation's data."},
    ADMINISTER: {"description": "Register datasets, manage projects and grants, revoke releases."},
}

# The global roles: JupyterHub groups, and the policies' ``user.roles``.
GLOBAL_ROLES = ("researcher", "reviewer", "data-owner", "admin")

# Everybody who can log in. It replaces JupyterHub's default "user" role, whose "self" scope
# would let any token list its owner's tokens and mint new ones.
BASE_USER_SCOPES = ["read:users:name!user", "read:users:groups!user"]

# A server's own token can only hold scopes its owner has, and it must report activity.
SERVER_OWNER_SCOPES = ["users:activity!user"]

# group name -> scopes its members get on top of the base.
GROUP_SCOPES: dict[str, list[str]] = {
    "researcher": [
        *SERVER_OWNER_SCOPES,
        "servers!user",
        "access:servers!user",
        "read:servers!user",
        SUBMIT,
        "access:services!service=airlock",
    ],
    # The airlock's pages: reviewers' queue, data owners' co-approval, admins' overview.
    "reviewer": [REVIEW, "access:services!service=airlock"],
    "data-owner": [OWNER_APPROVE, "access:services!service=airlock"],
    # The admin pages (the catalog service) are for admins only; the service checks the
    # custom scope again on every request.
    "admin": [
        ADMINISTER,
        "access:services!service=catalog",
        "access:services!service=airlock",
    ],
}

GROUPS = GLOBAL_ROLES
assert tuple(GROUP_SCOPES) == GLOBAL_ROLES, "one entry of GROUP_SCOPES per global role"


def load_roles() -> list[dict]:
    """The roles for ``c.JupyterHub.load_roles``: the base user role and one per group."""
    roles = [
        {
            "name": "user",
            "description": "Every signed-in person: may read their own name and groups.",
            "scopes": list(BASE_USER_SCOPES),
        }
    ]
    for group, scopes in GROUP_SCOPES.items():
        roles.append(
            {
                "name": f"cleanroom-{group}",
                "description": f"Scopes of the global role {group!r}.",
                "scopes": list(scopes),
                "groups": [group],
            }
        )
    return roles


def load_groups() -> dict[str, dict]:
    """Make sure each group exists; membership is managed at run time by admins."""
    return {group: {"users": []} for group in GROUPS}
