"""The ``table`` check: a verified table is recomputed from the vault's data, outside the
researcher's container, and checked by counting organisations.

At upload (:func:`resolve`) the specification the lab server sent with the file
(``X-Cleanroom-Table-Spec``) is read and checked against the project's grants: the grant it
names must be one of this project's, for the dataset it names; every column it uses must be
granted; its filter must pass the grants' row-filter checker (which re-prints it as SQL).
Anything else is refused with what to fix, and nothing is stored.

At submission (:func:`check_table`) the sandbox job ``table-recompute`` gets the submitted
file and the airlock's copy of that grant (the granted rows, with the contributor column),
read-only, and nothing else; DuckDB runs there with external access off. It recomputes the
table, compares it with the file within a tolerance after the declared rounding, and
measures every cell's contributing organisations. The rules
(:mod:`cleanroom.tables.rules`), with parameters from the release policy's data
(``data.release.table_rules``), turn those measures into findings: failing cells, and why.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cleanroom.airlock.enums import CheckStatus
from cleanroom.airlock.errors import InvalidInput
from cleanroom.airlock.inspect import mediatypes as mt
from cleanroom.airlock.inspect.outcome import CheckOutcome
from cleanroom.grants.rowfilter import RowFilterError, check_row_filter, type_kind
from cleanroom.grants.rowfilter.rules import NUMBER
from cleanroom.tables import spec as table_spec

SPEC_HEADER = "X-Cleanroom-Table-Spec"
TABLE_CHECK = "table"
# The media types a verified table's file may have, by the specification's file_format.
FILE_MEDIA_TYPES = {
    "csv": {mt.CSV},
    "parquet": {mt.PARQUET, "application/x-parquet"},
}
# Aggregates over a measure that need numbers.
NUMERIC_AGGREGATES = {"sum", "mean", "median"}
MAX_FINDINGS_SHOWN = 200
# How long a submission waits for the airlock's copy of a grant that is still being written.
COPY_WAIT_SECONDS = 30.0


@dataclass(frozen=True)
class ResolvedTable:
    """A specification checked against the project's grants, and what its recompute needs."""

    spec: table_spec.TableSpec
    grant_id: int
    grant_key: str
    dataset: str
    version: int
    where: str | None
    contributor_column: str
    organisations: Mapping[str, str]


def decode_header(value: str | None) -> dict | None:
    """The specification from the upload's header (base64url JSON), or None without one."""
    if value is None or value == "":
        return None
    if len(value) > table_spec.MAX_SPEC_BYTES * 2:
        raise InvalidInput(f"the table's specification is over {table_spec.MAX_SPEC_BYTES} bytes")
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
        doc = json.loads(raw)
    except (binascii.Error, ValueError) as error:
        raise InvalidInput(
            f"the {SPEC_HEADER} header is not base64url-encoded JSON ({error}); it is written "
            "by cleanroom.sdc beside the table: make the table again with it"
        ) from None
    if not isinstance(doc, dict):
        raise InvalidInput("the table's specification must be a JSON object")
    return doc


def resolve(doc: Mapping[str, Any], project: str, catalog) -> ResolvedTable:
    """``doc`` checked against ``project``'s grants (``catalog``: the catalog service, for
    ``grants_for`` and ``get_version``). Raises :class:`InvalidInput` saying what to fix."""
    try:
        spec = table_spec.parse_spec(dict(doc))
    except table_spec.SpecError as error:
        raise InvalidInput(f"the table's specification: {error}") from None
    grant = next(
        (g for g in catalog.grants_for(project) if g.materialisation_key == spec.grant), None
    )
    if grant is None:
        raise InvalidInput(
            f"the table was made from data that is not granted to project {project} (grant "
            f"{spec.grant[:12]}…); make it from this project's datasets"
        )
    if grant.dataset != spec.dataset:
        raise InvalidInput(
            f"the table names dataset {spec.dataset!r}, but its grant is of {grant.dataset!r}"
        )
    version = catalog.get_version(grant.dataset, grant.version)
    granted = list(grant.columns) if grant.columns is not None else list(version.schema)
    types = {c: version.schema[c] for c in granted if c in version.schema}
    ungranted = sorted(spec.used_columns() - set(types))
    if ungranted:
        raise InvalidInput(
            f"column(s) {', '.join(ungranted)} of {spec.dataset} are not granted to project "
            f"{project} (granted: {', '.join(types)})"
        )
    for value in spec.values:
        if value.aggregate in NUMERIC_AGGREGATES and type_kind(types[value.measure]) != NUMBER:
            raise InvalidInput(
                f"{value.aggregate} needs a number, and {value.measure} is {types[value.measure]}"
            )
    where = None
    if spec.filter is not None:
        try:
            where = check_row_filter(spec.filter, types)
        except RowFilterError as error:
            raise InvalidInput(f"the table's filter is refused: {error}") from None
    return ResolvedTable(
        spec=spec,
        grant_id=grant.id,
        grant_key=spec.grant,
        dataset=grant.dataset,
        version=grant.version,
        where=where,
        contributor_column=version.contributor_column,
        organisations=dict(version.contributors),
    )


