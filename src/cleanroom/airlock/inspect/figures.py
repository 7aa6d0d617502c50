"""The ``figure`` check: what a PNG or JPEG carries besides its pixels.

::

    info = inspect_figure(Path("/input/0"))     # in the sandbox (the ``figure-inspect`` job)
    outcome = check_figure(subject)              # in the airlock: the job, then the outcome

A reviewer looks at the picture; data can ride out where no one looks: text chunks, EXIF, ICC
profiles, private chunks, JPEG comments and application segments, bytes between a JPEG's
segments, and bytes after the image's end (IEND, EOI). Each is a finding with its size, never
its content (it could be copied from the vault). What each kind of finding means is
:data:`FIGURE_RULES`; the release policy may refuse more (``content_limits``).
"""

from __future__ import annotations

import zlib
from pathlib import Path
from typing import Any

from cleanroom.airlock.enums import CheckStatus
from cleanroom.airlock.inspect import mediatypes as mt
from cleanroom.airlock.inspect.outcome import CheckOutcome, CheckSubject
from cleanroom.airlock.inspect.pdf import TRAILING_MAGIC

FIGURE_CHECK = "figure"
# Largest image read whole (the policy releases figures up to 10 MiB).
FIGURE_MAX_BYTES = 64 * 1024 * 1024
# Metadata blocks (text, EXIF, ICC, comments) together up to this are only listed (a plotting
# library writes its name, a profile); more asks a reviewer to look (warn).
METADATA_WARN_BYTES = 4096
# Most bytes a compressed chunk is inflated to, to say how much it holds.
INFLATE_MAX_BYTES = 16 * 1024 * 1024
# Bytes after the end that are only padding (NUL, CR, LF), up to this many, are listed only.
PADDING_MAX_BYTES = 16

# What each kind of finding means on its own (the check's status is the worst of them).
FIGURE_RULES: dict[str, CheckStatus] = {
    "trailing-data": CheckStatus.FAIL,  # bytes after IEND / EOI: no viewer shows them
    "stray-bytes": CheckStatus.FAIL,  # bytes between JPEG segments: no decoder reads them
    "bad-checksum": CheckStatus.FAIL,  # a PNG chunk whose CRC is wrong: decoders skip it
    "unknown-chunk": CheckStatus.WARN,  # a private or unknown PNG chunk / JPEG segment
    "metadata": CheckStatus.PASS,  # text, EXIF, ICC, comments: WARN above METADATA_WARN_BYTES
    "padding": CheckStatus.PASS,
}
FIGURE_FIX = (
    "export the figure again as a plain PNG or JPEG without metadata (e.g. matplotlib "
    "savefig(..., metadata={'Software': None})) and replace the file"
)

# PNG chunks that only describe the picture.
PNG_IMAGE_CHUNKS = frozenset(
    "IHDR PLTE IDAT IEND tRNS gAMA cHRM sRGB sBIT pHYs bKGD hIST tIME cICP mDCv cLLi".split()
)
# PNG chunks that carry metadata (text, EXIF, an ICC profile).
PNG_METADATA_CHUNKS = frozenset("tEXt zTXt iTXt eXIf iCCP".split())
# JPEG segments that only describe the picture: frames, tables, restart interval, scan.
JPEG_IMAGE_SEGMENTS = frozenset(
    {0xC4, 0xCC, 0xDA, 0xDB, 0xDD, 0xDC, 0xDE, 0xDF} | (set(range(0xC0, 0xD0)) - {0xC4, 0xCC})
)
# The labels that start the APPn segments writers use, and their names.
JPEG_APP_LABELS = {
    b"JFIF": "JFIF",
    b"JFXX": "JFIF extension",
    b"Exif": "EXIF",
    b"ICC_PROFILE": "ICC profile",
    b"http://ns.adobe.com/xap/1.0/": "XMP",
    b"Adobe": "Adobe",
    b"Ducky": "Ducky",
    b"MPF": "multi-picture",
    b"Photoshop 3.0": "Photoshop",
}
# JPEG segments that carry metadata: APP0-APP15 (JFIF, EXIF, ICC, XMP, ...) and comments.
JPEG_METADATA_SEGMENTS = frozenset(set(range(0xE0, 0xF0)) | {0xFE})


# --- in the sandbox ------------------------------------------------------------------------


