"""Remove whole columns from a Parquet file without decoding it: copy the other columns' bytes.

::

    drop_columns("airlock.parquet", "researcher.parquet", {"plant"})

A Parquet file is ``PAR1``, then for each row group one *column chunk* per column (its pages,
compressed), then optional bloom filters, then the footer (Thrift ``FileMetaData``: schema,
row groups, each chunk's offsets, sizes and statistics), its length and ``PAR1``. Dropping a
column is therefore a byte copy of every other chunk and bloom filter into a new file, and a
new footer that no longer mentions the column, with the offsets moved. The dropped column's
pages, bloom filters, statistics and name are not in the output at all.

The grant materialiser uses this to derive the researcher's copy from the airlock's copy
(which has the contributor column besides): one DuckDB pass instead of two. Only the shape
DuckDB writes is handled: a flat schema, no page indexes, no per-file key-value metadata, no
encryption, no chunks in other files, bloom filters with their lengths. Anything else raises
:class:`UnsupportedParquet` *before* anything is written, and the caller falls back to
DuckDB. Every chunk and filter range is checked to lie inside the file and not to overlap
another.

The Thrift compact protocol codec below keeps every field it does not need to change, in order,
so the footer is re-encoded as it was apart from the edits.
"""

from __future__ import annotations

import io
import os
import struct
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

MAGIC = b"PAR1"

# Thrift compact protocol types
STOP, TRUE, FALSE, BYTE, I16, I32, I64, DOUBLE, BINARY, LIST, SET, MAP, STRUCT = range(13)


class UnsupportedParquet(ValueError):
    """The file uses a Parquet feature this module does not rewrite; nothing was written."""


# --- Thrift compact protocol: structs as ordered lists of fields ------------------------------


@dataclass
class Field:
    id: int
    type: int
    value: object  # int | float | bytes | bool | list[Field] (struct) | ThriftList


@dataclass
class ThriftList:
    elem_type: int
    items: list


def _read_varint(buf: io.BytesIO) -> int:
    shift = result = 0
    while True:
        byte = buf.read(1)
        if not byte:
            raise UnsupportedParquet("truncated footer")
        b = byte[0]
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result
        shift += 7
        if shift > 70:
            raise UnsupportedParquet("bad varint in footer")


def _zigzag_decode(n: int) -> int:
    return (n >> 1) ^ -(n & 1)


def _zigzag_encode(n: int) -> int:
    return (n << 1) ^ (n >> 63)


def _read_value(buf: io.BytesIO, ttype: int, depth: int):
    if depth > 64:
        raise UnsupportedParquet("footer nested too deeply")
    if ttype in (TRUE, FALSE):  # only inside collections: one byte each
        return buf.read(1) == b"\x01"
    if ttype == BYTE:
        return struct.unpack("<b", buf.read(1))[0]
    if ttype in (I16, I32, I64):
        return _zigzag_decode(_read_varint(buf))
    if ttype == DOUBLE:
        return struct.unpack("<d", buf.read(8))[0]
    if ttype == BINARY:
        size = _read_varint(buf)
        data = buf.read(size)
        if len(data) != size:
            raise UnsupportedParquet("truncated footer")
        return data
    if ttype in (LIST, SET):
        header = buf.read(1)[0]
        size, elem = header >> 4, header & 0x0F
        if size == 15:
            size = _read_varint(buf)
        return ThriftList(elem, [_read_value(buf, elem, depth + 1) for _ in range(size)])
    if ttype == STRUCT:
        return _read_struct(buf, depth + 1)
    raise UnsupportedParquet(f"Thrift type {ttype} in the footer")  # maps: not in Parquet


def _read_struct(buf: io.BytesIO, depth: int = 0) -> list[Field]:
    fields: list[Field] = []
    last = 0
    while True:
        header = buf.read(1)
        if not header:
            raise UnsupportedParquet("truncated footer")
        h = header[0]
        ttype = h & 0x0F
        if ttype == STOP:
            return fields
        delta = h >> 4
        fid = last + delta if delta else _zigzag_decode(_read_varint(buf))
        value = ttype == TRUE if ttype in (TRUE, FALSE) else _read_value(buf, ttype, depth)
        fields.append(Field(fid, ttype, value))
        last = fid


