"""Canary servers of the test's own, on this host, that record whoever reaches them."""

from __future__ import annotations

import socket
import threading


class Canary:
    """A TCP and a UDP listener on all host addresses, same port number, counting contacts."""

    def __init__(self) -> None:
        self.tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.tcp.bind(("0.0.0.0", 0))
        self.port = self.tcp.getsockname()[1]
        self.tcp.listen(16)
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp.bind(("0.0.0.0", self.port))
        self.tcp_contacts: list[str] = []
        self.udp_contacts: list[str] = []
        self._stop = threading.Event()
        for target in (self._accept, self._receive):
            threading.Thread(target=target, daemon=True).start()

    def _accept(self) -> None:
        self.tcp.settimeout(0.2)
        while not self._stop.is_set():
            try:
                conn, addr = self.tcp.accept()
            except OSError:
                continue
            self.tcp_contacts.append(addr[0])
            conn.close()

    def _receive(self) -> None:
        self.udp.settimeout(0.2)
        while not self._stop.is_set():
            try:
                _data, addr = self.udp.recvfrom(2048)
            except OSError:
                continue
            self.udp_contacts.append(addr[0])

    def close(self) -> None:
        self._stop.set()
        self.tcp.close()
        self.udp.close()
