"""Pieces of the edge filter (cleanroom.edge.filter) that need no network: the rate, the notice
it puts under a cell, and what counts as a binary write. The whole filter is tested through
the real entry point in tests/integration/test_edge_walls.py."""

from __future__ import annotations

import json

import pytest
from jupyter_server.services.kernels.connection.base import (
    deserialize_msg_from_ws_v1,
    serialize_msg_to_ws_v1,
)

from cleanroom.edge.filter import CellTracker, RateLimiter, _binary_write


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize("sizes", [[1000] * 50, [40_000, 1, 40_000], [250_000], [10] * 3000])
def test_the_rate_bounds_what_is_sent_whatever_the_pattern(sizes):
    clock = Clock()
    limiter = RateLimiter(rate=10_000, burst=50_000, clock=clock)
    sent = 0
    for size in sizes:
        clock.now += limiter.delay(size)  # the sender waits, then sends
        sent += size
        assert sent <= 50_000 + 10_000 * clock.now + 1e-6


def test_a_full_bucket_sends_the_burst_at_once():
    clock = Clock()
    limiter = RateLimiter(rate=10_000, burst=50_000, clock=clock)
    assert limiter.delay(50_000) == 0
    assert limiter.delay(10_000) == pytest.approx(1.0)


def execute_request_header() -> dict:
    return {
        "msg_id": "abc",
        "msg_type": "execute_request",
        "session": "s",
        "username": "u",
        "date": "2026-12-03T00:00:00Z",
        "version": "5.3",
    }


def test_the_notice_answers_the_last_cell_in_the_json_protocol():
    tracker = CellTracker(binary=False)
    header = execute_request_header()
    tracker.seen(json.dumps({"header": header, "channel": "shell", "content": {}}).encode())
    notice = json.loads(tracker.notice("Display quota reached"))
    assert notice["channel"] == "iopub" and notice["parent_header"] == header
    assert notice["content"] == {"name": "stderr", "text": "Display quota reached\n"}


def test_the_notice_answers_the_last_cell_in_the_binary_protocol():
    tracker = CellTracker(binary=True)
    header = execute_request_header()
    frame = serialize_msg_to_ws_v1(
        {"header": header, "parent_header": {}, "metadata": {}, "content": {}},
        "shell",
        pack=lambda part: json.dumps(part).encode(),
    )
    tracker.seen(frame)
    channel, parts = deserialize_msg_from_ws_v1(tracker.notice("Display quota reached"))
    assert channel == "iopub"
    assert json.loads(parts[1]) == header
    assert json.loads(parts[3])["text"] == "Display quota reached\n"


def test_other_messages_and_garbage_leave_the_cell_as_it_was():
    tracker = CellTracker(binary=False)
    tracker.seen(b"not json")
    tracker.seen(json.dumps({"header": {"msg_type": "kernel_info_request"}}).encode())
    assert tracker.parent == {}
    CellTracker(binary=True).seen(b"\xff" * 3)  # does not raise


@pytest.mark.parametrize(
    ("body", "refused"),
    [
        (b'{"type": "file", "format": "text", "content": "a,b"}', False),
        (b'{"type": "notebook", "format": "json", "content": {}}', False),
        (b'{"type": "directory"}', False),
        (b'{"type": "file", "format": "base64", "content": "AAAA"}', True),
        (b"not json", True),
    ],
)
def test_binary_writes_are_refused(body, refused):
    assert bool(_binary_write(body)) is refused
