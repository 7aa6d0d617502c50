"""What a zip archive holds, member by member: the ``archive`` check.

::

    info = inspect_archive(Path("/input/0"))  # in the sandbox (the archive-inspect job)
    outcome = archive_outcome(info)           # in the airlock

An archive is refused (fail) when anything in it could hide from the reviewer or hurt whoever
opens it: a zip bomb (uncompressed sizes or ratios over :data:`ARCHIVE_LIMITS`, checked from
the central directory first and again while each member is read, so a header that lies is
caught too), a nested archive (no nesting at all: a zip, or torch.save's zip, inside the zip),
links (symbolic links and other non-regular members, from ``external_attr``), bytes no member
holds (comments, large extra fields, gaps between members, overlapping members), absolute paths
or ``..``, encrypted members, duplicate names (also after case folding), unsupported
compression, and members that cannot be read whole. Every other member is extracted, bounded,
into the sandbox's private /tmp and its media type found from its bytes
(``detect_media_type``): the findings carry it, and the release policy
(``archive_member_media_types``) decides which types may leave inside an archive.

The bounds are data here (not in the policy): they protect the sandbox while reading, before
any policy could be asked.
"""

from __future__ import annotations

import os
import stat
import struct
import tempfile
import zipfile
from pathlib import Path, PurePosixPath
from typing import Any

from cleanroom import sandbox
from cleanroom.airlock.enums import CheckStatus
from cleanroom.airlock.inspect import mediatypes as mt
from cleanroom.airlock.inspect.outcome import CheckOutcome, CheckSubject
from cleanroom.sandbox import Limits

ARCHIVE_CHECK = "archive"

# How large an archive's content may be. A member's ratio (uncompressed / compressed) is only
# judged from min_ratio_bytes up: small files of repeated bytes compress very well too.
ARCHIVE_LIMITS: dict[str, int] = {
    "max_members": 1000,
    "max_total_bytes": 512 * 1024**2,
    "max_member_bytes": 128 * 1024**2,
    "max_ratio": 100,
    "min_ratio_bytes": 1024**2,
    "max_name_bytes": 1024,
    # Extra fields carry timestamps and owners (tens of bytes); more is a hiding place.
    "max_extra_bytes": 256,
}
# Media types found inside an archive that are archives themselves (no nesting).
NESTED_ARCHIVE_TYPES = frozenset({mt.ZIP, mt.TORCH})
# zipfile's compression methods: stored, deflated, bzip2, lzma.
SUPPORTED_COMPRESSION = {
    zipfile.ZIP_STORED,
    zipfile.ZIP_DEFLATED,
    zipfile.ZIP_BZIP2,
    zipfile.ZIP_LZMA,
}
READ_CHUNK = 1024 * 1024
# A member's name shown in findings is cut to this many characters.
SHOWN_NAME_CHARS = 200
ARCHIVE_SANDBOX_LIMITS = Limits(cpu_seconds=120, wall_seconds=180.0)
FIX = "make the archive again with plain files only (no links, nested archives or passwords)"


def check_archive(subject: CheckSubject) -> CheckOutcome:
    """The ``archive`` check: :func:`inspect_archive` in the sandbox, then
    :func:`archive_outcome`."""

    result = sandbox.run_warm("archive-inspect", subject.path, None, ARCHIVE_SANDBOX_LIMITS)
    if not result.ok or not isinstance(result.value, dict):
        return CheckOutcome(
            ARCHIVE_CHECK,
            CheckStatus.ERROR,
            f"the archive could not be inspected, so it cannot leave: {result.message}",
        )
    return archive_outcome(result.value)


def archive_outcome(info: dict) -> CheckOutcome:
    """The ``archive`` check's outcome from what :func:`inspect_archive` found (pure)."""

    metrics = info.get("metrics", {})
    findings = tuple(info.get("problems", [])) + tuple(info.get("members", []))
    sizes = (
        f"{metrics.get('members', 0):,} member(s), {metrics.get('uncompressed_bytes', 0):,} "
        f"bytes uncompressed from {metrics.get('compressed_bytes', 0):,}"
    )
    problems = info.get("problems", [])
    if problems:
        first = "; ".join(p["message"] for p in problems[:5])
        more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
        return CheckOutcome(
            ARCHIVE_CHECK,
            CheckStatus.FAIL,
            f"{sizes}; refused: {first}{more}. To release it, {FIX}, or release the files "
            "one by one",
            findings,
            metrics,
        )
    return CheckOutcome(
        ARCHIVE_CHECK,
        CheckStatus.PASS,
        f"{sizes}; no link, nested archive, password or unsafe path; each member's type found "
        "from its bytes",
        findings,
        metrics,
    )


