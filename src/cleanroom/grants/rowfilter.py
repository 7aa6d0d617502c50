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

import datetime as dt
import re
import unicodedata
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

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

KEYWORDS = frozenset(
    {
        "AND",
        "OR",
        "NOT",
        "IN",
        "IS",
        "NULL",
        "TRUE",
        "FALSE",
        "BETWEEN",
        "LIKE",
        "ILIKE",
        "DATE",
        "TIMESTAMP",
    }
)

# Words that mean the author is writing a query, not a filter: named in the error.
_QUERY_WORDS = frozenset(
    {
        "SELECT",
        "FROM",
        "WITH",
        "UNION",
        "EXCEPT",
        "INTERSECT",
        "VALUES",
        "TABLE",
        "JOIN",
        "INSERT",
        "UPDATE",
        "DELETE",
        "DROP",
        "CREATE",
        "ALTER",
        "ATTACH",
        "DETACH",
        "COPY",
        "EXPORT",
        "IMPORT",
        "INSTALL",
        "LOAD",
        "PRAGMA",
        "SET",
        "RESET",
        "CALL",
        "EXECUTE",
        "PREPARE",
        "DESCRIBE",
        "SUMMARIZE",
        "PIVOT",
        "UNPIVOT",
        "EXISTS",
        "ANY",
        "ALL",
        "SOME",
        "CAST",
        "TRY_CAST",
        "CASE",
        "WHEN",
        "THEN",
        "ELSE",
        "END",
        "COLLATE",
        "ESCAPE",
        "SIMILAR",
        "REGEXP",
        "INTERVAL",
        "DISTINCT",
        "LAMBDA",
    }
)

_COMPARISONS = {"=": "=", "<>": "<>", "!=": "<>", "<": "<", "<=": "<=", ">": ">", ">=": ">="}

_NUMBER = re.compile(r"(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_SPACE = " \t\r\n"

# Characters refused even inside quotes: controls, and the invisible or direction-changing
# ones that make a filter read differently from what it does ("Trojan Source").
_INVISIBLE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})


class RowFilterError(CleanRoomError):
    """A row filter was refused; the message says where, what is wrong and what is allowed."""


# ---------------------------------------------------------------------------------------------
# Types: each column's DuckDB type falls in one kind; comparisons need compatible kinds.

