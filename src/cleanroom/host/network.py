"""The researchers' internal Docker network: no route out, no container-to-container traffic."""

from __future__ import annotations

import ipaddress

import docker
from docker.types import IPAMConfig, IPAMPool

from cleanroom.errors import SpawnRefused

ICC_OPTION = "com.docker.network.bridge.enable_icc"
BRIDGE_OPTION = "com.docker.network.bridge.name"


def gateway_of(subnet: str) -> str:
    return str(next(ipaddress.IPv4Network(subnet).hosts()))


def ensure_internal_network(
    client: docker.DockerClient, name: str, subnet: str, bridge: str
) -> docker.models.networks.Network:
    """Create the network if missing; refuse to use one that is not isolated as required."""
    existing = client.networks.list(names=[name])
    network = next((n for n in existing if n.name == name), None)
    if network is None:
        network = client.networks.create(
            name,
            driver="bridge",
            internal=True,
            enable_ipv6=False,
            options={ICC_OPTION: "false", BRIDGE_OPTION: bridge},
            ipam=IPAMConfig(pool_configs=[IPAMPool(subnet=subnet, gateway=gateway_of(subnet))]),
            labels={"org.cleanroom.role": "researchers"},
        )
        network.reload()
    problems = isolation_problems(network.attrs, subnet, bridge)
    if problems:
        # Fail closed: a network someone loosened by hand must not carry researchers.
        raise SpawnRefused(
            f"The Docker network {name!r} is not isolated ({'; '.join(problems)}). "
            f"An admin must remove it (docker network rm {name}) so the hub recreates it."
        )
    return network


def isolation_problems(attrs: dict, subnet: str, bridge: str) -> list[str]:
    """What is wrong with a network's settings, as sentences (empty when it is sound)."""
    problems = []
    if not attrs.get("Internal"):
        problems.append("it is not internal")
    options = attrs.get("Options") or {}
    if options.get(ICC_OPTION) != "false":
        problems.append("container-to-container traffic is on")
    if options.get(BRIDGE_OPTION) != bridge:
        problems.append(f"its bridge is not {bridge!r}")
    subnets = [c.get("Subnet") for c in (attrs.get("IPAM") or {}).get("Config") or []]
    if subnets != [subnet]:
        problems.append(f"its subnets {subnets} are not [{subnet!r}]")
    if attrs.get("EnableIPv6"):
        problems.append("IPv6 is on")
    return problems