# --- in the sandbox only --------------------------------------------------------------------


def _shown(name: str) -> str:
    return name if len(name) <= SHOWN_NAME_CHARS else name[:SHOWN_NAME_CHARS] + "…"


def _problem(rule: str, name: str | None, message: str, **extra: Any) -> dict[str, Any]:
    finding = {"rule": rule, "status": "fail", "message": message, **extra}
    if name is not None:
        finding["location"] = _shown(name)
    return finding


def name_problem(info: zipfile.ZipInfo) -> dict[str, Any] | None:
    name = info.filename
    shown = _shown(name)
    mode = info.external_attr >> 16
    if stat.S_ISLNK(mode):
        return _problem("link", name, f"{shown} is a symbolic link")
    # Many tools store permission bits only (no file type): a plain file.
    if stat.S_IFMT(mode) and not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
        return _problem("link", name, f"{shown} is not a regular file (mode {oct(mode)})")
    if len(name.encode()) > ARCHIVE_LIMITS["max_name_bytes"]:
        return _problem(
            "path", name, f"{shown} has a name above {ARCHIVE_LIMITS['max_name_bytes']} bytes"
        )
    unixy = name.replace("\\", "/")
    if (
        unixy.startswith("/")
        or (len(unixy) > 1 and unixy[1] == ":")
        or ".." in PurePosixPath(unixy).parts
        or "\x00" in name
    ):
        return _problem("path", name, f"{shown} is an absolute path or goes up with ..")
    if info.flag_bits & 0x1:
        return _problem("encrypted", name, f"{shown} is encrypted")
    if info.compress_type not in SUPPORTED_COMPRESSION:
        return _problem(
            "compression", name, f"{shown} uses compression method {info.compress_type}"
        )
    return None


def inspect_archive(path: Path) -> dict:
    """Every member of the zip at ``path``: its name, sizes, ratio and media type, and what
    makes the archive unsafe (``problems``). Members are read one at a time into a private
    temporary directory, bounded, and removed."""
    limits = ARCHIVE_LIMITS
    with mt.open_regular(path) as f:
        size = os.fstat(f.fileno()).st_size
        end = mt.find_zip_end(f, size)
        if end is None:
            return {"problems": [_problem("structure", None, "it is not a whole zip archive")]}
        if end[1] > limits["max_members"]:
            return {
                "problems": [
                    _problem(
                        "members",
                        None,
                        f"{end[1]:,} members; at most {limits['max_members']:,} are read",
                    )
                ],
                "metrics": {"members": end[1]},
            }
        try:
            with zipfile.ZipFile(f) as zf:
                return _inspect_members(zf, hidden_places(f, zf, cd_offset=end[3]))
        except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError, ValueError) as e:
            return {
                "problems": [
                    _problem("structure", None, f"the archive cannot be read ({type(e).__name__})")
                ]
            }


def hidden_places(f: Any, zf: zipfile.ZipFile, cd_offset: int) -> list[dict[str, Any]]:
    """Where a zip can carry bytes no member holds, so that no one extracting it (the reviewer
    included) sees them: comments (the archive's, a member's), large extra fields, and bytes
    between or under the members (a gap, or members overlapping, as bombs do)."""
    problems: list[dict[str, Any]] = []
    comments = len(zf.comment) + sum(len(i.comment) for i in zf.infolist())
    if comments:
        problems.append(_problem("hidden", None, f"{comments:,} bytes of comments", bytes=comments))
    spans: list[tuple[int, int, str]] = []
    for info in zf.infolist():
        f.seek(info.header_offset)
        header = f.read(30)
        if len(header) < 30 or not header.startswith(b"PK\x03\x04"):
            problems.append(_problem("structure", info.filename, "its local header is missing"))
            continue
        name_len, extra_len = struct.unpack("<HH", header[26:30])
        if max(extra_len, len(info.extra)) > ARCHIVE_LIMITS["max_extra_bytes"]:
            problems.append(
                _problem(
                    "hidden",
                    info.filename,
                    f"{_shown(info.filename)} has {max(extra_len, len(info.extra)):,} bytes of "
                    "extra fields",
                )
            )
        end = info.header_offset + 30 + name_len + extra_len + info.compress_size
        if info.flag_bits & 0x8:  # a data descriptor follows the data
            f.seek(end)
            signed = f.read(4) == b"PK\x07\x08"
            end += (4 if signed else 0) + (20 if info.file_size >= 0xFFFFFFFF else 12)
        spans.append((info.header_offset, end, info.filename))
    f.seek(0)
    position, unaccounted = 0, 0
    for start, end, name in sorted(spans):
        if start < position:
            problems.append(_problem("bomb", name, f"{_shown(name)} overlaps the member before it"))
        unaccounted += max(0, start - position)
        position = max(position, end)
    unaccounted += max(0, cd_offset - position)
    if unaccounted:
        problems.append(
            _problem(
                "hidden",
                None,
                f"{unaccounted:,} bytes between the members belong to none of them",
                bytes=unaccounted,
            )
        )
    return problems


