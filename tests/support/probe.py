"""Try every way out and report what answered: run in a researcher's kernel, in a control
container of the test's own, or on the host, with the same plan, so results can be paired.

``run(plan)`` with plan = {"tcp": [[host, port], ...], "udp": [[host, port], ...],
"names": [...], "resolvers": [...], "http": ["METHOD url", ...]}; returns a dict.
As a script: ``python3 probe.py '<plan as JSON>'`` prints the result as JSON.
"""

import concurrent.futures
import json
import os
import socket
import struct
import sys
import urllib.request


def run(plan):
    result = {"tcp": {}, "udp": {}, "names": {}, "resolvers": {}, "http": {}}

    def try_tcp(target):
        host, port = target
        try:
            with socket.create_connection((host, port), timeout=3):
                return f"{host}:{port}", "connected"
        except OSError as error:
            return f"{host}:{port}", type(error).__name__

    # In parallel: a dropped packet costs the whole timeout.
    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        result["tcp"].update(pool.map(try_tcp, plan.get("tcp", [])))

    for host, port in plan.get("udp", []):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            try:
                s.sendto(b"canary", (host, port))
                result["udp"][f"{host}:{port}"] = "sent"
            except OSError as error:
                result["udp"][f"{host}:{port}"] = type(error).__name__

    for name in plan.get("names", []):
        try:
            result["names"][name] = sorted({a[4][0] for a in socket.getaddrinfo(name, 443)})
        except OSError as error:
            result["names"][name] = type(error).__name__

    def dns_query(server, name):
        header = struct.pack(">HHHHHH", 0x1234, 0x0100, 1, 0, 0, 0)
        qname = b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\0"
        packet = header + qname + struct.pack(">HH", 1, 1)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(3)
            try:
                s.sendto(packet, (server, 53))
                reply, _ = s.recvfrom(4096)
            except OSError as error:
                return type(error).__name__
        rcode = reply[3] & 0x0F
        answers = struct.unpack(">H", reply[6:8])[0]
        return {"rcode": rcode, "answers": answers}

    for server in plan.get("resolvers", []):
        result["resolvers"][server] = {n: dns_query(server, n) for n in plan.get("names", [])}

    token = os.environ.get("JUPYTERHUB_API_TOKEN", "")
    for url in plan.get("http", []):
        method, _, url = url.partition(" ")
        request = urllib.request.Request(
            url,
            method=method,
            headers={"Authorization": f"token {token}"},
            data=b"{}" if method == "POST" else None,
        )
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                result["http"][f"{method} {url}"] = response.status
        except urllib.error.HTTPError as error:
            result["http"][f"{method} {url}"] = error.code
        except OSError as error:
            result["http"][f"{method} {url}"] = type(error).__name__

    return result


if __name__ == "__main__" and len(sys.argv) == 2 and sys.argv[1].startswith("{"):
    print(json.dumps(run(json.loads(sys.argv[1]))))
