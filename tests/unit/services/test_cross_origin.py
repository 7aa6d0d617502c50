"""The services' own check that a state change came from their origin (behind the edge's)."""

from __future__ import annotations

import pytest

from cleanroom.services.app import cross_origin_reason

HOST = "cleanroom.test:8443"


@pytest.mark.parametrize(
    ("method", "headers"),
    [
        ("POST", {"Origin": "https://alice.cleanroom.test:8443", "Sec-Fetch-Site": "same-site"}),
        ("POST", {"Sec-Fetch-Site": "same-site"}),
        ("POST", {"Sec-Fetch-Site": "cross-site"}),
        ("DELETE", {"Origin": "https://alice.cleanroom.test:8443"}),
        ("PUT", {"Origin": "null"}),
        ("POST", {"Origin": "https://cleanroom.test"}),  # another port is another origin
    ],
)
def test_requests_from_other_origins_are_refused(method, headers):
    assert cross_origin_reason(method, headers, HOST)


@pytest.mark.parametrize(
    ("method", "headers"),
    [
        ("POST", {"Origin": "https://cleanroom.test:8443", "Sec-Fetch-Site": "same-origin"}),
        ("POST", {"Sec-Fetch-Site": "none"}),
        ("POST", {}),  # not a browser: no ambient cookies to worry about beyond XSRF
        ("GET", {"Origin": "https://alice.cleanroom.test:8443", "Sec-Fetch-Site": "same-site"}),
    ],
)
def test_requests_from_this_origin_pass(method, headers):
    assert cross_origin_reason(method, headers, HOST) == ""
