"""As the JupyterLab extension template's conftest: how this package's tests run. Any
``JupyterServerAuthWarning`` (jupyter_server's warning for a route whose methods are neither
``@tornado.web.authenticated`` nor explicitly ``@allow_unauthenticated``) fails the test that
raised it; test_auth.py registers every route of the extension to raise it if it would.
"""

from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.is_relative_to(HERE):
            item.add_marker(
                pytest.mark.filterwarnings("error::jupyter_server.utils.JupyterServerAuthWarning")
            )
