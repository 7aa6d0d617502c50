"""The policy revision: a digest of the policy texts, the same whether read from OPA's loaded
modules or from a policies directory, so that a decision names the policies that made it."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from cleanroom.policy.opa import policy_files

if TYPE_CHECKING:
    from cleanroom.policy.client import PolicyClient


def revision_of_modules(sources: Iterable[str]) -> str:
    """The policy revision: a SHA-256 over the (sorted) SHA-256s of the loaded policy texts.

    File names and load order do not count, so OPA's loaded modules and a checkout of
    ``policies/`` (:func:`revision_of_dir`) give the same revision.
    """
    digests = sorted(hashlib.sha256(s.encode("utf-8")).hexdigest() for s in sources)
    return hashlib.sha256("\n".join(digests).encode("ascii")).hexdigest()


def revision_of_dir(policies_dir: str | os.PathLike[str]) -> str:
    """The revision OPA will report once it has loaded ``policies_dir``."""
    return revision_of_modules(p.read_text(encoding="utf-8") for p in policy_files(policies_dir))


def revision_matches(client: PolicyClient, policies_dir: str | Path) -> bool:
    """Whether OPA runs exactly the policies in ``policies_dir`` (for operators and tests)."""
    return client.fetch_revision() == revision_of_dir(policies_dir)
