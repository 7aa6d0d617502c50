"""The row filter's entry points: parse and check a filter, print it as SQL, list its
columns."""

from __future__ import annotations

from collections.abc import Mapping

from cleanroom.grants.rowfilter.lexer import refuse
from cleanroom.grants.rowfilter.parser import Parser
from cleanroom.grants.rowfilter.rules import MAX_LENGTH, RowFilterError
from cleanroom.grants.rowfilter.syntax import (
    Between,
    BoolOp,
    Column,
    Comparison,
    InList,
    IsNull,
    Like,
    Node,
    Not,
    Truth,
)


def parse_row_filter(expression: str, columns: Mapping[str, str]) -> Node:
    """The checked syntax tree of ``expression`` over ``columns`` (name -> DuckDB type)."""
    if not isinstance(expression, str):
        raise RowFilterError(f"A row filter must be text, not {type(expression).__name__}.")
    if len(expression) > MAX_LENGTH:
        raise refuse(f"the filter is {len(expression)} characters long; the limit is {MAX_LENGTH}")
    if "\x00" in expression:
        raise refuse("the NUL character is not allowed", expression.index("\x00"))
    return Parser(expression, columns).parse()


def check_row_filter(expression: str, columns: Mapping[str, str]) -> str:
    """A normalised SQL boolean expression equivalent to ``expression``, safe for ``WHERE (...)``.

    ``columns`` maps each column of the dataset to its DuckDB type (``{"plant": "VARCHAR",
    "yield_pct": "DOUBLE"}``). Raises :class:`RowFilterError` when the filter is not allowed.
    Normalising is idempotent: checking the result again returns it unchanged.
    """
    return parse_row_filter(expression, columns).sql()


def filter_columns(expression: str, columns: Mapping[str, str]) -> frozenset[str]:
    """The dataset columns a (valid) row filter refers to."""
    found: set[str] = set()

    def walk(node: object) -> None:
        if isinstance(node, Column):
            found.add(node.name)
        elif isinstance(node, BoolOp):
            for o in node.operands:
                walk(o)
        elif isinstance(node, Not | Truth):
            walk(node.operand)
        elif isinstance(node, Comparison):
            walk(node.left)
            walk(node.right)
        elif isinstance(node, Between):
            walk(node.operand)
            walk(node.low)
            walk(node.high)
        elif isinstance(node, InList | IsNull | Like):
            walk(node.operand)

    walk(parse_row_filter(expression, columns))
    return frozenset(found)
