"""Row filters of grants: checked, parsed and rebuilt before any of it reaches SQL.

::

    check_row_filter("plant IN ('P1', 'P2') AND yield_pct >= 80", {"plant": "VARCHAR", ...})
    -> '"plant" IN (\\'P1\\', \\'P2\\') AND "yield_pct" >= 80'

A row filter is a boolean expression over one dataset's columns. The text is read by a small
tokenizer and a recursive-descent parser into a syntax tree, the tree is checked (known
columns, compatible types, a boolean result), and the SQL returned is printed from the tree:
identifiers always double-quoted, strings re-quoted, numbers and dates re-formatted. No byte
of the input is copied into the output except the contents of string literals and quoted
column names, which are re-escaped. The caller embeds the result as ``WHERE (<result>)``.

The grammar (keywords in any case)::

    filter     := or
    or         := and ("OR" and)*
    and        := not ("AND" not)*
    not        := "NOT" not | "(" or ")" | predicate
    predicate  := operand
                | operand ("=" | "<>" | "!=" | "<" | "<=" | ">" | ">=") operand
                | operand ["NOT"] "BETWEEN" operand "AND" operand
                | operand ["NOT"] "IN" "(" literal ("," literal)* ")"
                | operand "IS" ["NOT"] "NULL"
                | operand ["NOT"] ("LIKE" | "ILIKE") string
    operand    := column | literal
    column     := name | "quoted name"
    literal    := ["-"] number | string | "DATE" string | "TIMESTAMP" string
                | "TRUE" | "FALSE" | "NULL"

Anything else (function calls, subqueries, casts, arithmetic, comments, ``;``, characters
outside ASCII except inside quotes) is refused with a :class:`RowFilterError` saying where, what
is wrong and what is allowed. The checks issue reuses this module for release checks.
"""

from __future__ import annotations

from cleanroom.grants.rowfilter.check import check_row_filter, filter_columns, parse_row_filter
from cleanroom.grants.rowfilter.rules import (
    ALLOWED,
    MAX_DEPTH,
    MAX_LENGTH,
    RowFilterError,
    type_kind,
)
from cleanroom.grants.rowfilter.syntax import Node

__all__ = [
    "ALLOWED",
    "MAX_DEPTH",
    "MAX_LENGTH",
    "Node",
    "RowFilterError",
    "check_row_filter",
    "filter_columns",
    "parse_row_filter",
    "type_kind",
]
