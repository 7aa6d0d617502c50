"""Host firewall rules for the researchers' bridge, owned by this project and idempotent.

A container on an internal network cannot route out, but it reaches every port the host
listens on through the bridge (INPUT, not FORWARD). These rules leave it exactly two: the hub
API and the airlock, on the gateway address. Everything else from the bridge is dropped, and
replies to connections the host opened (the proxy talking to a server) still pass.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass

from cleanroom.errors import SpawnRefused


@dataclass(frozen=True)
class BridgeRules:
    bridge: str
    gateway: str
    allowed_tcp_ports: tuple[int, ...]

    @property
    def chain(self) -> str:
        # iptables chain names are at most 28 characters; bridge names at most 15.
        return f"CLEANROOM-{self.bridge}"

    def ipv4_rules(self) -> list[list[str]]:
        rules = [["-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED", "-j", "ACCEPT"]]
        for port in self.allowed_tcp_ports:
            rules.append(["-p", "tcp", "-d", self.gateway, "--dport", str(port), "-j", "ACCEPT"])
        rules.append(["-j", "DROP"])
        return rules

    def ipv6_rules(self) -> list[list[str]]:
        # The network has no IPv6, but link-local addresses could still reach the host.
        return [
            ["-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED", "-j", "ACCEPT"],
            ["-j", "DROP"],
        ]


def _run(tool: str, *args: str, check: bool = True, stdin: str | None = None):
    return subprocess.run(
        [tool, "-w", *args], input=stdin, capture_output=True, text=True, check=check
    )


def _restore_script(chain: str, wanted: list[list[str]]) -> str:
    # Declaring the chain in a --noflush restore empties it; the whole file is one atomic
    # transaction, so there is never a moment with the chain half-written.
    lines = ["*filter", f":{chain} - [0:0]"]
    lines += [" ".join(["-A", chain, *rule]) for rule in wanted]
    lines.append("COMMIT")
    return "\n".join(lines) + "\n"


def _apply(tool: str, bridge: str, chain: str, wanted: list[list[str]]) -> None:
    _run(f"{tool}-restore", "--noflush", stdin=_restore_script(chain, wanted))
    jump = ["INPUT", "-i", bridge, "-j", chain]
    if _run(tool, "-C", *jump, check=False).returncode != 0:
        _run(tool, "-I", "INPUT", "1", *jump[1:])


def ensure_rules(rules: BridgeRules) -> None:
    """Install or repair the rules; raise SpawnRefused when the host cannot be protected."""
    if shutil.which("iptables") is None:
        raise SpawnRefused(
            "The host firewall cannot be set: iptables is missing. An admin must install it "
            "(apt-get install iptables)."
        )
    try:
        _apply("iptables", rules.bridge, rules.chain, rules.ipv4_rules())
        if shutil.which("ip6tables") is not None:
            _apply("ip6tables", rules.bridge, rules.chain, rules.ipv6_rules())
    except subprocess.CalledProcessError as error:
        raise SpawnRefused(
            f"The host firewall for {rules.bridge} could not be set ({error.stderr.strip()}). "
            "The hub must run as root with iptables available."
        ) from error


def rules_in_force(rules: BridgeRules) -> bool:
    """True when INPUT jumps to the project's chain and the chain ends in a DROP."""
    listed = _run("iptables", "-S", rules.chain, check=False)
    if listed.returncode != 0:
        return False
    chain_rules = [line for line in listed.stdout.splitlines() if line.startswith("-A ")]
    if len(chain_rules) != len(rules.ipv4_rules()) or chain_rules[-1].split()[-2:] != [
        "-j",
        "DROP",
    ]:
        return False
    jump = ["INPUT", "-i", rules.bridge, "-j", rules.chain]
    return _run("iptables", "-C", *jump, check=False).returncode == 0


def remove_rules(rules: BridgeRules) -> None:
    """Take the project's rules out again (used by ``make down`` and test teardown)."""
    for tool in ("iptables", "ip6tables"):
        if shutil.which(tool) is None:
            continue
        jump = ["INPUT", "-i", rules.bridge, "-j", rules.chain]
        while _run(tool, "-C", *jump, check=False).returncode == 0:
            _run(tool, "-D", *jump)
        _run(tool, "-F", rules.chain, check=False)
        _run(tool, "-X", rules.chain, check=False)