def check_media_type(resolved: ResolvedTable, media_type: str) -> None:
    """The file is what its specification says it is (a CSV or a Parquet file)."""
    allowed = FILE_MEDIA_TYPES[resolved.spec.file_format]
    if media_type not in allowed:
        raise InvalidInput(
            f"the specification says the table is {resolved.spec.file_format}, but the file's "
            f"content is {media_type}: save it again with cleanroom.sdc"
        )


def recompute_params(resolved: ResolvedTable) -> dict[str, Any]:
    """The ``table-recompute`` job's parameters (the contract in ``cleanroom.tables``)."""
    return {
        "spec": resolved.spec.as_json(),
        "where": resolved.where,
        "contributor_column": resolved.contributor_column,
        "organisations": dict(resolved.organisations),
    }


def metrics_of(resolved: ResolvedTable, answer: Mapping[str, Any] | None = None) -> dict:
    """What the reviewer page shows about the table besides its findings."""
    metrics: dict[str, Any] = {
        "spec": resolved.spec.as_json(),
        "described": resolved.spec.describe(),
        "dataset": resolved.dataset,
        "version": resolved.version,
        "grant": resolved.grant_id,
    }
    if answer:
        cells = answer.get("cells") or []
        counted = [c["organisations"] for c in cells if c.get("organisations")]
        metrics["rows"] = answer.get("rows")
        metrics["cells"] = len(cells)
        metrics["min_organisations"] = min(counted) if counted else 0
        metrics["timings"] = answer.get("timings") or {}
    return metrics


def mismatch_findings(answer: Mapping[str, Any]) -> list[dict]:
    """The job's mismatches as findings (rule ``recompute``)."""
    findings = []
    for m in answer.get("mismatches") or []:
        row, column = m.get("row"), m.get("column")
        where = []
        if row is not None:
            where.append(f"row {int(row) + 1}")
        if column is not None:
            where.append(f"column {column}")
        findings.append(
            {
                "row": row,
                "column": column,
                "rule": "recompute",
                "status": CheckStatus.FAIL.value,
                "location": ", ".join(where) or "the table",
                "message": str(m.get("message", "differs")),
            }
        )
    return findings


def check_table(
    path: Path,
    resolved: ResolvedTable,
    grants_dir: Path | None,
    rules: Mapping[str, Any] | None,
) -> CheckOutcome:
    """The ``table`` check of the stored file at ``path``: recomputed in the sandbox from
    the grant's airlock copy under ``grants_dir``, then the release policy's ``rules``
    (None: they could not be read, so nothing is checked and the outcome is an error)."""
    from cleanroom import sandbox
    from cleanroom.grants.cache import AirlockCopyPending, wait_for_airlock_copy
    from cleanroom.tables import rules as table_rules
    from cleanroom.tables.recompute import RECOMPUTE_LIMITS

    metrics = metrics_of(resolved)

    def error(message: str) -> CheckOutcome:
        return CheckOutcome(TABLE_CHECK, CheckStatus.ERROR, message, (), metrics)

    if rules is None:
        return error(
            "the release policy's table rules could not be read (the policy service did not "
            "answer), so the table was not checked: submit again in a moment"
        )
    if grants_dir is None:
        return error("this airlock has no grant copies to recompute tables from")
    try:
        copy = wait_for_airlock_copy(grants_dir, resolved.grant_key, timeout=COPY_WAIT_SECONDS)
    except (AirlockCopyPending, OSError) as why:
        return error(
            f"the airlock's copy of the {resolved.dataset} grant is not ready ({why}); "
            "submit again in a few minutes"
        )
    result = sandbox.run(
        "table-recompute", [path, copy], recompute_params(resolved), RECOMPUTE_LIMITS
    )
    if not result.ok:
        return error(f"the table could not be recomputed: {result.message}")
    answer = result.value
    metrics = metrics_of(resolved, answer)
    count = int(answer.get("mismatch_count") or 0)
    if count:
        findings = mismatch_findings(answer)
        first = f" (first: {findings[0]['location']}: {findings[0]['message']})" if findings else ""
        return CheckOutcome(
            TABLE_CHECK,
            CheckStatus.FAIL,
            f"the table does not match its specification: {count} difference(s){first}. "
            "Make it again with cleanroom.sdc from the data and replace the file",
            tuple(findings[:MAX_FINDINGS_SHOWN]),
            metrics,
        )
    try:
        findings = table_rules.evaluate(resolved.spec, answer["cells"], rules)
        status, message = table_rules.outcome(findings)
    except (KeyError, TypeError, ValueError) as why:
        return error(f"the release policy's table rules could not be applied: {why}")
    return CheckOutcome(
        TABLE_CHECK,
        CheckStatus(status),
        f"{resolved.spec.describe()}: {message}",
        tuple(findings[:MAX_FINDINGS_SHOWN]),
        metrics,
    )