def inspect_figure(path: Path) -> dict[str, Any]:
    """The blocks of a PNG or JPEG that are not its picture, with sizes (pure; the
    ``figure-inspect`` job). ``{"format", "size", "end", "findings"}``;
    ``end`` None when the image's end was not found (then nothing else is trusted)."""
    with mt.open_regular(path) as f:
        data = f.read(FIGURE_MAX_BYTES + 1)
    if len(data) > FIGURE_MAX_BYTES:
        return {"format": None, "size": len(data), "error": "too large to inspect"}
    if mt.png_start(data):
        return _inspect_png(data)
    if mt.jpeg_start(data):
        return _inspect_jpeg(data)
    return {"format": None, "size": len(data), "error": "neither a PNG nor a JPEG"}


def _finding(rule: str, location: str, message: str, size: int, **extra: Any) -> dict[str, Any]:
    return {"rule": rule, "location": location, "message": message, "bytes": size, **extra}


def _inspect_png(data: bytes) -> dict[str, Any]:
    chunks = mt.png_chunks(data)
    if chunks is None:
        return {"format": "PNG", "size": len(data), "end": None, "findings": []}
    findings = []
    for raw_kind, offset, length in chunks:
        # A chunk's name is four letters; anything else is shown as hex, never as text.
        kind = (
            raw_kind
            if raw_kind.isascii() and raw_kind.isalpha()
            else raw_kind.encode("latin-1").hex()
        )
        location = f"{kind} chunk at byte {offset - 8:,}"
        body = data[offset - 4 : offset + length]
        crc = int.from_bytes(data[offset + length : offset + length + 4], "big")
        if zlib.crc32(body) != crc:
            findings.append(
                _finding(
                    "bad-checksum",
                    location,
                    f"a {length:,}-byte {kind} chunk whose checksum is wrong (viewers skip it)",
                    length,
                    chunk=kind,
                )
            )
        elif kind in PNG_METADATA_CHUNKS:
            what = {"eXIf": "EXIF", "iCCP": "ICC profile"}.get(kind, "text")
            inflated = _inflated_size(kind, data[offset : offset + length])
            more = f", {inflated:,} once inflated" if inflated is not None else ""
            findings.append(
                _finding(
                    "metadata",
                    location,
                    f"{length:,} bytes of {what} metadata ({kind}{more})",
                    length,
                    chunk=kind,
                    inflated=inflated,
                )
            )
        elif kind not in PNG_IMAGE_CHUNKS:
            findings.append(
                _finding(
                    "unknown-chunk",
                    location,
                    f"a {length:,}-byte {kind} chunk that is not part of the picture",
                    length,
                    chunk=kind,
                )
            )
    end = chunks[-1][1] + chunks[-1][2] + 4
    findings += _trailing(data, end, "IEND")
    return {"format": "PNG", "size": len(data), "end": end, "findings": findings}


def _inflated_size(kind: str, body: bytes) -> int | None:
    """How many bytes a compressed text or ICC chunk holds (inflated up to INFLATE_MAX_BYTES,
    that bound when it holds more); None when the chunk is not compressed."""
    keyword, _, rest = body.partition(b"\x00")
    if kind == "iTXt":
        if rest[:1] != b"\x01":
            return None
        # compression flag and method, then a language tag and a translated keyword
        rest = rest[2:].split(b"\x00", 2)[-1]
    elif kind in ("zTXt", "iCCP"):
        rest = rest[1:]  # the compression method
    else:
        return None
    inflater = zlib.decompressobj()
    try:
        size = len(inflater.decompress(rest, INFLATE_MAX_BYTES))
    except zlib.error:
        return 0
    return size


def _segment_name(marker: int) -> str:
    if 0xE0 <= marker <= 0xEF:
        return f"APP{marker - 0xE0}"
    return "COM" if marker == 0xFE else f"FF{marker:02X}"


def _inspect_jpeg(data: bytes) -> dict[str, Any]:
    walk = mt.walk_jpeg(data)
    if walk.end is None:
        return {"format": "JPEG", "size": len(data), "end": None, "findings": []}
    findings = []
    for marker, offset, length in walk.segments:
        name = _segment_name(marker)
        location = f"{name} segment at byte {offset - 4:,}"
        if marker in JPEG_METADATA_SEGMENTS:
            # Named by its own label when it is a known one; never quoting the content.
            label = data[offset : offset + min(length, 32)].split(b"\x00")[0]
            kind = JPEG_APP_LABELS.get(label, "")
            what = "a comment" if marker == 0xFE else (f"{kind} metadata" if kind else "metadata")
            findings.append(
                _finding(
                    "metadata",
                    location,
                    f"{length:,} bytes of {what} ({name})",
                    length,
                    segment=name,
                )
            )
        elif marker not in JPEG_IMAGE_SEGMENTS:
            findings.append(
                _finding(
                    "unknown-chunk",
                    location,
                    f"a {length:,}-byte {name} segment that is not part of the picture",
                    length,
                    segment=name,
                )
            )
    if walk.stray_bytes:
        findings.append(
            _finding(
                "stray-bytes",
                "between segments",
                f"{walk.stray_bytes:,} bytes between the image's segments that no viewer reads",
                walk.stray_bytes,
            )
        )
    findings += _trailing(data, walk.end, "EOI")
    return {"format": "JPEG", "size": len(data), "end": walk.end, "findings": findings}


