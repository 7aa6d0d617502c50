"""The bounds a sandboxed job runs under (memory, time, output, input)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Limits:
    """What one sandboxed job may use. The defaults fit a preview or a PDF check."""

    # Address space of every process in the sandbox (RLIMIT_AS): Python with DuckDB and
    # pyarrow loaded reserves a few hundred MiB of it before parsing anything.
    memory_bytes: int = 2 * 1024**3
    # CPU seconds of each process (RLIMIT_CPU), and the wall-clock time of the whole job.
    cpu_seconds: int = 30
    wall_seconds: float = 60.0
    # Largest file a job may write (in its private /tmp, RLIMIT_FSIZE) and that /tmp's size.
    file_bytes: int = 256 * 1024**2
    tmp_bytes: int = 256 * 1024**2
    # Processes and threads of the sandbox user (RLIMIT_NPROC; DuckDB and poppler use a few).
    processes: int = 64
    # The job's JSON answer on stdout; more is an error, never a truncated value.
    output_bytes: int = 64 * 1024**2
    # Largest input copied into the sandbox when the caller is root (see ``command``).
    input_bytes: int = 512 * 1024**2


DEFAULT_LIMITS = Limits()
