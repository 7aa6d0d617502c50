"""The test suite's fixtures, as pytest plugins under tests/fixtures/ (pytest rewrites their
asserts too). pyproject.toml puts tests/ on the path (``pythonpath``), so that test modules
import ``fixtures.*``, ``support.*`` and ``factories.*`` directly.
"""

pytest_plugins = ["fixtures.catalog", "fixtures.hub", "fixtures.opa"]