def _trailing(data: bytes, end: int, marker: str) -> list[dict[str, Any]]:
    after = data[end:]
    if not after:
        return []
    if len(after) <= PADDING_MAX_BYTES and not after.strip(b"\x00\r\n"):
        return [_finding("padding", f"after byte {end:,}", f"{len(after)} padding bytes", 0)]
    return [
        _finding(
            "trailing-data",
            f"after byte {end:,}",
            f"{len(after):,} bytes after the image's end ({marker}): {_looks_like(after)}",
            len(after),
        )
    ]


def _looks_like(after: bytes) -> str:
    """What appended bytes look like, by their magic only (never quoting them)."""
    for magic, what in TRAILING_MAGIC:
        if after.startswith(magic):
            return f"they look like {what}"
    try:
        after[:4096].decode("utf-8")
    except UnicodeDecodeError:
        return "binary data"
    return "text"


# --- in the airlock ------------------------------------------------------------------------


def check_figure(subject: CheckSubject) -> CheckOutcome:
    """Metadata and hidden data of a PNG or JPEG, found in the sandbox (``figure-inspect``)."""
    from cleanroom import sandbox

    result = sandbox.run_warm("figure-inspect", subject.path)
    if not result.ok or not isinstance(result.value, dict):
        return _outcome(
            CheckStatus.ERROR, f"the image could not be inspected: {result.message}", (), {}
        )
    return figure_outcome(result.value)


def figure_outcome(info: dict[str, Any]) -> CheckOutcome:
    """The ``figure`` check's outcome from what :func:`inspect_figure` found (pure)."""
    if info.get("error"):
        return _outcome(
            CheckStatus.ERROR, f"the image was not inspected: it is {info['error']}", (), {}
        )
    fmt = info["format"]
    if info.get("end") is None:
        return _outcome(
            CheckStatus.FAIL,
            f"the {fmt}'s end was not found (a truncated or malformed image); {FIGURE_FIX}",
            (),
            {},
        )
    findings = [dict(f) for f in info["findings"]]
    # What metadata holds: a compressed chunk's inflated size when larger than it is stored.
    metadata = sum(
        max(f["bytes"], f.get("inflated") or 0) for f in findings if f["rule"] == "metadata"
    )
    for f in findings:
        status = FIGURE_RULES.get(f["rule"], CheckStatus.WARN)
        if f["rule"] == "metadata" and metadata > METADATA_WARN_BYTES:
            status = CheckStatus.WARN
        f["status"] = str(status)
    metrics = {
        "format": fmt,
        "image_bytes": info["end"],
        "trailing_bytes": info["size"] - info["end"],
        "metadata_bytes": metadata,
        "metadata_blocks": sum(f["rule"] == "metadata" for f in findings),
        "unknown_chunks": sum(f["rule"] == "unknown-chunk" for f in findings),
    }
    failed = [f["message"] for f in findings if f["status"] == CheckStatus.FAIL]
    warned = [f["message"] for f in findings if f["status"] == CheckStatus.WARN]
    if failed:
        message = f"this {fmt} carries more than its picture: {'; '.join(failed)}. "
        return _outcome(
            CheckStatus.FAIL, message + f"To release it, {FIGURE_FIX}", findings, metrics
        )
    if warned:
        message = (
            f"a reviewer must look at what this {fmt} carries besides its picture "
            f"({metadata:,} bytes of metadata): {'; '.join(warned[:5])}"
        )
        return _outcome(CheckStatus.WARN, message, findings, metrics)
    listed = f"; {metadata:,} bytes of metadata, listed" if metadata else ""
    return _outcome(
        CheckStatus.PASS, f"a plain {fmt}: nothing after its end{listed}", findings, metrics
    )


def _outcome(
    status: CheckStatus, message: str, findings: Any, metrics: dict[str, Any]
) -> CheckOutcome:
    # Imported here: ``checks`` registers this module's check, so it imports this module.

    return CheckOutcome(FIGURE_CHECK, status, message, tuple(findings), metrics)
