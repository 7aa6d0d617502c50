"""The catalog service's argument checks: each returns the clean value or raises
:class:`InvalidValue` saying what is expected.

Names: organisation ids and project names are 1-63 lower-case letters, digits, ``.``, ``_``
or ``-``; dataset names are SQL identifiers (a lower-case letter, then letters, digits or
``_``), since they become view names; user names are JupyterHub's.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from .errors import InvalidValue

_SLUG = re.compile(r"[a-z0-9][a-z0-9_.-]{0,62}")
_IDENTIFIER = re.compile(r"[a-z][a-z0-9_]{0,62}")
_USER = re.compile(r"[^\s/]{1,255}")
_VERSION = re.compile(r"[vV]?([1-9][0-9]{0,8})")
MAX_TEXT = 2000
MAX_UNMAPPED_SHOWN = 20


def stamp(when: datetime) -> str:
    """A time in a message: 2026-06-30 18:00:00 UTC."""
    return when.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def slug(value: Any, what: str) -> str:
    if not isinstance(value, str) or not _SLUG.fullmatch(value):
        raise InvalidValue(
            f"{value!r} is not a valid {what}: use 1-63 lower-case letters, digits, '.', '_' "
            "or '-', starting with a letter or digit"
        )
    return value


def dataset_name(value: Any) -> str:
    if not isinstance(value, str) or not _IDENTIFIER.fullmatch(value):
        raise InvalidValue(
            f"{value!r} is not a valid dataset name: use 1-63 lower-case letters, digits or "
            "'_', starting with a letter (it becomes the view's name, e.g. wafer_lots)"
        )
    return value


def user_name(value: Any) -> str:
    if not isinstance(value, str) or not _USER.fullmatch(value):
        raise InvalidValue(
            f"{value!r} is not a valid user name: give the JupyterHub user name (no spaces or '/')"
        )
    return value


def actor(value: Any) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > 255:
        raise InvalidValue("every change needs the name of who makes it (actor)")
    return value.strip()


def text(value: Any, what: str, *, required: bool) -> str:
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise InvalidValue(f"the {what} must be text")
    value = value.strip()
    if required and not value:
        raise InvalidValue(f"give the {what}: it is recorded with the change")
    if len(value) > MAX_TEXT:
        raise InvalidValue(f"the {what} is longer than {MAX_TEXT} characters: shorten it")
    return value


def moment(value: Any, what: str) -> datetime:
    if not isinstance(value, datetime):
        raise InvalidValue(f"the {what} must be a date and time")
    if value.tzinfo is None:
        raise InvalidValue(
            f"the {what} {value.isoformat()} has no time zone: give one (e.g. ...Z for UTC)"
        )
    return value.astimezone(UTC)


def parse_version(value: Any) -> int:
    """A version number from 2, "2" or "v2"."""
    if isinstance(value, bool):
        raise InvalidValue(f"{value!r} is not a version: give a number such as 2 (or v2)")
    if isinstance(value, int):
        if value >= 1:
            return value
    elif isinstance(value, str) and (match := _VERSION.fullmatch(value.strip())):
        return int(match.group(1))
    raise InvalidValue(f"{value!r} is not a version: give a number such as 2 (or v2)")


def sample(values: Sequence[str], limit: int = MAX_UNMAPPED_SHOWN) -> str:
    shown = ", ".join(repr(v) for v in values[:limit])
    if len(values) > limit:
        shown += f" and {len(values) - limit} more"
    return shown


def contributor_mapping(mapping: Mapping[str, str] | None) -> dict[str, str]:
    """A contributor mapping (value -> organisation id) as a dict; None is empty."""
    if mapping is None:
        return {}
    if not isinstance(mapping, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in mapping.items()
    ):
        raise InvalidValue("the contributor mapping must map text values to organisation ids")
    return dict(mapping)
