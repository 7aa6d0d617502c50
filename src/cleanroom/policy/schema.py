"""The input schema (``policies/input.schema.json``, the contract between Python and the
policies) and the validator that checks every input document against it before OPA is asked.

The schema is package data: ``cleanroom/policy/input.schema.json`` is a symbolic link to
``policies/input.schema.json`` in the repository, and the wheel holds the file itself, so the
package reads the schema with :mod:`importlib.resources` wherever it is installed.
``$CLEANROOM_POLICY_SCHEMA`` names another file instead.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from importlib.resources import files
from typing import Any

import fastjsonschema

SCHEMA_RESOURCE = "input.schema.json"


def load_schema(path: str | os.PathLike[str] | None = None) -> dict:
    """The input schema: ``path``, else ``$CLEANROOM_POLICY_SCHEMA``, else the package's copy of
    policies/input.schema.json."""
    path = path or os.environ.get("CLEANROOM_POLICY_SCHEMA")
    if path:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    return json.loads(
        files("cleanroom.policy").joinpath(SCHEMA_RESOURCE).read_text(encoding="utf-8")
    )


class InputValidator:
    """Validates input documents against the schema: fastjsonschema on the decision path,
    jsonschema for a readable message when an input is invalid."""

    def __init__(self, schema: Mapping[str, Any]):
        self.schema = dict(schema)
        self._fast = fastjsonschema.compile(self.schema)

    def errors(self, document: Any) -> list[str]:
        """[] when valid, else readable messages (the most relevant first)."""
        try:
            self._fast(document)
            return []
        except fastjsonschema.JsonSchemaValueException as fast_error:
            # Only on the (rare) invalid path: importing jsonschema takes about a second.
            import jsonschema

            validator = jsonschema.Draft7Validator(self.schema)
            best = jsonschema.exceptions.best_match(validator.iter_errors(document))
            if best is None:
                return [fast_error.message]
            where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in best.path)
            return [f"{where.lstrip('.') or 'the input'}: {best.message}"]