def _write_varint(out: io.BytesIO, n: int) -> None:
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.write(bytes([b | 0x80]))
        else:
            out.write(bytes([b]))
            return


def _write_value(out: io.BytesIO, ttype: int, value) -> None:
    if ttype in (TRUE, FALSE):
        out.write(b"\x01" if value else b"\x02")
    elif ttype == BYTE:
        out.write(struct.pack("<b", value))
    elif ttype in (I16, I32, I64):
        _write_varint(out, _zigzag_encode(value))
    elif ttype == DOUBLE:
        out.write(struct.pack("<d", value))
    elif ttype == BINARY:
        _write_varint(out, len(value))
        out.write(value)
    elif ttype in (LIST, SET):
        size = len(value.items)
        if size < 15:
            out.write(bytes([(size << 4) | value.elem_type]))
        else:
            out.write(bytes([0xF0 | value.elem_type]))
            _write_varint(out, size)
        for item in value.items:
            _write_value(out, value.elem_type, item)
    elif ttype == STRUCT:
        _write_struct(out, value)
    else:  # pragma: no cover - _read_value refuses these
        raise UnsupportedParquet(f"Thrift type {ttype}")


def _write_struct(out: io.BytesIO, fields: list[Field]) -> None:
    last = 0
    for f in fields:
        ttype = f.type
        if ttype in (TRUE, FALSE):
            ttype = TRUE if f.value else FALSE
        delta = f.id - last
        if 0 < delta <= 15:
            out.write(bytes([(delta << 4) | ttype]))
        else:
            out.write(bytes([ttype]))
            _write_varint(out, _zigzag_encode(f.id))
        if f.type not in (TRUE, FALSE):
            _write_value(out, f.type, f.value)
        last = f.id
    out.write(b"\x00")


def decode_struct(data: bytes) -> list[Field]:
    return _read_struct(io.BytesIO(data))


def encode_struct(fields: list[Field]) -> bytes:
    out = io.BytesIO()
    _write_struct(out, fields)
    return out.getvalue()


def _get(fields: list[Field], fid: int, default=None):
    for f in fields:
        if f.id == fid:
            return f.value
    return default


def _set(fields: list[Field], fid: int, ttype: int, value) -> None:
    for f in fields:
        if f.id == fid:
            f.value = value
            return
    fields.append(Field(fid, ttype, value))
    fields.sort(key=lambda f: f.id)


def _has(fields: list[Field], *fids: int) -> bool:
    return any(f.id in fids for f in fields)


# --- Parquet ------------------------------------------------------------------------------------

# FileMetaData
FMD_SCHEMA, FMD_ROW_GROUPS, FMD_KV, FMD_COLUMN_ORDERS = 2, 4, 5, 7
FMD_ENCRYPTION = (8, 9)
# SchemaElement
SE_NAME, SE_NUM_CHILDREN = 4, 5
# RowGroup
RG_COLUMNS, RG_TOTAL_BYTE_SIZE, RG_SORTING, RG_FILE_OFFSET, RG_TOTAL_COMPRESSED = 1, 2, 4, 5, 6
# ColumnChunk
CC_FILE_PATH, CC_FILE_OFFSET, CC_META = 1, 2, 3
CC_PAGE_INDEX = (4, 5, 6, 7)
CC_ENCRYPTION = (8, 9)
# ColumnMetaData
CM_PATH, CM_UNCOMPRESSED, CM_COMPRESSED = 3, 6, 7
CM_DATA_PAGE, CM_INDEX_PAGE, CM_DICT_PAGE = 9, 10, 11
CM_BLOOM_OFFSET, CM_BLOOM_LENGTH = 14, 15


