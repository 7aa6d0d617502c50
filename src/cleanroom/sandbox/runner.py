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


# Not a job: the warm sandbox's forking process (cleanroom.sandbox.zygote).
ZYGOTE = "zygote"


def answer(job: str, params: dict, inputs: list[Path]) -> dict:
    """The job's answer: ``{"ok": true, "value": ...}`` or ``{"ok": false, "message": ...}``."""
    try:
        from cleanroom.sandbox.jobs import JOBS

        return {"ok": True, "value": JOBS[job](inputs, params)}
    except MemoryError:
        return {"ok": False, "message": "the job ran out of memory"}
    except Exception as error:  # noqa: BLE001 - every failure is an answer, never a traceback
        return {"ok": False, "message": f"the job failed: {type(error).__name__}: {error}"}


def main() -> None:
    _, job, params_json = sys.argv[1:4]
    limit = int(os.environ.get("CLEANROOM_SANDBOX_PROCESSES", "64"))
    # Set here, inside the namespace, where the count is the sandbox user's own processes.
    resource.setrlimit(resource.RLIMIT_NPROC, (limit, limit))
    params = json.loads(params_json)
    if job == ZYGOTE:
        from cleanroom.sandbox.zygote import serve

        serve(int(params["socket"]))
        return
    inputs = sorted(INPUT.iterdir(), key=lambda p: int(p.name))
    sys.stdout.write(json.dumps(answer(job, params, inputs)))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
