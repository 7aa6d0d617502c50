"""Benchmark: policy decisions through cleanroom.policy vs a bare HTTP client, side by side.

Starts its own OPA (``--opa``: ``$CLEANROOM_OPA``, else the checkout's .cache/bin/opa that
scripts/install-opa.sh builds) on a free loopback port with the repository's policies/, then
takes N decisions (default 10,000; a mix of access, release and review) two ways,
in alternating blocks so that both see the same machine state:

- layer: ``PolicyClient.access/release/review`` from facts: builders, schema validation, input
  digest, opa-python-client's HTTP call, the decision parsed into a Decision, the revision
  (cached, re-read every 5 s);
- bare: ``requests.Session().post(<opa>/v1/data/<area>/decision, json={"input": doc})`` with
  the input documents built beforehand, and ``response.json()["result"]``.

Usage: .venv/bin/python bench/policy.py [-n 10000] [--audit]
(--audit also records every layer decision in a temporary audit log: reported separately.)

Last line: RESULT p50_ms=<x> p99_ms=<x> overhead_ratio=<x> decisions_per_s=<x>
(p50/p99 and decisions per second of the layer; overhead_ratio = layer mean / bare mean.)
Goal: p99 <= 5 ms, overhead_ratio <= 1.2.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import requests

from cleanroom.audit import AuditLog
from cleanroom.policy import (
    CheckResult,
    FileFacts,
    GrantFacts,
    PersonFacts,
    PolicyClient,
    ProjectFacts,
    RequestFacts,
    UserFacts,
    access_input,
    release_input,
    review_input,
)
from cleanroom.policy.opa import OpaProcess

# The checkout this benchmark runs from: its policies/, and the opa scripts/install-opa.sh builds.
REPO = Path(__file__).resolve().parents[1]
NOW = "2025-06-01T12:00:00Z"
SHA = "ab" * 32


def workload() -> list[tuple[str, tuple, dict]]:
    """(area, builder arguments, built document) for a realistic mix of decisions."""
    alice = UserFacts("alice", "uni-a", ("researcher",))
    rita = UserFacts("rita", "vault-operator", ("reviewer",))
    olga = UserFacts("olga", "acme", ("data-owner",))
    member = ProjectFacts("p-yield", "researcher", "Yield drivers")
    grants = [
        GrantFacts(f"g-{i}", "p-yield", f"dataset-{i}", "v1", expires_at="2026-01-01T00:00:00Z")
        for i in range(8)
    ] + [GrantFacts("g-revoked", "p-yield", "design", "v2", revoked=True)]
    files = [FileFacts(f"out/table_{i}.csv", "table", "text/csv", 4096, SHA) for i in range(4)]
    files.append(FileFacts("out/figure.png", "figure", "image/png", 65536, SHA))
    checks = [CheckResult("min_contributors", f.path, "pass", message="ok") for f in files]
    request = RequestFacts(
        "r-1", "p-yield", PersonFacts("alice", "uni-a"), files, checks, ["acme", "globex"]
    )
    warned = RequestFacts(
        "r-2",
        "p-yield",
        PersonFacts("alice", "uni-a"),
        files,
        [*checks[:-1], CheckResult("min_contributors", files[-1].path, "warn", message="2")],
        ["acme", "globex"],
    )
    cases = [
        ("access", (alice, None, ()), access_input(alice, None, (), now=NOW)),
        ("access", (alice, member, grants), access_input(alice, member, grants, now=NOW)),
        (
            "access",
            (UserFacts("bob", None, ()), None, ()),
            access_input(UserFacts("bob", None, ()), None, (), now=NOW),
        ),
        ("release", (alice, member, request), release_input(alice, member, request, now=NOW)),
        ("release", (alice, member, warned), release_input(alice, member, warned, now=NOW)),
        (
            "review",
            (rita, ProjectFacts("p-yield", "reviewer"), warned),
            review_input(rita, ProjectFacts("p-yield", "reviewer"), warned, now=NOW),
        ),
        (
            "review",
            (olga, ProjectFacts("p-yield", None), request),
            review_input(olga, ProjectFacts("p-yield", None), request, now=NOW),
        ),
    ]
    return cases


def run_layer(client: PolicyClient, cases, count: int, start: int) -> list[float]:
    methods = {"access": client.access, "release": client.release, "review": client.review}
    times = []
    for i in range(start, start + count):
        area, args, _doc = cases[i % len(cases)]
        began = time.perf_counter()
        decision = methods[area](*args, now=NOW)
        times.append(time.perf_counter() - began)
        if decision.reasons == ("policy service unavailable",):
            raise RuntimeError("OPA stopped answering")
    return times


def run_bare(session: requests.Session, url: str, cases, count: int, start: int) -> list[float]:
    times = []
    for i in range(start, start + count):
        area, _args, doc = cases[i % len(cases)]
        began = time.perf_counter()
        response = session.post(f"{url}/v1/data/{area}/decision", json={"input": doc}, timeout=2)
        result = response.json()["result"]
        times.append(time.perf_counter() - began)
        if "allow" not in result:
            raise RuntimeError("undefined decision")
    return times


def summary(name: str, times: list[float]) -> dict:
    ordered = sorted(times)

    def pct(p: float) -> float:
        return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] * 1000

    stats = {
        "name": name,
        "n": len(times),
        "mean_ms": statistics.fmean(times) * 1000,
        "p50_ms": pct(50),
        "p90_ms": pct(90),
        "p99_ms": pct(99),
        "max_ms": ordered[-1] * 1000,
        "per_s": len(times) / sum(times),
    }
    print(
        f"{name:<26} n={stats['n']:>6}  mean={stats['mean_ms']:.3f} ms  "
        f"p50={stats['p50_ms']:.3f}  p90={stats['p90_ms']:.3f}  p99={stats['p99_ms']:.3f}  "
        f"max={stats['max_ms']:.3f} ms  {stats['per_s']:.0f}/s"
    )
    return stats


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("-n", "--decisions", type=int, default=10_000)
    parser.add_argument("--block", type=int, default=500, help="decisions per alternating block")
    parser.add_argument("--audit", action="store_true", help="also measure with an audit log")
    parser.add_argument("--policies", default=str(REPO / "policies"))
    parser.add_argument(
        "--opa", default=os.environ.get("CLEANROOM_OPA") or str(REPO / ".cache" / "bin" / "opa")
    )
    args = parser.parse_args()

    cases = workload()
    opa_process = OpaProcess(args.policies, opa_binary=args.opa)
    with tempfile.TemporaryDirectory() as tmp, opa_process as opa:
        print(f"OPA at {opa.url} ({opa.opa_binary}), policies {args.policies}")
        client = PolicyClient(opa.url, timeout=2.0)
        session = requests.Session()
        # Warm up both paths (connections, OPA's caches, Python's).
        run_layer(client, cases, 500, 0)
        run_bare(session, opa.url, cases, 500, 0)

        layer: list[float] = []
        bare: list[float] = []
        done = 0
        while done < args.decisions:
            block = min(args.block, args.decisions - done)
            bare += run_bare(session, opa.url, cases, block, done)
            layer += run_layer(client, cases, block, done)
            done += block

        print(f"{args.decisions} decisions each, {len(cases)} kinds, blocks of {args.block}:")
        bare_stats = summary("bare requests.Session", bare)
        layer_stats = summary("cleanroom.policy", layer)
        ratio = layer_stats["mean_ms"] / bare_stats["mean_ms"]
        print(f"overhead (mean layer / mean bare): {ratio:.3f}x")

        if args.audit:
            tmp_path = Path(tmp)
            audit = AuditLog(tmp_path / "a.sqlite", tmp_path / "h.json", tmp_path / "k")
            audited = PolicyClient(opa.url, timeout=2.0, audit=audit)
            count = min(args.decisions, 2000)
            summary("cleanroom.policy + audit", run_layer(audited, cases, count, 0))
            print(f"audit log verifies: {audit.verify().reason}")

    goal = layer_stats["p99_ms"] <= 5 and ratio <= 1.2
    print(f"goal (p99 <= 5 ms, overhead <= 1.2x): {'met' if goal else 'NOT met'}")
    print(
        f"RESULT p50_ms={layer_stats['p50_ms']:.3f} p99_ms={layer_stats['p99_ms']:.3f} "
        f"overhead_ratio={ratio:.3f} decisions_per_s={layer_stats['per_s']:.0f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
