"""The file types of a release request are written in six places; the policy input schema
(policies/input.schema.json, ``file.type``) is the reference, and every copy agrees with it:

- the airlock's check (``cleanroom.airlock.names.FILE_TYPES``) and its OpenAPI document
  (``FileType``) accept exactly the schema's types, in its order;
- the release policy (``file_types`` in policies/release.rego) lists every type that may be
  released: all of the schema's but ``other``, which is never released on purpose;
- the JupyterLab extension's server part (cleanroom_lab/filetypes.py) and its dialog
  (src/model.ts) offer the same, in the schema's order, for the same reason: a researcher is
  not offered a type the release policy always refuses.

The files are read as text (the extension's TypeScript is not run, nor its Python imported).
"""

from __future__ import annotations

import ast
import json
import re
from importlib.resources import files
from pathlib import Path

from support.paths import REPO

from cleanroom.airlock.names import FILE_TYPES

# Accepted everywhere, released never: the one deliberate difference between the copies.
NEVER_RELEASED = ("other",)


def schema_types() -> list[str]:
    schema = json.loads((REPO / "policies" / "input.schema.json").read_text())
    return schema["definitions"]["file"]["properties"]["type"]["enum"]


def releasable() -> list[str]:
    return [t for t in schema_types() if t not in NEVER_RELEASED]


def python_assignment(path: Path, name: str):
    """The literal value assigned to ``name`` at the top of a Python file."""
    for node in ast.parse(path.read_text()).body:
        targets = node.targets if isinstance(node, ast.Assign) else [getattr(node, "target", None)]
        if any(isinstance(t, ast.Name) and t.id == name for t in targets):
            return ast.literal_eval(node.value)
    raise AssertionError(f"{path} assigns no {name}")


def test_the_schema_names_the_types_once_each_and_other_among_them():
    types = schema_types()
    assert len(types) == len(set(types))
    assert set(NEVER_RELEASED) <= set(types)


def test_the_airlock_accepts_exactly_the_schemas_types():
    assert list(FILE_TYPES) == schema_types()


def test_the_openapi_document_names_exactly_the_schemas_types():
    openapi = json.loads(files("cleanroom.airlock.web").joinpath("openapi.json").read_text())
    assert openapi["components"]["schemas"]["FileType"]["enum"] == schema_types()
    enums = re.findall(r'"enum":\s*\[([^\]]*)\]', json.dumps(openapi))
    with_types = [e for e in enums if '"table"' in e]
    assert len(with_types) == 1, "file types are listed once in openapi.json, as FileType"


def test_the_release_policy_releases_every_type_but_other():
    rego = (REPO / "policies" / "release.rego").read_text()
    block = re.search(r"^file_types := \{\n(.*?)^\}", rego, re.M | re.S)
    assert block, "release.rego defines file_types"
    keys = re.findall(r'^\t"([^"]+)": \{', block.group(1), re.M)
    assert sorted(keys) == sorted(releasable())


def test_the_extensions_server_offers_every_type_but_other():
    path = REPO / "extensions" / "cleanroom-lab" / "cleanroom_lab" / "filetypes.py"
    types = python_assignment(path, "FILE_TYPES")
    assert list(types) == releasable()
    suggested = python_assignment(path, "SUFFIX_TYPES").values()
    outputs = [kind for kind, _ in python_assignment(path, "OUTPUT_KINDS").values()]
    assert set(suggested) | set(outputs) <= set(types)


def test_the_extensions_dialog_offers_every_type_but_other():
    model = (REPO / "extensions" / "cleanroom-lab" / "src" / "model.ts").read_text()
    found = re.search(r"export const FILE_TYPES = \[([^\]]*)\] as const;", model)
    assert found, "model.ts exports FILE_TYPES"
    assert re.findall(r"'([^']+)'", found.group(1)) == releasable()
