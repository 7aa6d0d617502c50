"""The job's side of the sandbox: runs one registered job on ``/input/0`` and prints JSON.

Started only by :func:`cleanroom.sandbox.run` inside bubblewrap, as
``python -I -c <boot> <source dir> <job> <params JSON>``. Answers one line of JSON on stdout:
``{"ok": true, "value": ...}`` or ``{"ok": false, "message": "..."}``; anything else (a crash,
a kill) is read by the caller as an error.
"""

from __future__ import annotations

import json
import os
import resource
import sys
from pathlib import Path

INPUT = Path("/input")


def main() -> None:
    _, job, params_json = sys.argv[1:4]
    limit = int(os.environ.get("CLEANROOM_SANDBOX_PROCESSES", "64"))
    # Set here, inside the namespace, where the count is the sandbox user's own processes.
    resource.setrlimit(resource.RLIMIT_NPROC, (limit, limit))
    try:
        from cleanroom.sandbox.jobs import JOBS

        params = json.loads(params_json)
        function = JOBS[job]
        inputs = sorted(INPUT.iterdir(), key=lambda p: int(p.name))
        answer = {"ok": True, "value": function(inputs, params)}
    except MemoryError:
        answer = {"ok": False, "message": "the job ran out of memory"}
    except Exception as error:  # noqa: BLE001 - every failure is an answer, never a traceback
        answer = {"ok": False, "message": f"the job failed: {type(error).__name__}: {error}"}
    sys.stdout.write(json.dumps(answer))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