NUMBER, TEXT, BOOLEAN, DATE, TIMESTAMP, NULL, OTHER = (
    "number",
    "text",
    "boolean",
    "date",
    "timestamp",
    "null",
    "other",
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


def _compatible(a: str, b: str) -> bool:
    if a == b or OTHER in (a, b):
        return True
    return {a, b} in ({DATE, TIMESTAMP}, {DATE, TEXT}, {TIMESTAMP, TEXT})


# ---------------------------------------------------------------------------------------------
# Tokens


@dataclass(frozen=True)
class Token:
    kind: str  # "word", "name" (quoted), "string", "number", "op", "(", ")", ",", "end"
    text: str  # the value: word as written, unquoted name or string, number text, operator
    pos: int  # 0-based offset in the filter


def _refuse(message: str, pos: int | None = None) -> RowFilterError:
    where = f" at character {pos + 1}" if pos is not None else ""
    return RowFilterError(f"Row filter refused{where}: {message}. {ALLOWED}.")


def _describe_char(ch: str) -> str:
    name = unicodedata.name(ch, "unnamed character")
    return f"{ch!r} (U+{ord(ch):04X} {name})"


def _check_quoted_char(ch: str, pos: int) -> None:
    if unicodedata.category(ch) in _INVISIBLE_CATEGORIES and ch != " ":
        raise _refuse(f"the invisible or control character U+{ord(ch):04X} is not allowed", pos)


def _read_quoted(text: str, start: int, quote: str) -> tuple[str, int]:
    """The unescaped content of a quoted run starting at ``start`` and the offset after it."""
    out = []
    i = start + 1
    while True:
        j = text.find(quote, i)
        if j < 0:
            what = "string" if quote == "'" else "quoted column name"
            raise _refuse(f"this {what} is never closed (a {quote} is missing)", start)
        out.append(text[i:j])
        if text.startswith(quote * 2, j):  # '' inside a string, "" inside a name
            out.append(quote)
            i = j + 2
            continue
        value = "".join(out)
        for k, ch in enumerate(value):
            _check_quoted_char(ch, start + 1 + k)
        return value, j + 1


def tokenize(text: str) -> list[Token]:
    """Tokens of a row filter, ending with an ``end`` token; raises :class:`RowFilterError`."""
    return list(iter_tokens(text))


def iter_tokens(text: str) -> Iterator[Token]:
    """Tokens one by one, so that the parser reports the first problem in reading order."""
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch in _SPACE:
            i += 1
        elif ch == "'":
            value, i2 = _read_quoted(text, i, "'")
            yield Token("string", value, i)
            i = i2
        elif ch == '"':
            value, i2 = _read_quoted(text, i, '"')
            if not value:
                raise _refuse('an empty quoted name ("") is not a column', i)
            yield Token("name", value, i)
            i = i2
        elif text.startswith("--", i):
            raise _refuse("comments (--) are not allowed", i)
        elif text.startswith("/*", i):
            raise _refuse("comments (/* */) are not allowed", i)
        elif ch == ";":
            raise _refuse(
                "a filter is one expression: ';' and a second statement are not allowed", i
            )
        elif text.startswith("::", i):
            raise _refuse("casts (::) are not allowed; write dates as DATE '2024-01-31'", i)
        elif ch.isascii() and (ch.isdigit() or (ch == "." and text[i + 1 : i + 2].isdigit())):
            m = _NUMBER.match(text, i)
            assert m is not None
            end = m.end()
            if end < n and (text[end].isalnum() or text[end] in "_."):
                raise _refuse(f"{text[i : end + 1]!r} is not a number or a name", i)
            yield Token("number", m.group(), i)
            i = end
        elif ch.isascii() and (ch.isalpha() or ch == "_"):
            m = _WORD.match(text, i)
            assert m is not None
            yield Token("word", m.group(), i)
            i = m.end()
        elif text.startswith(("<=", ">=", "<>", "!="), i):
            yield Token("op", text[i : i + 2], i)
            i += 2
        elif ch in "=<>":
            yield Token("op", ch, i)
            i += 1
        elif ch == "-":
            yield Token("op", "-", i)
            i += 1
        elif ch in "(),":
            yield Token(ch, ch, i)
            i += 1
        elif not ch.isascii():
            hint = ""
            if unicodedata.category(ch).startswith("P") or ch in "\u2018\u2019\u201c\u201d":
                hint = "; use the plain ASCII quotes ' and \""
            raise _refuse(
                f"{_describe_char(ch)} is not allowed outside quotes: names and keywords are "
                f"plain ASCII{hint}",
                i,
            )
        elif ch in "+*/%|&^~":
            raise _refuse(f"arithmetic and other operators ({ch}) are not allowed", i)
        elif ch in "?$":
            raise _refuse(f"parameters ({ch}) are not allowed", i)
        else:
            raise _refuse(f"the character {ch!r} is not allowed", i)
    yield Token("end", "", n)


# ---------------------------------------------------------------------------------------------
# Syntax tree: every node prints itself as SQL.


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
            return _quote_string(str(v))
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


def _quote_string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


# ---------------------------------------------------------------------------------------------
# Parser


class _Parser:
    def __init__(self, text: str, columns: Mapping[str, str]):
        self._source = iter_tokens(text)
        self.tokens: list[Token] = []
        self.i = 0
        self.columns = dict(columns)
        self.folded: dict[str, list[str]] = {}
        for name in self.columns:
            self.folded.setdefault(name.casefold(), []).append(name)
        self.depth = 0

    # -- token helpers
    def peek(self, offset: int = 0) -> Token:
        while len(self.tokens) <= self.i + offset:
            if self.tokens and self.tokens[-1].kind == "end":
                return self.tokens[-1]
            self.tokens.append(next(self._source))
        return self.tokens[self.i + offset]

    def next(self) -> Token:
        tok = self.peek()
        self.i += 1
        return tok

    def is_keyword(self, word: str, offset: int = 0) -> bool:
        tok = self.peek(offset)
        return tok.kind == "word" and tok.text.upper() == word

    def accept_keyword(self, word: str) -> bool:
        if self.is_keyword(word):
            self.i += 1
            return True
        return False

    def expect(self, kind: str, what: str) -> Token:
        tok = self.peek()
        if tok.kind != kind:
            raise _refuse(f"expected {what}, found {self.show(tok)}", tok.pos)
        self.i += 1
        return tok

    @staticmethod
    def show(tok: Token) -> str:
        if tok.kind == "end":
            return "the end of the filter"
        if tok.kind == "string":
            return f"the string {_quote_string(tok.text)}"
        if tok.kind == "name":
            return f'the name "{tok.text}"'
        return repr(tok.text)

    def enter(self, pos: int) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise _refuse(f"the filter is nested more than {MAX_DEPTH} levels deep", pos)

    # -- grammar
    def parse(self) -> Node:
        tok = self.peek()
        if tok.kind == "end":
            raise _refuse("the filter is empty (to grant every row, give no filter)")
        node = self.parse_or()
        tok = self.peek()
        if tok.kind != "end":
            raise _refuse(f"unexpected {self.show(tok)} after a complete condition", tok.pos)
        return node

    def parse_or(self) -> Node:
        parts = [self.parse_and()]
        while self.accept_keyword("OR"):
            parts.append(self.parse_and())
        return self._flatten("OR", parts)

    def parse_and(self) -> Node:
        parts = [self.parse_not()]
        while self.accept_keyword("AND"):
            parts.append(self.parse_not())
        return self._flatten("AND", parts)

    @staticmethod
    def _flatten(op: str, parts: list[Node]) -> Node:
        if len(parts) == 1:
            return parts[0]
        flat: list[Node] = []
        for p in parts:
            flat.extend(p.operands if isinstance(p, BoolOp) and p.op == op else (p,))
        return BoolOp(op, tuple(flat))

    def parse_not(self) -> Node:
        tok = self.peek()
        if self.accept_keyword("NOT"):
            self.enter(tok.pos)
            node: Node = Not(self.parse_not())
            self.depth -= 1
            return node
        if tok.kind == "(":
            self.enter(tok.pos)
            self.i += 1
            if self.is_keyword("SELECT") or self.is_keyword("WITH") or self.is_keyword("FROM"):
                raise _refuse("subqueries are not allowed", self.peek().pos)
            node = self.parse_or()
            self.expect(")", "')' to close the '(' at character " + str(tok.pos + 1))
            self.depth -= 1
            return node
        return self.parse_predicate()

    def parse_predicate(self) -> Node:
        left = self.parse_operand()
        tok = self.peek()
        if tok.kind == "op" and tok.text in _COMPARISONS:
            self.i += 1
            right = self.parse_operand()
            op = _COMPARISONS[tok.text]
            if NULL in (left.kind, right.kind):
                is_not = "NOT " if op == "<>" else ""
                raise _refuse(f"comparing with NULL is never true; write IS {is_not}NULL", tok.pos)
            self.check_compatible(left, right, tok)
            return Comparison(op, left, right)
        negated = False
        if self.is_keyword("NOT") and (
            self.is_keyword("BETWEEN", 1)
            or self.is_keyword("IN", 1)
            or self.is_keyword("LIKE", 1)
            or self.is_keyword("ILIKE", 1)
        ):
            self.i += 1
            negated = True
        tok = self.peek()
        if self.accept_keyword("BETWEEN"):
            low = self.parse_operand()
            if not self.accept_keyword("AND"):
                raise _refuse(f"BETWEEN needs AND, found {self.show(self.peek())}", self.peek().pos)
            high = self.parse_operand()
            self.check_compatible(left, low, tok)
            self.check_compatible(left, high, tok)
            return Between(left, low, high, negated)
        if self.accept_keyword("IN"):
            return InList(left, self.parse_in_list(left, tok), negated)
        if self.is_keyword("LIKE") or self.is_keyword("ILIKE"):
            case_insensitive = self.next().text.upper() == "ILIKE"
            pattern_tok = self.peek()
            if pattern_tok.kind != "string":
                raise _refuse(
                    f"{tok.text.upper()} needs a pattern in single quotes, found "
                    f"{self.show(pattern_tok)}",
                    pattern_tok.pos,
                )
            self.i += 1
            if left.kind not in (TEXT, OTHER):
                raise _refuse(f"LIKE works on text; {self.describe(left)} is not text", tok.pos)
            if self.is_keyword("ESCAPE"):
                raise _refuse("LIKE ... ESCAPE is not allowed", self.peek().pos)
            return Like(left, Literal(TEXT, pattern_tok.text), negated, case_insensitive)
        if self.accept_keyword("IS"):
            not_null = self.accept_keyword("NOT")
            if not self.accept_keyword("NULL"):
                found = self.peek()
                raise _refuse(
                    f"IS must be followed by [NOT] NULL, found {self.show(found)}", found.pos
                )
            return IsNull(left, not_null)
        if negated:  # unreachable: NOT is only consumed before BETWEEN/IN/LIKE
            raise _refuse("NOT here must be followed by BETWEEN, IN or LIKE", tok.pos)
        if left.kind == BOOLEAN:
            return Truth(left)
        raise _refuse(
            f"{self.describe(left)} is not a condition by itself; compare it, e.g. "
            f"{left.sql()} = ..., or use IS NULL / IN / BETWEEN / LIKE",
            self.tokens[self.i - 1].pos if tok.kind == "end" else tok.pos,
        )

    def parse_in_list(self, left: Operand, in_tok: Token) -> tuple[Literal, ...]:
        open_tok = self.peek()
        if open_tok.kind != "(":
            raise _refuse(
                f"IN needs a list in parentheses, found {self.show(open_tok)}", open_tok.pos
            )
        self.i += 1
        if self.is_keyword("SELECT") or self.is_keyword("WITH") or self.is_keyword("FROM"):
            raise _refuse(
                "subqueries are not allowed (IN takes a list of literals)", self.peek().pos
            )
        items: list[Literal] = []
        while True:
            tok = self.peek()
            item = self.parse_operand()
            if not isinstance(item, Literal):
                raise _refuse(
                    f"IN takes a list of literals; {self.describe(item)} is a column", tok.pos
                )
            if item.kind == NULL:
                raise _refuse("NULL in an IN list never matches; use IS NULL", tok.pos)
            self.check_compatible(left, item, in_tok)
            items.append(item)
            if self.peek().kind == ",":
                self.i += 1
                continue
            self.expect(")", "',' or ')' in the IN list")
            return tuple(items)

    def parse_operand(self) -> Operand:
        tok = self.next()
        if tok.kind == "number":
            return Literal(NUMBER, _number(tok.text, tok.pos))
        if tok.kind == "op" and tok.text == "-":
            num = self.peek()
            if num.kind != "number" or num.pos != tok.pos + 1:
                raise _refuse("'-' is only allowed directly before a number", tok.pos)
            self.i += 1
            return Literal(NUMBER, -_number(num.text, num.pos))
        if tok.kind == "string":
            return Literal(TEXT, tok.text)
        if tok.kind == "name":
            return self.column(tok.text, tok.pos, quoted=True)
        if tok.kind == "word":
            word = tok.text.upper()
            if word in _QUERY_WORDS:
                raise _refuse(
                    f"{word} is not allowed: a filter is a condition on columns, not a query, "
                    "a cast or a subquery",
                    tok.pos,
                )
            following = self.peek()
            if following.kind == "(":
                raise _refuse(f"function calls such as {tok.text}(...) are not allowed", tok.pos)
            if word in ("TRUE", "FALSE"):
                return Literal(BOOLEAN, word == "TRUE")
            if word == "NULL":
                return Literal(NULL, None)
            if word in ("DATE", "TIMESTAMP") and following.kind == "string":
                self.i += 1
                return _temporal(word, following.text, following.pos)
            if word in KEYWORDS:
                raise _refuse(f"expected a column or a value, found the keyword {word}", tok.pos)
            return self.column(tok.text, tok.pos, quoted=False)
        if tok.kind == "(":
            raise _refuse("parentheses around a single value are not allowed here", tok.pos)
        raise _refuse(f"expected a column or a value, found {self.show(tok)}", tok.pos)

    def column(self, name: str, pos: int, *, quoted: bool) -> Column:
        if name in self.columns:
            return Column(name, type_kind(self.columns[name]))
        if not quoted:  # plain names are case-insensitive, as in SQL
            matches = self.folded.get(name.casefold(), [])
            if len(matches) == 1:
                return Column(matches[0], type_kind(self.columns[matches[0]]))
            if len(matches) > 1:
                listed = ", ".join(f'"{m}"' for m in matches)
                raise _refuse(f"{name} could be any of {listed}; quote the one you mean", pos)
        valid = [n if _WORD.fullmatch(n) else Column(n, OTHER).sql() for n in sorted(self.columns)]
        shown = ", ".join(valid[:60]) + (f" and {len(valid) - 60} more" if len(valid) > 60 else "")
        raise _refuse(
            f"{name!r} is not a column of this dataset; its columns are: {shown or '(none)'}",
            pos,
        )

    @staticmethod
    def describe(operand: Operand) -> str:
        if isinstance(operand, Column):
            return f"column {operand.name!r} ({operand.kind})"
        return f"the {operand.kind} {operand.sql()}"

    def check_compatible(self, a: Operand, b: Operand, at: Token) -> None:
        if not _compatible(a.kind, b.kind):
            raise _refuse(f"{self.describe(a)} cannot be compared with {self.describe(b)}", at.pos)


def _number(text: str, pos: int) -> int | Decimal:
    digits = sum(c.isdigit() for c in text)
    if digits > MAX_NUMBER_DIGITS:
        raise _refuse(f"numbers may have at most {MAX_NUMBER_DIGITS} digits", pos)
    if re.fullmatch(r"\d+", text):
        return int(text)
    try:
        value = Decimal(text)
    except InvalidOperation as error:  # pragma: no cover - the tokenizer's regex prevents it
        raise _refuse(f"{text!r} is not a number", pos) from error
    if not value.is_finite() or abs(value.adjusted()) > 300:
        raise _refuse(f"{text!r} is out of range", pos)
    return value


_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?)?")


