from cleanroom import scopes as roles


def scopes_of(role_name):
    return next(r for r in roles.load_roles() if r["name"] == role_name)["scopes"]


def test_base_user_role_cannot_mint_tokens_or_list_users():
    base = scopes_of("user")
    assert "self" not in base
    for forbidden in ("tokens", "tokens!user", "list:users", "admin:users", "read:users"):
        assert forbidden not in base


def test_every_group_has_a_role_bound_to_it():
    bound = {g for r in roles.load_roles() for g in r.get("groups", [])}
    assert bound == set(roles.GROUPS) == {"researcher", "reviewer", "data-owner", "admin"}


def test_only_researchers_may_start_servers():
    for group, scopes in roles.GROUP_SCOPES.items():
        assert ("servers!user" in scopes) == (group == "researcher")


def test_custom_scopes_used_by_groups_are_declared():
    used = {s for scopes in roles.GROUP_SCOPES.values() for s in scopes if s.startswith("custom:")}
    assert used <= set(roles.CUSTOM_SCOPES)


def test_no_group_reaches_other_users():
    for scopes in roles.GROUP_SCOPES.values():
        for scope in scopes:
            assert not scope.startswith(("admin:", "list:", "tokens")), scope
            if scope.split("!")[0] in {"servers", "access:servers", "read:servers"}:
                assert scope.endswith("!user"), scope
