"""The row filter's tokenizer: text into tokens, refusing what no filter holds."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass

from cleanroom.grants.rowfilter.rules import (
    ALLOWED,
    INVISIBLE_CATEGORIES,
    NUMBER_PATTERN,
    SPACES,
    WORD_PATTERN,
    RowFilterError,
)


@dataclass(frozen=True)
class Token:
    kind: str  # "word", "name" (quoted), "string", "number", "op", "(", ")", ",", "end"
    text: str  # the value: word as written, unquoted name or string, number text, operator
    pos: int  # 0-based offset in the filter


def refuse(message: str, pos: int | None = None) -> RowFilterError:
    where = f" at character {pos + 1}" if pos is not None else ""
    return RowFilterError(f"Row filter refused{where}: {message}. {ALLOWED}.")


def _describe_char(ch: str) -> str:
    name = unicodedata.name(ch, "unnamed character")
    return f"{ch!r} (U+{ord(ch):04X} {name})"


def _check_quoted_char(ch: str, pos: int) -> None:
    if unicodedata.category(ch) in INVISIBLE_CATEGORIES and ch != " ":
        raise refuse(f"the invisible or control character U+{ord(ch):04X} is not allowed", pos)


def _read_quoted(text: str, start: int, quote: str) -> tuple[str, int]:
    """The unescaped content of a quoted run starting at ``start`` and the offset after it."""
    out = []
    i = start + 1
    while True:
        j = text.find(quote, i)
        if j < 0:
            what = "string" if quote == "'" else "quoted column name"
            raise refuse(f"this {what} is never closed (a {quote} is missing)", start)
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
        if ch in SPACES:
            i += 1
        elif ch == "'":
            value, i2 = _read_quoted(text, i, "'")
            yield Token("string", value, i)
            i = i2
        elif ch == '"':
            value, i2 = _read_quoted(text, i, '"')
            if not value:
                raise refuse('an empty quoted name ("") is not a column', i)
            yield Token("name", value, i)
            i = i2
        elif text.startswith("--", i):
            raise refuse("comments (--) are not allowed", i)
        elif text.startswith("/*", i):
            raise refuse("comments (/* */) are not allowed", i)
        elif ch == ";":
            raise refuse(
                "a filter is one expression: ';' and a second statement are not allowed", i
            )
        elif text.startswith("::", i):
            raise refuse("casts (::) are not allowed; write dates as DATE '2024-01-31'", i)
        elif ch.isascii() and (ch.isdigit() or (ch == "." and text[i + 1 : i + 2].isdigit())):
            m = NUMBER_PATTERN.match(text, i)
            assert m is not None
            end = m.end()
            if end < n and (text[end].isalnum() or text[end] in "_."):
                raise refuse(f"{text[i : end + 1]!r} is not a number or a name", i)
            yield Token("number", m.group(), i)
            i = end
        elif ch.isascii() and (ch.isalpha() or ch == "_"):
            m = WORD_PATTERN.match(text, i)
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
            raise refuse(
                f"{_describe_char(ch)} is not allowed outside quotes: names and keywords are "
                f"plain ASCII{hint}",
                i,
            )
        elif ch in "+*/%|&^~":
            raise refuse(f"arithmetic and other operators ({ch}) are not allowed", i)
        elif ch in "?$":
            raise refuse(f"parameters ({ch}) are not allowed", i)
        else:
            raise refuse(f"the character {ch!r} is not allowed", i)
    yield Token("end", "", n)