def read_footer(path: str | os.PathLike[str]) -> tuple[list[Field], int]:
    """The decoded FileMetaData of ``path`` and the offset where the footer starts."""
    with open(path, "rb") as f:
        size = f.seek(0, os.SEEK_END)
        if size < 12:
            raise UnsupportedParquet("not a Parquet file (too short)")
        f.seek(0)
        head = f.read(4)
        f.seek(size - 8)
        tail = f.read(8)
        if head != MAGIC or tail[4:] != MAGIC:
            raise UnsupportedParquet("not a plain Parquet file (no PAR1 magic; encrypted?)")
        length = struct.unpack("<I", tail[:4])[0]
        start = size - 8 - length
        if start < 4:
            raise UnsupportedParquet("footer length out of range")
        f.seek(start)
        return decode_struct(f.read(length)), start


def _chunk_range(meta: list[Field]) -> tuple[int, int]:
    data = _get(meta, CM_DATA_PAGE)
    dictionary = _get(meta, CM_DICT_PAGE)
    index = _get(meta, CM_INDEX_PAGE)
    if data is None or _get(meta, CM_COMPRESSED) is None:
        raise UnsupportedParquet("a column chunk without offsets")
    start = min(x for x in (data, dictionary, index) if x is not None and x > 0)
    return start, start + _get(meta, CM_COMPRESSED)


def _check_ranges(ranges: Iterable[tuple[int, int]], end: int) -> None:
    last_end = 4
    for start, stop in sorted(ranges):
        if start < last_end or stop > end or stop <= start:
            raise UnsupportedParquet("column chunks or bloom filters overlap or leave the file")
        last_end = stop


def _copy(src: int, dst: int, start: int, length: int) -> None:
    offset, remaining = start, length
    while remaining:
        try:
            n = os.copy_file_range(src, dst, remaining, offset)
        except OSError:
            n = 0
        if n == 0:  # not supported here (or a short copy): plain reads and writes
            os.lseek(src, offset, os.SEEK_SET)
            data = os.read(src, min(remaining, 8 << 20))
            if not data:
                raise UnsupportedParquet("the file ended inside a column chunk")
            n = os.write(dst, data)
        offset += n
        remaining -= n


class _Copier:
    """Copies byte ranges in order, merging ranges that follow each other in the source."""

    def __init__(self, src: int, dst: int):
        self.src, self.dst = src, dst
        self.start = self.length = 0

    def add(self, start: int, length: int) -> None:
        if self.length and start == self.start + self.length:
            self.length += length
            return
        self.flush()
        self.start, self.length = start, length

    def flush(self) -> None:
        if self.length:
            _copy(self.src, self.dst, self.start, self.length)
        self.length = 0


