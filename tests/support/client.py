"""The notebook image's ``cleanroom`` package (images/notebook/client/cleanroom/), loaded on this
host from its folder under another name, ``cleanroom_client_under_test``, so that it never
shadows the hub's own ``cleanroom`` package. Its submodules (``sdc``, ``tablespec``) import
one another relatively and load under that name too."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from types import ModuleType

from support.paths import REPO

CLIENT = REPO / "images" / "notebook" / "client" / "cleanroom"
NAME = "cleanroom_client_under_test"


def load_client() -> Iterator[ModuleType]:
    """Load the package, yield it, then forget it and its submodules (a fixture's body)."""
    spec = importlib.util.spec_from_file_location(
        NAME, CLIENT / "__init__.py", submodule_search_locations=[str(CLIENT)]
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[NAME] = module  # relative imports of the submodules find their package here
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        for name in [n for n in sys.modules if n == NAME or n.startswith(NAME + ".")]:
            del sys.modules[name]
