"""The ``copied-records`` check: a table of any origin (CSV, TSV, Parquet, XLSX), whatever
its file type, compared with every grant of the request's project, for rows and identifiers
copied from the vault.

The comparison runs in the sandbox (the ``copied-records`` job,
:mod:`cleanroom.tables.copied`) on the stored file and the airlock's copies of the grants,
read-only, on the granted columns only (never the contributor column unless it is granted).
The release policy's data ``data.release.copied_records`` holds the thresholds; this module
turns the job's counts into a pass, a warn or a fail with what to do. A grant whose copy
cannot be read, a sandbox error or thresholds that cannot be read are an ``error``, never a
pass.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cleanroom.airlock.enums import CheckStatus
from cleanroom.airlock.inspect import mediatypes as mt
from cleanroom.airlock.inspect.outcome import CheckOutcome

COPIED_CHECK = "copied-records"
# The tables this check reads (the sandbox job reads each of these).
MEDIA_TYPES = frozenset({mt.CSV, mt.TSV, mt.PARQUET, "application/x-parquet", mt.XLSX})
COPY_WAIT_SECONDS = 30.0
FIX = (
    "Release aggregates (counts, means, model results) instead of rows of the data, or ask "
    "for a verified table made with cleanroom.sdc; then replace the file"
)
# The counts the policy's thresholds apply to: (answer key, max key, what it is, status).
ROW_RULES = (
    ("whole_rows", "max_whole_rows", "row(s) copied whole from"),
    (
        "rearranged_rows",
        "max_rearranged_rows",
        "row(s) copied with columns reordered, renamed or dropped from",
    ),
    (
        "reformatted_rows",
        "max_reformatted_rows",
        "row(s) copied with numbers re-written (another format or precision) from",
    ),
)
RULE_KEYS = (
    "max_whole_rows",
    "max_rearranged_rows",
    "max_reformatted_rows",
    "warn_verbatim_rare_values",
    "max_verbatim_rare_values",
    "rare_at_most",
    "min_evidence_bits",
)


@dataclass(frozen=True)
class GrantCopy:
    """One grant the table is compared with: its label, granted columns and copy."""

    label: str
    columns: tuple[str, ...]
    path: Path


def job_params(media_type: str, grants: Sequence[GrantCopy], rules: Mapping[str, Any]) -> dict:
    return {
        "media_type": media_type,
        "grants": [{"label": g.label, "columns": list(g.columns)} for g in grants],
        "rare_at_most": int(rules["rare_at_most"]),
        "min_evidence_bits": rules["min_evidence_bits"],
    }


def check_copied(
    path: Path,
    media_type: str,
    grants: Sequence[GrantCopy],
    rules: Mapping[str, Any] | None,
    not_compared: Sequence[str] = (),
) -> CheckOutcome:
    """The check of the stored table at ``path`` against ``grants`` (their copies found by
    the caller); ``not_compared``: labels of ended grants whose copy is gone (in the metrics)."""
    from cleanroom import sandbox
    from cleanroom.tables.copied import COPIED_LIMITS

    if not grants:
        return CheckOutcome(
            COPIED_CHECK,
            CheckStatus.PASS,
            "the project has no granted data to compare this table with",
            metrics={"grants": [], "not_compared": list(not_compared)},
        )
    if rules is None or any(k not in rules for k in RULE_KEYS):
        return CheckOutcome(
            COPIED_CHECK,
            CheckStatus.ERROR,
            "the release policy's copied_records thresholds could not be read, so the table "
            "was not compared with the project's data: submit again in a moment",
        )
    result = sandbox.run_warm(
        "copied-records",
        [path, *(g.path for g in grants)],
        job_params(media_type, grants, rules),
        COPIED_LIMITS,
    )
    if not result.ok:
        return CheckOutcome(
            COPIED_CHECK,
            CheckStatus.ERROR,
            f"the table could not be compared with the project's data: {result.message}",
        )
    return outcome(result.value, rules, not_compared)


def outcome(
    answer: Mapping[str, Any], rules: Mapping[str, Any], not_compared: Sequence[str] = ()
) -> CheckOutcome:
    """The check's outcome from the job's ``answer`` and the policy's thresholds (pure)."""
    findings: list[dict[str, Any]] = []
    failed: list[str] = []
    warned: list[str] = []
    for grant in answer.get("grants") or []:
        label = grant.get("label") or "a grant"
        for key, max_key, what in ROW_RULES:
            n = int(grant.get(key) or 0)
            if not n:
                continue
            fail = n > int(rules[max_key])
            rows = ", ".join(str(r) for r in (grant.get("first_rows") or [])[:5])
            findings.append(
                {
                    "rule": key.removesuffix("_rows").replace("_", "-"),
                    "status": (CheckStatus.FAIL if fail else CheckStatus.WARN).value,
                    "location": f"rows {rows}…" if rows else "the table",
                    "message": f"{n:,} {what} {label} (columns matched by their values: "
                    f"{_mapping_text(grant.get('mapping') or {})})",
                    "rows": n,
                    "grant": label,
                }
            )
            (failed if fail else warned).append(f"{n:,} {what} {label}")
    verbatim_total = int(answer.get("verbatim_rare_values") or 0)
    if verbatim_total > int(rules["max_verbatim_rare_values"]):
        verbatim_status = CheckStatus.FAIL
        failed.append(f"{verbatim_total:,} distinct rare values of the granted data as written")
    elif verbatim_total > int(rules["warn_verbatim_rare_values"]):
        verbatim_status = CheckStatus.WARN
        warned.append(f"{verbatim_total:,} distinct rare values of the granted data as written")
    else:
        verbatim_status = CheckStatus.PASS
    for grant in answer.get("grants") or []:
        label = grant.get("label") or "a grant"
        for column, n in sorted((grant.get("verbatim_rare_values") or {}).items()):
            findings.append(
                {
                    "rule": "verbatim-values",
                    "status": verbatim_status.value,
                    "location": f"column {column}",
                    "column": column,
                    "message": f"{int(n):,} distinct value(s) of column {column} appear as "
                    f"written in {label}, where each is rare (e.g. identifiers)",
                    "values": int(n),
                    "grant": label,
                }
            )
    metrics = {
        key: answer.get(key)
        for key in (
            "rows",
            "copied_rows",
            "whole_rows",
            "rearranged_rows",
            "reformatted_rows",
            "verbatim_rare_values",
            "scan_s",
        )
    }
    grants: list[dict] = [
        {k: g.get(k) for k in ("label", "mapping", "copied_rows", "evidence_bits")}
        for g in answer.get("grants") or []
    ]
    metrics["grants"] = grants
    metrics["not_compared"] = list(not_compared)
    compared = f"{int(answer.get('rows') or 0):,} rows compared with {len(grants)} grant(s)"
    copied = int(answer.get("copied_rows") or 0)
    if failed:
        return CheckOutcome(
            COPIED_CHECK,
            CheckStatus.FAIL,
            f"{copied:,} row(s) copied from the project's granted data are in this table "
            f"({'; '.join(failed)}). Data rows may not leave the clean room. {FIX}",
            tuple(findings),
            metrics,
        )
    if warned:
        return CheckOutcome(
            COPIED_CHECK,
            CheckStatus.WARN,
            f"{compared}; a reviewer must look at: {'; '.join(warned)}",
            tuple(findings),
            metrics,
        )
    return CheckOutcome(
        COPIED_CHECK,
        CheckStatus.PASS,
        f"{compared}; no copied row found",
        tuple(findings),
        metrics,
    )


def _mapping_text(mapping: Mapping[str, str]) -> str:
    return ", ".join(f"{e}→{g}" if e != g else e for e, g in mapping.items()) or "none"
