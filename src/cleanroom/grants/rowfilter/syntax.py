"""The row filter's syntax tree: every node prints itself as SQL (identifiers quoted,
literals re-quoted or re-formatted). Named ``syntax`` rather than ``ast`` so that it never
reads as the standard library's module."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from cleanroom.grants.rowfilter.rules import BOOLEAN, DATE, NULL, NUMBER, TEXT


@dataclass(frozen=True)
class Column:
    name: str
    kind: str

    def sql(self) -> str:
        return '"' + self.name.replace('"', '""') + '"'


@dataclass(frozen=True)
class Literal:
    kind: str
    value: object  # int | Decimal | str | bool | None | date | datetime

    def sql(self) -> str:
        v = self.value
        if self.kind == NULL:
            return "NULL"
        if self.kind == BOOLEAN:
            return "TRUE" if v else "FALSE"
        if self.kind == NUMBER:
            return str(v)
        if self.kind == TEXT:
            return quote_string(str(v))
        if self.kind == DATE:
            assert isinstance(v, dt.date)
            return f"DATE '{v.isoformat()}'"
        assert isinstance(v, dt.datetime)
        return f"TIMESTAMP '{v.isoformat(sep=' ')}'"


Operand = Column | Literal


@dataclass(frozen=True)
class Comparison:
    op: str
    left: Operand
    right: Operand

    def sql(self) -> str:
        return f"{self.left.sql()} {self.op} {self.right.sql()}"


@dataclass(frozen=True)
class Between:
    operand: Operand
    low: Operand
    high: Operand
    negated: bool

    def sql(self) -> str:
        op = "NOT BETWEEN" if self.negated else "BETWEEN"
        return f"{self.operand.sql()} {op} {self.low.sql()} AND {self.high.sql()}"


@dataclass(frozen=True)
class InList:
    operand: Operand
    items: tuple[Literal, ...]
    negated: bool

    def sql(self) -> str:
        op = "NOT IN" if self.negated else "IN"
        return f"{self.operand.sql()} {op} ({', '.join(i.sql() for i in self.items)})"


@dataclass(frozen=True)
class IsNull:
    operand: Operand
    negated: bool

    def sql(self) -> str:
        return f"{self.operand.sql()} IS {'NOT NULL' if self.negated else 'NULL'}"


@dataclass(frozen=True)
class Like:
    operand: Operand
    pattern: Literal
    negated: bool
    case_insensitive: bool

    def sql(self) -> str:
        op = ("NOT " if self.negated else "") + ("ILIKE" if self.case_insensitive else "LIKE")
        return f"{self.operand.sql()} {op} {self.pattern.sql()}"


@dataclass(frozen=True)
class Truth:
    """A bare boolean column or TRUE/FALSE used as a condition."""

    operand: Operand

    def sql(self) -> str:
        return self.operand.sql()


@dataclass(frozen=True)
class Not:
    operand: Node

    def sql(self) -> str:
        return f"NOT ({self.operand.sql()})"


@dataclass(frozen=True)
class BoolOp:
    op: str  # "AND" | "OR"
    operands: tuple[Node, ...]

    def sql(self) -> str:
        return f" {self.op} ".join(
            f"({o.sql()})" if isinstance(o, BoolOp) else o.sql() for o in self.operands
        )


Node = Comparison | Between | InList | IsNull | Like | Truth | Not | BoolOp


def quote_string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"
