"""The lab server's side of the kernel channel (extensions/cleanroom-lab/cleanroom_lab/kernels.py):
the output budget, the socket resolver and the image-only kernel specs, without containers.
The same code is exercised for real, against a kernel container, in tests/integration."""

from __future__ import annotations

import json
import os
import socket

import pytest

from cleanroom_lab import kernels


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def budget(clock: Clock) -> kernels.OutputBudget:
    return kernels.OutputBudget(
        bytes_per_second=1000,
        burst_bytes=3000,
        messages_per_second=100,
        control_bytes_per_second=100,
        control_burst_bytes=500,
        clock=clock,
    )


def test_output_passes_within_the_burst_then_only_at_the_rate():
    clock = Clock()
    b = budget(clock)
    assert all(b.admit("stream", 1000) for _ in range(3))
    assert not b.admit("stream", 1000), "the burst is spent"
    clock.now += 1.0
    assert b.admit("stream", 1000), "one second buys the rate again"
    assert not b.admit("stream", 10)
    assert b.dropped_bytes == 1010


def test_over_a_long_flood_what_passes_is_burst_plus_rate_times_time():
    clock = Clock()
    b = budget(clock)
    passed = 0
    for _ in range(10_000):  # 100 s of 100 messages of 200 bytes per second offered
        clock.now += 0.01
        if b.admit("display_data", 200):
            passed += 200
    assert 100 * 1000 <= passed <= 3000 + 100 * 1000 + 200


def test_status_and_replies_have_their_own_budget_so_cells_finish():
    clock = Clock()
    b = budget(clock)
    while b.admit("stream", 500):
        pass
    assert b.admit("status", 100) and b.admit("execute_reply", 300)
    assert not b.admit("execute_reply", 300), "the control budget is bounded too"


def test_message_count_is_bounded_even_for_tiny_messages():
    clock = Clock()
    b = budget(clock)
    passed = sum(b.admit("stream", 1) for _ in range(10_000))
    assert passed <= 300  # 100 messages per second, a burst of three seconds


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        (json.dumps({"channel": "iopub", "header": {"msg_type": "stream"}}), ("iopub", "stream")),
        ("not json at all", ("", "")),
        (json.dumps([1, 2]), ("", "")),
        (json.dumps({"channel": "shell", "header": None}), ("shell", "")),
    ],
)
def test_messages_are_read_as_data(message, expected):
    channel, msg_type, _parent = kernels._summary(message)
    assert (channel, msg_type) == expected


async def test_the_gateway_name_resolves_only_to_a_real_socket(tmp_path, monkeypatch):
    path = tmp_path / "gateway.sock"
    monkeypatch.setenv(kernels.SOCKET_ENV, str(path))
    resolver = kernels.KernelSocketResolver()
    with pytest.raises(OSError, match="not ready"):
        await resolver.resolve(kernels.GATEWAY_HOST, 80)
    # A link the kernel side made to somewhere else is not followed.
    target = tmp_path / "elsewhere.sock"
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(str(target))
    os.symlink(target, path)
    with pytest.raises(OSError, match="not a socket"):
        await resolver.resolve(kernels.GATEWAY_HOST, 80)
    os.unlink(path)
    listener2 = socket.socket(socket.AF_UNIX)
    listener2.bind(str(path))
    assert await resolver.resolve(kernels.GATEWAY_HOST, 80) == [(socket.AF_UNIX, str(path))]
    # Every other name resolves as usual.
    addresses = await resolver.resolve("127.0.0.1", 80)
    assert addresses[0][1][0] == "127.0.0.1"
    listener.close()
    listener2.close()
    resolver.close()
