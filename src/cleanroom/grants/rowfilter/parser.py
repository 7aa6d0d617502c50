"""The row filter's recursive-descent parser (the grammar is in the package's docstring):
tokens into a checked syntax tree (known columns, compatible types, a boolean result)."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation

from cleanroom.grants.rowfilter.lexer import Token, iter_tokens, refuse
from cleanroom.grants.rowfilter.rules import (
    BOOLEAN,
    COMPARISONS,
    DATE,
    KEYWORDS,
    MAX_DEPTH,
    MAX_NUMBER_DIGITS,
    NULL,
    NUMBER,
    OTHER,
    QUERY_WORDS,
    TEXT,
    TIMESTAMP,
    WORD_PATTERN,
    compatible,
    type_kind,
)
from cleanroom.grants.rowfilter.syntax import (
    Between,
    BoolOp,
    Column,
    Comparison,
    InList,
    IsNull,
    Like,
    Literal,
    Node,
    Not,
    Operand,
    Truth,
    quote_string,
)


class Parser:
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
            raise refuse(f"expected {what}, found {self.show(tok)}", tok.pos)
        self.i += 1
        return tok

    @staticmethod
    def show(tok: Token) -> str:
        if tok.kind == "end":
            return "the end of the filter"
        if tok.kind == "string":
            return f"the string {quote_string(tok.text)}"
        if tok.kind == "name":
            return f'the name "{tok.text}"'
        return repr(tok.text)

    def enter(self, pos: int) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise refuse(f"the filter is nested more than {MAX_DEPTH} levels deep", pos)

    # -- grammar
    def parse(self) -> Node:
        tok = self.peek()
        if tok.kind == "end":
            raise refuse("the filter is empty (to grant every row, give no filter)")
        node = self.parse_or()
        tok = self.peek()
        if tok.kind != "end":
            raise refuse(f"unexpected {self.show(tok)} after a complete condition", tok.pos)
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
            node = Not(self.parse_not())
            self.depth -= 1
            return node
        if tok.kind == "(":
            self.enter(tok.pos)
            self.i += 1
            if self.is_keyword("SELECT") or self.is_keyword("WITH") or self.is_keyword("FROM"):
                raise refuse("subqueries are not allowed", self.peek().pos)
            inner = self.parse_or()
            self.expect(")", "')' to close the '(' at character " + str(tok.pos + 1))
            self.depth -= 1
            return inner
        return self.parse_predicate()

    def parse_predicate(self) -> Node:
        left = self.parse_operand()
        tok = self.peek()
        if tok.kind == "op" and tok.text in COMPARISONS:
            self.i += 1
            right = self.parse_operand()
            op = COMPARISONS[tok.text]
            if NULL in (left.kind, right.kind):
                suggestion = "IS NOT NULL" if op == "<>" else "IS NULL"
                raise refuse(f"comparing with NULL is never true; write {suggestion}", tok.pos)
            self.check_compatible(left, right, tok)
            return Comparison(op, left, right)
        negated = False
        if self.is_keyword("NOT") and any(
            self.is_keyword(word, 1) for word in ("BETWEEN", "IN", "LIKE", "ILIKE")
        ):
            self.i += 1
            negated = True
        tok = self.peek()
        if self.accept_keyword("BETWEEN"):
            low = self.parse_operand()
            if not self.accept_keyword("AND"):
                raise refuse(f"BETWEEN needs AND, found {self.show(self.peek())}", self.peek().pos)
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
                raise refuse(
                    f"{tok.text.upper()} needs a pattern in single quotes, found "
                    f"{self.show(pattern_tok)}",
                    pattern_tok.pos,
                )
            self.i += 1
            if left.kind not in (TEXT, OTHER):
                raise refuse(f"LIKE works on text; {self.describe(left)} is not text", tok.pos)
            if self.is_keyword("ESCAPE"):
                raise refuse("LIKE ... ESCAPE is not allowed", self.peek().pos)
            return Like(left, Literal(TEXT, pattern_tok.text), negated, case_insensitive)
        if self.accept_keyword("IS"):
            not_null = self.accept_keyword("NOT")
            if not self.accept_keyword("NULL"):
                found = self.peek()
                raise refuse(
                    f"IS must be followed by [NOT] NULL, found {self.show(found)}", found.pos
                )
            return IsNull(left, not_null)
        if negated:  # unreachable: NOT is only consumed before BETWEEN/IN/LIKE
            raise refuse("NOT here must be followed by BETWEEN, IN or LIKE", tok.pos)
        if left.kind == BOOLEAN:
            return Truth(left)
        raise refuse(
            f"{self.describe(left)} is not a condition by itself; compare it, e.g. "
            f"{left.sql()} = ..., or use IS NULL / IN / BETWEEN / LIKE",
            self.tokens[self.i - 1].pos if tok.kind == "end" else tok.pos,
        )

    def parse_in_list(self, left: Operand, in_tok: Token) -> tuple[Literal, ...]:
        open_tok = self.peek()
        if open_tok.kind != "(":
            raise refuse(
                f"IN needs a list in parentheses, found {self.show(open_tok)}", open_tok.pos
            )
        self.i += 1
        if self.is_keyword("SELECT") or self.is_keyword("WITH") or self.is_keyword("FROM"):
            raise refuse(
                "subqueries are not allowed (IN takes a list of literals)", self.peek().pos
            )
        items: list[Literal] = []
        while True:
            tok = self.peek()
            item = self.parse_operand()
            if not isinstance(item, Literal):
                raise refuse(
                    f"IN takes a list of literals; {self.describe(item)} is a column", tok.pos
                )
            if item.kind == NULL:
                raise refuse("NULL in an IN list never matches; use IS NULL", tok.pos)
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
                raise refuse("'-' is only allowed directly before a number", tok.pos)
            self.i += 1
            return Literal(NUMBER, -_number(num.text, num.pos))
        if tok.kind == "string":
            return Literal(TEXT, tok.text)
        if tok.kind == "name":
            return self.column(tok.text, tok.pos, quoted=True)
        if tok.kind == "word":
            word = tok.text.upper()
            if word in QUERY_WORDS:
                raise refuse(
                    f"{word} is not allowed: a filter is a condition on columns, not a query, "
                    "a cast or a subquery",
                    tok.pos,
                )
            following = self.peek()
            if following.kind == "(":
                raise refuse(f"function calls such as {tok.text}(...) are not allowed", tok.pos)
            if word in ("TRUE", "FALSE"):
                return Literal(BOOLEAN, word == "TRUE")
            if word == "NULL":
                return Literal(NULL, None)
            if word in ("DATE", "TIMESTAMP") and following.kind == "string":
                self.i += 1
                return _temporal(word, following.text, following.pos)
            if word in KEYWORDS:
                raise refuse(f"expected a column or a value, found the keyword {word}", tok.pos)
            return self.column(tok.text, tok.pos, quoted=False)
        if tok.kind == "(":
            raise refuse("parentheses around a single value are not allowed here", tok.pos)
        raise refuse(f"expected a column or a value, found {self.show(tok)}", tok.pos)

    def column(self, name: str, pos: int, *, quoted: bool) -> Column:
        if name in self.columns:
            return Column(name, type_kind(self.columns[name]))
        if not quoted:  # plain names are case-insensitive, as in SQL
            matches = self.folded.get(name.casefold(), [])
            if len(matches) == 1:
                return Column(matches[0], type_kind(self.columns[matches[0]]))
            if len(matches) > 1:
                listed = ", ".join(f'"{m}"' for m in matches)
                raise refuse(f"{name} could be any of {listed}; quote the one you mean", pos)
        valid = [
            n if WORD_PATTERN.fullmatch(n) else Column(n, OTHER).sql() for n in sorted(self.columns)
        ]
        shown = ", ".join(valid[:60]) + (f" and {len(valid) - 60} more" if len(valid) > 60 else "")
        raise refuse(
            f"{name!r} is not a column of this dataset; its columns are: {shown or '(none)'}",
            pos,
        )

    @staticmethod
    def describe(operand: Operand) -> str:
        if isinstance(operand, Column):
            return f"column {operand.name!r} ({operand.kind})"
        return f"the {operand.kind} {operand.sql()}"

    def check_compatible(self, a: Operand, b: Operand, at: Token) -> None:
        if not compatible(a.kind, b.kind):
            raise refuse(f"{self.describe(a)} cannot be compared with {self.describe(b)}", at.pos)


def _number(text: str, pos: int) -> int | Decimal:
    digits = sum(c.isdigit() for c in text)
    if digits > MAX_NUMBER_DIGITS:
        raise refuse(f"numbers may have at most {MAX_NUMBER_DIGITS} digits", pos)
    if re.fullmatch(r"\d+", text):
        return int(text)
    try:
        value = Decimal(text)
    except InvalidOperation as error:  # pragma: no cover - the tokenizer's regex prevents it
        raise refuse(f"{text!r} is not a number", pos) from error
    if not value.is_finite() or abs(value.adjusted()) > 300:
        raise refuse(f"{text!r} is out of range", pos)
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
        raise refuse(
            f"{word} {quote_string(text)} is not a valid {word.lower()}; write e.g. "
            f"{word} {example}",
            pos,
        ) from None
