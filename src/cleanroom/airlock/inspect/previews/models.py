"""Files shown by size and hash only, with the tensor list of safetensors weights and the
top-level fields of ONNX models (never their values or graph)."""

from __future__ import annotations

import json

from cleanroom.airlock.inspect import mediatypes as mt
from cleanroom.airlock.inspect.previews import common
from cleanroom.airlock.inspect.previews.common import _hash_text, _human, _sha256, _Source
from cleanroom.airlock.inspect.previews.html import _cut_note, _details, _meta, _note, _table


def _binary(src: _Source, note: bool = True) -> str:
    sha = _sha256(src.f, src.size, src.sha256)
    parts = [_meta(f"{_human(src.size)} · {_hash_text(sha)}")]
    if note:
        reason = {
            mt.SAFETENSORS: "Model weights: the tensor list is below; the values are not shown.",
            mt.ONNX: "ONNX model: its top-level fields are below; the graph is not shown.",
        }.get(src.media_type, f"No preview for {src.media_type}: size and hash only.")
        parts.append(_cut_note(reason, src.full_url))
    if src.media_type == mt.SAFETENSORS:
        parts.append(_safetensors_listing(src))
    elif src.media_type == mt.ONNX:
        parts.append(_onnx_listing(src))
    return "".join(parts)


def _safetensors_listing(src: _Source) -> str:
    header = mt.read_safetensors_header(src.f, src.size)
    if header is None:
        return _note("The safetensors header could not be read.")
    metadata = header.pop("__metadata__", None)
    rows = [
        [name, str(entry["dtype"]), "×".join(map(str, entry["shape"])) or "scalar"]
        for name, entry in list(header.items())[: common.LIMITS.binary_listing]
    ]
    parts = [_meta(f"{len(header):,} tensors")]
    parts.append(_table(["tensor", "dtype", "shape"], rows))
    if len(header) > common.LIMITS.binary_listing:
        parts.append(
            _cut_note(f"Showing the first {common.LIMITS.binary_listing} tensors.", src.full_url)
        )
    if metadata:
        parts.append(_details("__metadata__", json.dumps(metadata, indent=1)))
    return "".join(parts)


def _onnx_listing(src: _Source) -> str:
    fields = mt.read_onnx_fields(src.f, src.size)
    names = {1: "ir_version", 2: "producer_name", 3: "producer_version", 4: "domain"}
    rows = []
    for number, label in names.items():
        for value in fields.get(number, [])[:1]:
            if isinstance(value, tuple):
                offset, length = value
                src.f.seek(offset)
                shown = src.f.read(min(length, 256)).decode("utf-8", "replace")
            else:
                shown = str(value)
            rows.append([label, shown])
    graph = fields.get(7, [(0, 0)])[0]
    rows.append(["graph", _human(graph[1]) if isinstance(graph, tuple) else "?"])
    src.f.seek(0)
    return _table(["field", "value"], rows)
