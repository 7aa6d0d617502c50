"""Cells a table preview or the full view marks: the verified-table check's findings.

::

    marks = read_marks([{"row": 2, "column": "n", "status": "fail", "title": "threshold: ..."}])
    marks.at(2, ["plant", "n"])      # {1: Mark("fail", "threshold: ...")}

``row`` is the table's 0-based data row as written (the header excluded), ``column`` a header
name as written. The airlock builds the list from its own check's findings; it still crosses
into the sandbox as parameters, so it is read strictly here: a status outside
:data:`STATUSES` or a wrong shape raises ``ValueError``, titles are cut, and the marks only
ever become CSS classes and escaped ``title``/``aria-label`` text (no style, no markup).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from cleanroom.airlock.inspect.previews.html import _REVEAL, _esc, _note

# The statuses a cell may be marked with, worst first; each is the CSS class cr-mark-<status>
# (colours in previews.css: fail red, warn amber).
STATUSES = ("fail", "warn")
MAX_MARKS = 5000
MAX_TITLE = 600
MAX_VALUE = 200  # of a cell's value repeated in its aria-label


@dataclass(frozen=True)
class Mark:
    status: str
    title: str

    def attributes(self, value: str | None) -> str:
        """The attributes of a marked cell: its class, and its finding as a tooltip and as
        the name a screen reader reads with the value (both escaped)."""
        shown = "NULL" if value is None else value[:MAX_VALUE]
        label = _plain(f"{shown}. {self.status}: {self.title}")
        return (
            f' class="cr-mark cr-mark-{self.status}" title="{_esc(_plain(self.title))}"'
            f' aria-label="{_esc(label)}"'
        )


def _plain(text: str) -> str:
    """Invisible and bidirectional characters as ⟨U+XXXX⟩ (an attribute holds no markup)."""
    return _REVEAL.sub(lambda m: f"⟨U+{ord(m.group()):04X}⟩", text)


@dataclass
class Marks:
    """Marks by (0-based data row, column name); which of them a table showed."""

    cells: dict[tuple[int, str], Mark] = field(default_factory=dict)
    shown: set[tuple[int, str]] = field(default_factory=set)

    def __bool__(self) -> bool:
        return bool(self.cells)

    def at(self, row: int, header: Sequence[str | None]) -> dict[int, Mark]:
        """The marks of data row ``row``, by the index of their column in ``header`` (every
        column of that name, should a header repeat one)."""
        found = {}
        for index, name in enumerate(header):
            mark = self.cells.get((row, name or ""))
            if mark is not None:
                found[index] = mark
                self.shown.add((row, name or ""))
        return found

    def note(self, where: str, elsewhere: str) -> str:
        """What the reader needs to know about the marks: how many are shown ``where``, and
        how many lie ``elsewhere`` (they are never dropped silently)."""
        if not self.cells:
            return ""
        shown, missing = len(self.shown), len(self.cells) - len(self.shown)
        text = (
            f"{shown:,} cell(s) {where} marked by the table check (red outline: fail, amber "
            "dashed: warn; hover a cell for the rule and why)."
        )
        if missing:
            text += f" {missing:,} marked cell(s) are {elsewhere}."
        return _note(text)


def read_marks(highlight: Any) -> Marks:
    """The marks from the ``highlight`` parameter: None or a list of
    ``{"row": int >= 0, "column": str, "status": "fail"|"warn", "title": str}``. Two marks
    on one cell become one: the worse status, both titles."""
    marks = Marks()
    if highlight is None:
        return marks
    if not isinstance(highlight, list) or len(highlight) > MAX_MARKS:
        raise ValueError(f"highlight must be a list of at most {MAX_MARKS} cells")
    for item in highlight:
        if not isinstance(item, dict) or set(item) - {"row", "column", "status", "title"}:
            raise ValueError('each highlight is {"row", "column", "status", "title"}')
        row, column = item.get("row"), item.get("column")
        status, title = item.get("status"), item.get("title", "")
        if isinstance(row, bool) or not isinstance(row, int) or row < 0:
            raise ValueError("a highlight's row is a data row number from 0")
        if not isinstance(column, str) or status not in STATUSES or not isinstance(title, str):
            raise ValueError(f"a highlight has a column name, a status ({', '.join(STATUSES)})")
        title = title[:MAX_TITLE]
        before = marks.cells.get((row, column))
        if before is not None:
            status = min(status, before.status, key=STATUSES.index)
            title = f"{before.title}; {title}"[:MAX_TITLE]
        marks.cells[(row, column)] = Mark(status, title)
    return marks