def _temporal(word: str, text: str, pos: int) -> Literal:
    try:
        if word == "DATE":
            if not _DATE.fullmatch(text):
                raise ValueError
            return Literal(DATE, dt.date.fromisoformat(text))
        if not _TIMESTAMP.fullmatch(text):
            raise ValueError
        return Literal(TIMESTAMP, dt.datetime.fromisoformat(text))
    except ValueError:
        example = "'2024-01-31'" if word == "DATE" else "'2024-01-31 08:00:00'"
        raise _refuse(
            f"{word} {_quote_string(text)} is not a valid {word.lower()}; write e.g. "
            f"{word} {example}",
            pos,
        ) from None


# ---------------------------------------------------------------------------------------------
# The entry points


def parse_row_filter(expression: str, columns: Mapping[str, str]) -> Node:
    """The checked syntax tree of ``expression`` over ``columns`` (name -> DuckDB type)."""
    if not isinstance(expression, str):
        raise RowFilterError(f"A row filter must be text, not {type(expression).__name__}.")
    if len(expression) > MAX_LENGTH:
        raise _refuse(f"the filter is {len(expression)} characters long; the limit is {MAX_LENGTH}")
    if "\x00" in expression:
        raise _refuse("the NUL character is not allowed", expression.index("\x00"))
    return _Parser(expression, columns).parse()


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
