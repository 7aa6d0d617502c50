"""Which workspace file each released file came from, so that a request returned for changes
can be resubmitted with the files' current bytes. Kept in a hidden file of the workspace
(written whole, then renamed: never half-written)."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path


class Sources:
    def __init__(self, path: str | os.PathLike[str]):
        self.path = Path(path)

    def load(self) -> dict[str, dict[str, str]]:
        try:
            data = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def of(self, request_id: str) -> dict[str, str]:
        found = self.load().get(request_id, {})
        return {k: v for k, v in found.items() if isinstance(k, str) and isinstance(v, str)}

    def remember(self, request_id: str, files: dict[str, str]) -> None:
        data = self.load()
        data[request_id] = {**data.get(request_id, {}), **files}
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".sources-")
        try:
            with os.fdopen(fd, "w") as handle:
                json.dump(data, handle)
            os.replace(tmp, self.path)
        except BaseException:
            os.unlink(tmp)
            raise
