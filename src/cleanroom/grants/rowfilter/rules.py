"""The row filter's rules as data: limits, the words it knows and refuses, the characters
it refuses, and the kinds of column types that may be compared."""

from __future__ import annotations

import re

from cleanroom.errors import CleanRoomError

MAX_LENGTH = 4000
"""Longest accepted filter, in characters."""

MAX_DEPTH = 32
"""Deepest accepted nesting of parentheses and NOT."""

MAX_NUMBER_DIGITS = 38

ALLOWED = (
    "A row filter may use the dataset's column names (double-quote names that are not plain "
    "words, e.g. \"lot id\"), literals (numbers, 'text' in single quotes, DATE '2024-01-31', "
    "TIMESTAMP '2024-01-31 08:00:00', TRUE, FALSE, NULL), comparisons (= <> != < <= > >=), "
    "BETWEEN ... AND ..., IN (a list of literals), IS [NOT] NULL, [NOT] LIKE / ILIKE 'pattern', "
    "AND, OR, NOT and parentheses. Example: plant IN ('P1', 'P2') AND yield_pct >= 80"
)

KEYWORDS = frozenset("AND OR NOT IN IS NULL TRUE FALSE BETWEEN LIKE ILIKE DATE TIMESTAMP".split())

# Words that mean the author is writing a query, not a filter: named in the error.
QUERY_WORDS = frozenset(
    """
    SELECT FROM WITH UNION EXCEPT INTERSECT VALUES TABLE JOIN INSERT UPDATE DELETE DROP CREATE
    ALTER ATTACH DETACH COPY EXPORT IMPORT INSTALL LOAD PRAGMA SET RESET CALL EXECUTE PREPARE
    DESCRIBE SUMMARIZE PIVOT UNPIVOT EXISTS ANY ALL SOME CAST TRY_CAST CASE WHEN THEN ELSE END
    COLLATE ESCAPE SIMILAR REGEXP INTERVAL DISTINCT LAMBDA
    """.split()
)

COMPARISONS = {"=": "=", "<>": "<>", "!=": "<>", "<": "<", "<=": "<=", ">": ">", ">=": ">="}

NUMBER_PATTERN = re.compile(r"(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
WORD_PATTERN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
SPACES = " \t\r\n"

# Characters refused even inside quotes: controls, and the invisible or direction-changing
# ones that make a filter read differently from what it does ("Trojan Source").
INVISIBLE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})


class RowFilterError(CleanRoomError):
    """A row filter was refused; the message says where, what is wrong and what is allowed."""


# ---------------------------------------------------------------------------------------------
# Types: each column's DuckDB type falls in one kind; comparisons need compatible kinds.

NUMBER, TEXT, BOOLEAN, DATE, TIMESTAMP, NULL, OTHER = (
    "number text boolean date timestamp null other".split()
)

_NUMERIC_TYPES = re.compile(
    r"^(U?(TINY|SMALL|BIG|HUGE)?INT(EGER)?\d*|INT\d+|FLOAT\d*|DOUBLE|REAL|DECIMAL|NUMERIC)\b"
)


def type_kind(duckdb_type: str) -> str:
    """The kind of a DuckDB type name (``'DECIMAL(10,2)'`` is a number)."""
    name = duckdb_type.strip().upper()
    if name.endswith("]") or name.startswith(("STRUCT", "MAP", "UNION", "LIST", "ARRAY")):
        return OTHER
    if _NUMERIC_TYPES.match(name):
        return NUMBER
    if name.startswith(("VARCHAR", "TEXT", "STRING", "CHAR", "BPCHAR")):
        return TEXT
    if name in {"BOOLEAN", "BOOL", "LOGICAL"}:
        return BOOLEAN
    if name == "DATE":
        return DATE
    if name.startswith(("TIMESTAMP", "DATETIME")):
        return TIMESTAMP
    return OTHER


def compatible(a: str, b: str) -> bool:
    if a == b or OTHER in (a, b):
        return True
    return {a, b} in ({DATE, TIMESTAMP}, {DATE, TEXT}, {TIMESTAMP, TEXT})
