"""Verified tables as ``cleanroom.sdc`` makes them in a researcher's container: the long
result of ``spec.long_query`` over the researcher's copy of a grant, ``spec.shape``, each cell
written with ``spec.cell_text``; and the specification as the lab server sends it."""

from __future__ import annotations

import base64
import csv
import io
import json
from pathlib import Path

import duckdb

from cleanroom.tables import spec as table_spec


def make_table(data: Path, doc: dict) -> bytes:
    """The CSV bytes of the table ``doc`` specifies, over the Parquet file ``data`` (the view
    the researcher queried is named as the specification's dataset)."""
    spec = table_spec.parse_spec(doc)
    con = duckdb.connect()
    try:
        con.read_parquet(str(data)).create_view(spec.dataset)
        long_rows = con.execute(
            table_spec.long_query(spec, table_spec.quote_identifier(spec.dataset), spec.filter)
        ).fetchall()
    finally:
        con.close()
    header, rows = table_spec.shape(spec, long_rows)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows([table_spec.cell_text(v) for v in row] for row in rows)
    return out.getvalue().encode()


def spec_header(doc: dict) -> str:
    """The ``X-Cleanroom-Table-Spec`` header's value for ``doc``."""
    return base64.urlsafe_b64encode(json.dumps(doc).encode()).decode().rstrip("=")