def drop_columns(
    src: str | os.PathLike[str], dst: str | os.PathLike[str], drop: Iterable[str]
) -> list[str]:
    """Write ``dst``: ``src`` without the top-level columns named in ``drop``; return the
    columns kept. Raises :class:`UnsupportedParquet` (nothing written) for shapes it does not
    handle, ``KeyError`` for a column that is not there."""
    drop = set(drop)
    footer, footer_start = read_footer(src)
    if _has(footer, FMD_KV, *FMD_ENCRYPTION):
        raise UnsupportedParquet("key-value metadata or encryption in the footer")
    schema = _get(footer, FMD_SCHEMA)
    if schema is None or not schema.items:
        raise UnsupportedParquet("no schema")
    root, leaves = schema.items[0], schema.items[1:]
    if any(_has(leaf, SE_NUM_CHILDREN) for leaf in leaves):
        raise UnsupportedParquet("nested columns")
    names = [_get(leaf, SE_NAME).decode() for leaf in leaves]
    missing = drop - set(names)
    if missing:
        raise KeyError(f"no column {sorted(missing)} in {src}")
    keep = [i for i, name in enumerate(names) if name not in drop]

    row_groups = _get(footer, FMD_ROW_GROUPS)
    plan: list[tuple[list[Field], list[tuple[list[Field], list[Field]]]]] = []
    ranges, blooms = [], []
    for rg in row_groups.items if row_groups else []:
        if _has(rg, RG_SORTING):
            raise UnsupportedParquet("sorting columns")
        columns = _get(rg, RG_COLUMNS).items
        if len(columns) != len(names):
            raise UnsupportedParquet("a row group's columns do not match the schema")
        kept_chunks = []
        for i, chunk in enumerate(columns):
            if _has(chunk, CC_FILE_PATH, *CC_PAGE_INDEX, *CC_ENCRYPTION):
                raise UnsupportedParquet("external chunks, page indexes or encryption")
            meta = _get(chunk, CC_META)
            path = _get(meta, CM_PATH)
            if path is None or [p.decode() for p in path.items] != [names[i]]:
                raise UnsupportedParquet("a column chunk out of schema order")
            ranges.append(_chunk_range(meta))
            bloom = _get(meta, CM_BLOOM_OFFSET)
            if bloom is not None:
                length = _get(meta, CM_BLOOM_LENGTH)
                if length is None:
                    raise UnsupportedParquet("a bloom filter without its length")
                ranges.append((bloom, bloom + length))
                if i in keep:
                    blooms.append((bloom, length, meta))
            if i in keep:
                kept_chunks.append((chunk, meta))
        plan.append((rg, kept_chunks))
    _check_ranges(ranges, footer_start)

    # The new footer (edited in place: the decoded footer is ours).
    _set(root, SE_NUM_CHILDREN, I32, len(keep))
    schema.items = [root] + [leaves[i] for i in keep]
    orders = _get(footer, FMD_COLUMN_ORDERS)
    if orders is not None:
        if len(orders.items) != len(names):
            raise UnsupportedParquet("column orders do not match the schema")
        orders.items = [orders.items[i] for i in keep]

    src_fd = os.open(src, os.O_RDONLY)
    try:
        dst_fd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # never overwrite
    except BaseException:
        os.close(src_fd)
        raise
    try:
        try:
            os.write(dst_fd, MAGIC)
            position = len(MAGIC)
            copier = _Copier(src_fd, dst_fd)
            for rg, kept_chunks in plan:
                first = position
                uncompressed = compressed = 0
                for chunk, meta in kept_chunks:
                    start, stop = _chunk_range(meta)
                    copier.add(start, stop - start)
                    delta = position - start
                    for fid in (CM_DATA_PAGE, CM_INDEX_PAGE, CM_DICT_PAGE):
                        value = _get(meta, fid)
                        if value is not None and value > 0:
                            _set(meta, fid, I64, value + delta)
                    if _get(chunk, CC_FILE_OFFSET):
                        _set(chunk, CC_FILE_OFFSET, I64, _get(chunk, CC_FILE_OFFSET) + delta)
                    position += stop - start
                    uncompressed += _get(meta, CM_UNCOMPRESSED, 0)
                    compressed += stop - start
                _get(rg, RG_COLUMNS).items = [chunk for chunk, _ in kept_chunks]
                _set(rg, RG_TOTAL_BYTE_SIZE, I64, uncompressed)
                if _has(rg, RG_FILE_OFFSET):
                    _set(rg, RG_FILE_OFFSET, I64, first)
                if _has(rg, RG_TOTAL_COMPRESSED):
                    _set(rg, RG_TOTAL_COMPRESSED, I64, compressed)
            for offset, length, meta in sorted(blooms, key=lambda b: b[0]):
                copier.add(offset, length)
                _set(meta, CM_BLOOM_OFFSET, I64, position)
                position += length
            copier.flush()
            encoded = encode_struct(footer)
            os.write(dst_fd, encoded + struct.pack("<I", len(encoded)) + MAGIC)
        finally:
            os.close(dst_fd)
    except BaseException:
        Path(dst).unlink(missing_ok=True)
        raise
    finally:
        os.close(src_fd)
    return [names[i] for i in keep]
