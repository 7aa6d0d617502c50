import pytest

from cleanroom.host.firewall import BridgeRules, _restore_script
from cleanroom.host.network import gateway_of, isolation_problems

SOUND = {
    "Internal": True,
    "EnableIPv6": False,
    "Options": {
        "com.docker.network.bridge.enable_icc": "false",
        "com.docker.network.bridge.name": "br-cleanroom",
    },
    "IPAM": {"Config": [{"Subnet": "172.30.0.0/24", "Gateway": "172.30.0.1"}]},
}


def test_gateway_is_the_first_address():
    assert gateway_of("172.30.0.0/24") == "172.30.0.1"


def test_sound_network_has_no_problems():
    assert isolation_problems(SOUND, "172.30.0.0/24", "br-cleanroom") == []


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"Internal": False}, "not internal"),
        ({"Options": {"com.docker.network.bridge.name": "br-cleanroom"}}, "container-to-container"),
        ({"EnableIPv6": True}, "IPv6"),
        ({"IPAM": {"Config": [{"Subnet": "10.0.0.0/8"}]}}, "subnets"),
    ],
)
def test_loosened_network_is_refused(change, problem):
    attrs = {**SOUND, **change}
    problems = isolation_problems(attrs, "172.30.0.0/24", "br-cleanroom")
    assert any(problem in p for p in problems)


def test_rules_allow_only_the_listed_ports_and_end_in_drop():
    rules = BridgeRules("br-cleanroom", "172.30.0.1", (8081, 8082)).ipv4_rules()
    assert rules[0][-2:] == ["-j", "ACCEPT"] and "ESTABLISHED,RELATED" in rules[0]
    accepted = [r[r.index("--dport") + 1] for r in rules if "--dport" in r]
    assert accepted == ["8081", "8082"]
    assert all("-d" in r and "172.30.0.1" in r for r in rules if "--dport" in r)
    assert rules[-1] == ["-j", "DROP"]


def test_ipv6_rules_drop_everything_new():
    assert BridgeRules("br-x", "10.0.0.1", (1,)).ipv6_rules()[-1] == ["-j", "DROP"]


def test_restore_script_is_one_transaction_for_our_chain_only():
    rules = BridgeRules("br-cleanroom", "172.30.0.1", (8081,))
    script = _restore_script(rules.chain, rules.ipv4_rules())
    lines = script.splitlines()
    assert lines[0] == "*filter" and lines[-1] == "COMMIT"
    assert lines[1] == ":CLEANROOM-br-cleanroom - [0:0]"
    assert all(line.startswith("-A CLEANROOM-br-cleanroom ") for line in lines[2:-1])
