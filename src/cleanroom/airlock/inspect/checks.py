"""Automatic checks the airlock runs itself, outside every container, on the stored bytes.

Anything computed inside the researcher's container (counts, metadata, check results) is
never taken: checks read the blob the airlock stored. Each check is a function
``(CheckSubject) -> CheckOutcome`` in :data:`CHECKS`; disclosure checks (minimum companies,
dominance) are added to that list by their own modules. The release policy requires every file
to have been looked at by at least one check, and decides what a warn or a fail means.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cleanroom.airlock.enums import CheckStatus
from cleanroom.airlock.store import CHUNK
from cleanroom.core.hashing import sha256_fileobj


@dataclass(frozen=True)
class CheckSubject:
    path: Path
    name: str
    type: str
    media_type: str
    size: int
    sha256: str


@dataclass(frozen=True)
class CheckOutcome:
    check: str
    status: CheckStatus
    message: str


def check_integrity(subject: CheckSubject) -> CheckOutcome:
    """The stored bytes still hash to what the request points at."""
    with open(subject.path, "rb") as f:
        digest, size = sha256_fileobj(f, chunk_bytes=CHUNK)
    if digest == subject.sha256 and size == subject.size:
        return CheckOutcome(
            "integrity", CheckStatus.PASS, f"{size} bytes, SHA-256 {subject.sha256}"
        )
    return CheckOutcome("integrity", CheckStatus.ERROR, "the stored bytes do not match their hash")


def check_media_type(subject: CheckSubject) -> CheckOutcome:
    """Reports the media type the airlock found in the content (the release policy decides
    which types a file of each kind may have)."""
    return CheckOutcome(
        "media-type",
        CheckStatus.PASS,
        f"the content is {subject.media_type} (found by the airlock)",
    )


CHECKS: list[Callable[[CheckSubject], CheckOutcome]] = [check_integrity, check_media_type]


def run_checks(subject: CheckSubject) -> list[CheckOutcome]:
    """Every check on one file; a check that raises is an ``error`` (never a pass)."""
    outcomes = []
    for check in CHECKS:
        name = check.__name__.removeprefix("check_").replace("_", "-")
        try:
            outcome = check(subject)
        except Exception as error:  # noqa: BLE001 - a crashing check must not pass
            outcome = CheckOutcome(name, CheckStatus.ERROR, f"the check could not run: {error}")
        outcomes.append(outcome)
    return outcomes