def _inspect_members(zf: zipfile.ZipFile, hidden: list[dict[str, Any]]) -> dict:
    limits = ARCHIVE_LIMITS
    infos = zf.infolist()
    problems: list[dict[str, Any]] = list(hidden)
    members: list[dict[str, Any]] = []
    declared = sum(i.file_size for i in infos)
    compressed = sum(i.compress_size for i in infos)
    metrics = {
        "members": len(infos),
        "uncompressed_bytes": declared,
        "compressed_bytes": compressed,
    }
    # From the central directory, before reading anything.
    if declared > limits["max_total_bytes"]:
        problems.append(
            _problem(
                "bomb",
                None,
                f"its members add up to {declared:,} bytes uncompressed; at most "
                f"{limits['max_total_bytes']:,} are allowed",
                bytes=declared,
            )
        )
    seen: dict[str, str] = {}
    for info in infos:
        problem = name_problem(info)
        key = info.filename.replace("\\", "/").rstrip("/").removeprefix("./").casefold()
        if problem is None and key in seen:
            problem = _problem(
                "duplicate", info.filename, f"{_shown(info.filename)} appears more than once"
            )
        seen.setdefault(key, info.filename)
        if problem is None:
            problem = _size_problem(info)
        if problem is not None:
            problems.append(problem)
    if problems:
        return {"problems": problems, "metrics": metrics}
    # Then each member, read and counted (never trusting the sizes the archive declares).
    total = 0
    with tempfile.TemporaryDirectory(prefix="archive-") as tmp:
        for index, info in enumerate(infos):
            if info.is_dir():
                continue
            target = Path(tmp) / f"member-{index}"
            try:
                written = _extract(zf, info, target, limits["max_total_bytes"] - total)
            except zipfile.BadZipFile:
                problems.append(
                    _problem(
                        "corrupt",
                        info.filename,
                        f"{_shown(info.filename)} does not read back as it is declared "
                        "(sizes or checksum)",
                    )
                )
                break
            if written is None:
                problems.append(
                    _problem(
                        "bomb",
                        info.filename,
                        f"{_shown(info.filename)} holds more than it declares or than is "
                        "allowed; reading stopped",
                    )
                )
                break
            total += written
            media_type = mt.detect_media_type(target, PurePosixPath(info.filename).name)
            target.unlink()
            member = {
                "location": _shown(info.filename),
                "message": (f"{written:,} bytes ({info.compress_size:,} compressed), {media_type}"),
                "media_type": media_type,
                "bytes": written,
                "compressed_bytes": info.compress_size,
                "status": "pass",
            }
            if media_type in NESTED_ARCHIVE_TYPES:
                member["status"] = "fail"
                problems.append(
                    _problem(
                        "nested",
                        info.filename,
                        f"{_shown(info.filename)} is an archive itself ({media_type})",
                        media_type=media_type,
                    )
                )
            members.append(member)
    metrics["read_bytes"] = total
    return {"problems": problems, "members": members, "metrics": metrics}


def _size_problem(info: zipfile.ZipInfo) -> dict[str, Any] | None:
    limits = ARCHIVE_LIMITS
    name = _shown(info.filename)
    if info.file_size > limits["max_member_bytes"]:
        return _problem(
            "bomb",
            info.filename,
            f"{name} is {info.file_size:,} bytes uncompressed; a member may be at most "
            f"{limits['max_member_bytes']:,}",
            bytes=info.file_size,
        )
    if info.file_size >= limits["min_ratio_bytes"]:
        ratio = info.file_size / max(info.compress_size, 1)
        if ratio > limits["max_ratio"]:
            return _problem(
                "bomb",
                info.filename,
                f"{name} expands {ratio:,.0f} times ({info.compress_size:,} to "
                f"{info.file_size:,} bytes); at most {limits['max_ratio']} times",
                bytes=info.file_size,
            )
    return None


def _extract(zf: zipfile.ZipFile, info: zipfile.ZipInfo, target: Path, room: int) -> int | None:
    """Copy one member to ``target``; its byte count, or None when it holds more than it
    declares, than a member may hold, or than is left of the total."""
    cap = min(info.file_size, ARCHIVE_LIMITS["max_member_bytes"], room)
    written = 0
    with zf.open(info) as src, open(target, "wb") as out:
        while chunk := src.read(READ_CHUNK):
            written += len(chunk)
            if written > cap:
                return None
            out.write(chunk)
    return written
