"""PNG and JPEG images, checked whole and bounded in bytes and pixels, put in the page as
``data:`` URIs, with every block of data they carry besides their pixels listed."""

from __future__ import annotations

import base64
import zlib

from cleanroom.airlock.inspect import mediatypes as mt
from cleanroom.airlock.inspect.previews import common
from cleanroom.airlock.inspect.previews.common import _human, _Source
from cleanroom.airlock.inspect.previews.html import _cut_note, _esc, _meta, _note, _table
from cleanroom.airlock.inspect.previews.models import _binary


def _image(src: _Source) -> str:
    if src.size > common.LIMITS.image_bytes:
        return _cut_note(
            f"Image not shown: larger than {_human(common.LIMITS.image_bytes)}.", src.full_url
        ) + _binary(src, note=False)
    data = src.f.read(common.LIMITS.image_bytes)
    tail = data[-mt.TAIL_BYTES :]
    if src.media_type == mt.PNG and mt.is_png(data, tail):
        width, height = mt.png_size(data)
    elif src.media_type == mt.JPEG and mt.is_jpeg(data, tail):
        width, height = mt.jpeg_size(data) or (0, 0)
    else:
        return _note(f"Not shown: the content is not a whole {src.media_type} image.") + _binary(
            src, note=False
        )
    if not width or not height:
        return _note("Image not shown: it has no readable size.") + _binary(src, note=False)
    if width * height > common.LIMITS.image_pixels:
        return _note(f"Image not shown: {width}×{height} pixels is too large.") + _binary(
            src, note=False
        )
    return (
        _meta(f"{width}×{height} pixels · {_human(src.size)}")
        + _img(src.media_type, data, src.name)
        + _image_metadata(src.media_type, data)
    )


# PNG chunks that only describe the picture; any other chunk is listed for the reviewer.
_PNG_IMAGE_CHUNKS = set(
    ("IHDR PLTE IDAT IEND tRNS gAMA cHRM sRGB iCCP sBIT pHYs bKGD hIST tIME cICP mDCv cLLi").split()
)
# JPEG segments that only describe the picture: frames, tables, restart interval, scan.
_JPEG_IMAGE_SEGMENTS = {0xC4, 0xCC, 0xDA, 0xDB, 0xDD} | (set(range(0xC0, 0xD0)) - {0xC4, 0xCC})


def _image_metadata(media_type: str, data: bytes) -> str:
    """What an image carries besides its pixels (text chunks, EXIF, comments, private
    chunks): data could ride out in them, so the reviewer sees each one and its size."""
    rows: list[list[str | None]] = []
    if media_type == mt.PNG:
        for kind, offset, length in mt.png_chunks(data) or []:
            if kind not in _PNG_IMAGE_CHUNKS:
                rows.append(
                    [kind, f"{length:,}", _chunk_text(kind, data[offset : offset + length])]
                )
    else:
        for marker, offset, length in mt.jpeg_segments(data) or []:
            if marker not in _JPEG_IMAGE_SEGMENTS:
                name = f"APP{marker - 0xE0}" if 0xE0 <= marker <= 0xEF else f"0xFF{marker:02X}"
                name = "COM" if marker == 0xFE else name
                rows.append([name, f"{length:,}", _printable(data[offset : offset + length])])
    if not rows:
        return ""
    shown = rows[: common.LIMITS.binary_listing]
    return _note(f"This image carries {len(rows):,} blocks of data besides its pixels:") + _table(
        ["block", "bytes", "content (start)"], shown
    )


def _chunk_text(kind: str, body: bytes) -> str:
    if kind == "zTXt":  # keyword, NUL, method, compressed text: inflate a bounded amount
        keyword, _, rest = body.partition(b"\x00")
        try:
            text = zlib.decompressobj().decompress(rest[1:], common.LIMITS.cell_chars * 4)
        except zlib.error:
            return "(compressed text that does not inflate)"
        return _printable(keyword + b": " + text)
    return _printable(body.replace(b"\x00", b": ", 1))


def _printable(raw: bytes) -> str:
    return raw[: common.LIMITS.cell_chars * 4].decode("utf-8", "replace")


def _img(media_type: str, data: bytes, alt: str) -> str:
    b64 = base64.b64encode(data).decode("ascii")
    return f'<img class="cr-preview-image" src="data:{media_type};base64,{b64}" alt="{_esc(alt)}">'
