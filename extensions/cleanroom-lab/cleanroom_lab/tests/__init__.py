"""The server extension's Python tests, inside the extension as in the JupyterLab extension
template. Run from the repository's root (pytest's configuration is its pyproject.toml; `make
coverage` and scripts/test.sh list this folder): the tests read the notebook image's files
(images/notebook: the server configuration, the kernel gateway, the "Start here" notebook),
for the server is tested as the image runs it.
"""

from pathlib import Path

EXTENSION = Path(__file__).resolve().parents[2]
REPO = EXTENSION.parents[1]
NOTEBOOK_IMAGE = REPO / "images" / "notebook"
