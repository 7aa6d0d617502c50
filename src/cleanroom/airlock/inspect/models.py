"""What a model file holds, read without running any of it: the ``model`` check.

::

    info = inspect_model(Path("/input/0"), "application/x-python-pickle")  # in the sandbox
    outcome = model_outcome(info)  # in the airlock: pass, warn or fail, with findings

A pickle (``pickle``, ``joblib``, the ``data.pkl`` inside torch.save's zip) runs code when it is
loaded: whatever its GLOBAL/STACK_GLOBAL/INST/OBJ opcodes import is called by REDUCE. So it is
never loaded here, not even in the sandbox: ``fickling`` reads its opcodes as a program and
lists what it imports, and the imports on :data:`UNSAFE_IMPORTS` (fickling's list, and ours)
fail the file. A pickle-based model that imports nothing unsafe still warns: it could be saved
as safetensors or ONNX instead (the release policy's ``prefer_model_media_types``).

safetensors is a JSON header and raw tensors: the header gives tensor count, dtypes,
parameters and bytes. ONNX is read with ``onnx.load(..., load_external_data=False)``: its
initializers, the tensors inside node attributes, its nodes, its metadata and any reference to
data outside the file (which fails: what a reviewer sees must be the whole model).

The parsing functions (:func:`inspect_model` and below) run only inside the sandbox (the
``model-inspect`` job); :func:`check_model` is what the airlock calls.
"""

from __future__ import annotations

import ast
import math
import os
import zipfile
from pathlib import Path
from typing import Any

from cleanroom import sandbox
from cleanroom.airlock.enums import CheckStatus
from cleanroom.airlock.inspect import archives
from cleanroom.airlock.inspect import mediatypes as mt
from cleanroom.airlock.inspect.outcome import CheckOutcome, CheckSubject
from cleanroom.sandbox import Limits

MODEL_CHECK = "model"

PICKLE_BASED = frozenset({mt.PICKLE, mt.TORCH})
MODEL_MEDIA_TYPES = PICKLE_BASED | {mt.SAFETENSORS, mt.ONNX}

# Modules and names that make a pickle unsafe besides fickling's own list
# (``fickling.fickle.UNSAFE_IMPORTS``: os, posix, subprocess, builtins, runpy, socket, ...).
# A name matches by its dotted parts, so ``torch.hub.load`` matches ``torch.hub``.
UNSAFE_IMPORTS = frozenset(
    {
        "nt.system",
        "posix.system",
        "os.system",
        "torch.hub",
        "torch.load",
        "torch.jit",
        "numpy.load",
        "numpy.testing",
        "builtins.eval",
        "builtins.exec",
        "builtins.compile",
        "builtins.open",
        "builtins.getattr",
        "builtins.setattr",
        "builtins.__import__",
        "builtins.breakpoint",
        "builtins.input",
        "builtins.globals",
        "builtins.vars",
    }
)
# What the sandbox reads at most: one pickle (a file, or a zip's member), to be scanned.
PICKLE_MAX_BYTES = 256 * 1024**2
# Most pickles read one after another from one stream.
MAX_PICKLES = 64
# Most imports listed in the findings (the metrics count them all).
MAX_LISTED_IMPORTS = 200
# ONNX metadata (metadata_props and doc strings) above this many bytes warns: free text that a
# model does not need, and that could carry rows.
METADATA_WARN_BYTES = 64 * 1024
# The job's bounds: a large pickle's opcodes take time to walk.
MODEL_LIMITS = Limits(cpu_seconds=120, wall_seconds=180.0)
IMPORT_NOTES = {True: "unsafe: runs code or reaches the system", False: "imported"}
FIX = "save the model with safetensors or export it to ONNX, and replace the file"


def check_model(subject: CheckSubject) -> CheckOutcome:
    """The ``model`` check: :func:`inspect_model` in the sandbox, then :func:`model_outcome`."""

    result = sandbox.run_warm(
        "model-inspect", subject.path, {"media_type": subject.media_type}, MODEL_LIMITS
    )
    if not result.ok or not isinstance(result.value, dict):
        return CheckOutcome(
            MODEL_CHECK,
            CheckStatus.ERROR,
            f"the model could not be inspected, so it cannot leave: {result.message}",
        )
    return model_outcome(result.value)


def model_outcome(info: dict) -> CheckOutcome:
    """The ``model`` check's outcome from what :func:`inspect_model` found (pure)."""

    def outcome(status, message, findings=()):
        return CheckOutcome(MODEL_CHECK, status, message, tuple(findings), info.get("metrics", {}))

    if info.get("error"):
        return outcome(
            CheckStatus.ERROR, f"the model could not be read, so it cannot leave: {info['error']}"
        )
    kind, m = info["format"], info.get("metrics", {})
    if kind in ("pickle", "torch"):
        unsafe = set(info["unsafe"])
        findings = [
            {
                "location": "imports",
                "message": f"{name}: {IMPORT_NOTES[name in unsafe]}",
                "rule": "unsafe-import" if name in unsafe else "import",
                "status": "fail" if name in unsafe else "warn",
                "name": name,
            }
            for name in info["imports"][:MAX_LISTED_IMPORTS]
        ]
        for member in info.get("code_members", []):
            findings.append(
                {
                    "location": member,
                    "message": f"{member}: TorchScript code, which runs when the model is loaded",
                    "rule": "code",
                    "status": "fail",
                }
            )
        what = "a pickle" if kind == "pickle" else "a torch.save zip (a pickle and tensors)"
        counted = f"{m.get('imports', 0):,} import(s)"
        if kind == "torch":
            counted += (
                f", {m.get('tensors', 0):,} tensor file(s) of {m.get('tensor_bytes', 0):,} bytes"
            )
        hidden = info.get("problems", [])
        if hidden:
            findings.extend(hidden)
            return outcome(
                CheckStatus.FAIL,
                f"{what} whose zip carries more than a model: "
                f"{'; '.join(p['message'] for p in hidden[:5])}. To release the model, {FIX}",
                findings,
            )
        if info["unsafe"] or info.get("code_members"):
            bad = ", ".join(info["unsafe"][:10] + info.get("code_members", [])[:5])
            return outcome(
                CheckStatus.FAIL,
                f"{what} that would run code when loaded ({bad}); it was not loaded. "
                f"To release the model, {FIX}",
                findings,
            )
        return outcome(
            CheckStatus.WARN,
            f"{what}, {counted}, none unsafe; it was not loaded, but loading a pickle runs "
            f"code: prefer safetensors or ONNX ({FIX})",
            findings,
        )
    if kind == "safetensors":
        return outcome(
            CheckStatus.PASS,
            f"safetensors: {m['tensors']:,} tensor(s) ({', '.join(m['dtypes'])}), "
            f"{m['parameters']:,} parameters in {m['tensor_bytes']:,} bytes, "
            f"{m['metadata_bytes']:,} bytes of metadata",
        )
    # ONNX
    summary = (
        f"ONNX: {m['initializers']:,} initializer(s) and {m['attribute_tensors']:,} tensor(s) in "
        f"node attributes, {m['parameters']:,} parameters in {m['tensor_bytes']:,} bytes, "
        f"{m['nodes']:,} node(s), {m['metadata_bytes']:,} bytes of metadata"
    )
    if info["external"]:
        findings = [
            {
                "location": ref["tensor"],
                "message": f"tensor {ref['tensor']} keeps its data outside the file, in "
                f"{ref['location']}",
                "rule": "external-data",
                "status": "fail",
            }
            for ref in info["external"][:MAX_LISTED_IMPORTS]
        ]
        return outcome(
            CheckStatus.FAIL,
            f"{summary}; {len(info['external']):,} tensor(s) keep their data outside the file, "
            "so what is reviewed would not be the whole model. Save it with its data inside "
            "(onnx.save_model(model, path, save_as_external_data=False)) and replace the file",
            findings,
        )
    if m["metadata_bytes"] > METADATA_WARN_BYTES:
        return outcome(
            CheckStatus.WARN,
            f"{summary}: more than {METADATA_WARN_BYTES:,} bytes of metadata and doc strings, "
            "free text a reviewer must read",
        )
    return outcome(CheckStatus.PASS, summary)


# --- in the sandbox only --------------------------------------------------------------------


def inspect_model(path: Path, media_type: str) -> dict:
    """What the model file at ``path`` holds, by ``media_type`` (found by the airlock)."""
    if media_type == mt.PICKLE:
        with mt.open_regular(path) as f:
            data = f.read(PICKLE_MAX_BYTES + 1)
        if len(data) > PICKLE_MAX_BYTES:
            return {"error": f"a pickle above {PICKLE_MAX_BYTES:,} bytes is not scanned"}
        return {"format": "pickle", **scan_pickle(data)}
    if media_type == mt.TORCH:
        return inspect_torch_zip(path)
    if media_type == mt.SAFETENSORS:
        return inspect_safetensors(path)
    if media_type == mt.ONNX:
        return inspect_onnx(path)
    return {"error": f"{media_type} is not a model format the airlock reads"}


def _unsafe(name: str, fickling_unsafe: bool) -> bool:
    parts = name.split(".")
    prefixes = {".".join(parts[:i]) for i in range(1, len(parts) + 1)}
    return fickling_unsafe or bool(prefixes & UNSAFE_IMPORTS)


def split_pickles(data: bytes) -> list[bytes]:
    """The pickles one after another in ``data``, each up to its STOP (read as opcodes with
    ``pickletools``, nothing executed): a stream can hold more than one, and what follows the
    first STOP would otherwise go unread. Raises ``ValueError`` when the bytes after a STOP
    are not another pickle, or there are more than MAX_PICKLES."""
    import io
    import pickletools

    stream = io.BytesIO(data)
    pieces: list[bytes] = []
    while stream.tell() < len(data):
        if len(pieces) >= MAX_PICKLES:
            raise ValueError(f"more than {MAX_PICKLES} pickles in one stream")
        start = stream.tell()
        end = None
        for opcode, _arg, pos in pickletools.genops(stream):
            if opcode.name == "STOP":
                end = (pos or 0) + 1
        if end is None:
            raise ValueError("a pickle without STOP")
        pieces.append(data[start:end])
        stream.seek(end)
    return pieces


def scan_pickle(data: bytes) -> dict:
    """The imports of every pickle in ``data``, read as opcodes by fickling (nothing is
    imported or called).

    Returns ``imports`` (module.name, sorted), ``unsafe`` (those of them that are unsafe) and
    ``metrics``; or ``error`` when the opcodes cannot be read (joblib's inline numpy arrays,
    a truncated or crafted stream).
    """
    from fickling.analysis import SAFE_BUILTINS, check_safety
    from fickling.fickle import Pickled

    names: dict[str, bool] = {}
    opcodes = 0
    severities: list[Any] = []
    try:
        pieces = split_pickles(data)
        for piece in pieces:
            pickled = Pickled.load(piece)
            imported = list(pickled.properties.imports)
            flagged = {id(node) for node in pickled.unsafe_imports()}
            severities.append(check_safety(pickled).severity)
            opcodes += len(pickled)
            for node in imported:
                for name, fickling_unsafe in _import_names(
                    node, id(node) in flagged, SAFE_BUILTINS
                ):
                    names[name] = names.get(name, False) or _unsafe(name, fickling_unsafe)
    except Exception as error:  # noqa: BLE001 - any parse failure means "not scanned"
        return {"error": f"its opcodes could not be read as a pickle ({type(error).__name__})"}
    imports = sorted(names)
    unsafe = [n for n in imports if names[n]]
    worst = max(severities, key=lambda s: s.value[0]) if severities else None
    return {
        "imports": imports,
        "unsafe": unsafe,
        "metrics": {
            "imports": len(imports),
            "unsafe_imports": len(unsafe),
            "pickles": len(pieces),
            "opcodes": opcodes,
            "pickle_bytes": len(data),
            # fickling's own verdict, for the reviewer (its text quotes arguments: not shown).
            "fickling_severity": worst.name if worst is not None else None,
        },
    }


def _import_names(node: Any, flagged: bool, safe_builtins: Any) -> list[tuple[str, bool]]:
    """(module.name, fickling says unsafe) for each name one import node brings in."""
    if not isinstance(node, ast.ImportFrom):
        return [(alias.name, flagged) for alias in node.names]
    module = node.module or ""
    found = []
    for alias in node.names:
        name = f"{module}.{alias.name}" if module else alias.name
        safe_builtin = module in ("builtins", "__builtin__") and alias.name in safe_builtins
        found.append((name, flagged and not safe_builtin))
    return found


def inspect_torch_zip(path: Path) -> dict:
    """torch.save's zip: every ``.pkl`` member scanned like a pickle (read with zipfile, never
    with torch), its tensor files counted; TorchScript ``code/`` members found; and, as for any
    archive, bytes no member holds, links, unsafe paths and encryption (``problems``)."""
    imports: set[str] = set()
    unsafe: set[str] = set()
    tensors = tensor_bytes = pickle_bytes = 0
    code: list[str] = []
    with mt.open_regular(path) as f, zipfile.ZipFile(f) as zf:
        end = mt.find_zip_end(f, os.fstat(f.fileno()).st_size)
        if end is None:
            return {"error": "it is not a whole zip"}
        # Like any archive: no bytes outside the members, no links, unsafe paths or passwords.
        problems = archives.hidden_places(f, zf, cd_offset=end[3])
        problems += [p for i in zf.infolist() if (p := archives.name_problem(i)) is not None]
        for info in zf.infolist():
            inner = info.filename.split("/", 1)[-1]
            if inner.startswith("data/"):
                tensors += 1
                tensor_bytes += info.file_size
            elif inner.startswith("code/"):
                code.append(info.filename)
            elif inner.endswith(".pkl"):
                if info.file_size > PICKLE_MAX_BYTES:
                    return {"error": f"{info.filename} is above {PICKLE_MAX_BYTES:,} bytes"}
                with zf.open(info) as member:
                    data = member.read(PICKLE_MAX_BYTES + 1)
                if len(data) > PICKLE_MAX_BYTES:
                    return {"error": f"{info.filename} is above {PICKLE_MAX_BYTES:,} bytes"}
                scanned = scan_pickle(data)
                if "error" in scanned:
                    return {"error": f"{info.filename}: {scanned['error']}"}
                imports.update(scanned["imports"])
                unsafe.update(scanned["unsafe"])
                pickle_bytes += len(data)
    return {
        "format": "torch",
        "imports": sorted(imports),
        "unsafe": sorted(unsafe),
        "code_members": sorted(code),
        "problems": problems,
        "metrics": {
            "imports": len(imports),
            "unsafe_imports": len(unsafe),
            "tensors": tensors,
            "tensor_bytes": tensor_bytes,
            "pickle_bytes": pickle_bytes,
            "code_members": len(code),
        },
    }


def inspect_safetensors(path: Path) -> dict:
    """Tensor count, dtypes, parameters and bytes, and metadata size, from the JSON header
    (bounded by ``mediatypes.SAFETENSORS_MAX_HEADER``)."""
    import json

    with mt.open_regular(path) as f:
        header = mt.read_safetensors_header(f, os.fstat(f.fileno()).st_size)
    if header is None:
        return {"error": "its safetensors header is not well-formed"}
    metadata = header.pop("__metadata__", {})
    dtypes: dict[str, int] = {}
    parameters = size = 0
    for entry in header.values():
        dtypes[entry["dtype"]] = dtypes.get(entry["dtype"], 0) + 1
        parameters += math.prod(entry["shape"])
        size += entry["data_offsets"][1] - entry["data_offsets"][0]
    return {
        "format": "safetensors",
        "metrics": {
            "tensors": len(header),
            "dtypes": sorted(dtypes),
            "parameters": parameters,
            "tensor_bytes": size,
            "metadata_entries": len(metadata),
            "metadata_bytes": len(json.dumps(metadata).encode()) if metadata else 0,
        },
    }


def inspect_onnx(path: Path) -> dict:
    """Initializers (count, parameters, bytes), tensors in node attributes, nodes (of the
    graph and its subgraphs), external data references and metadata sizes of an ONNX model.
    Its external data is never loaded."""
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    found = {"initializers": 0, "attribute_tensors": 0, "parameters": 0, "bytes": 0, "nodes": 0}
    external: list[dict[str, str]] = []
    text_bytes = len(model.doc_string.encode())

    def tensor(t, counter: str) -> None:
        found[counter] += 1
        found["parameters"] += math.prod(t.dims)
        if t.data_location == onnx.TensorProto.EXTERNAL:
            where = {e.key: e.value for e in t.external_data}.get("location", "(no location)")
            external.append({"tensor": t.name or "(unnamed)", "location": where[:200]})
        elif t.raw_data:
            found["bytes"] += len(t.raw_data)
        else:
            itemsize = onnx.helper.tensor_dtype_to_np_dtype(t.data_type).itemsize
            found["bytes"] += math.prod(t.dims) * itemsize

    def graph(g) -> None:
        nonlocal text_bytes
        text_bytes += len(g.doc_string.encode())
        for t in g.initializer:
            tensor(t, "initializers")
        for sparse in g.sparse_initializer:
            tensor(sparse.values, "initializers")
        for node in g.node:
            found["nodes"] += 1
            text_bytes += len(node.doc_string.encode())
            for attr in node.attribute:
                if attr.HasField("t"):
                    tensor(attr.t, "attribute_tensors")
                for t in attr.tensors:
                    tensor(t, "attribute_tensors")
                if attr.HasField("g"):
                    graph(attr.g)
                for sub in attr.graphs:
                    graph(sub)

    graph(model.graph)
    found["nodes"] += sum(len(function.node) for function in model.functions)
    metadata_bytes = sum(len(p.key.encode()) + len(p.value.encode()) for p in model.metadata_props)
    return {
        "format": "onnx",
        "external": external,
        "metrics": {
            "initializers": found["initializers"],
            "attribute_tensors": found["attribute_tensors"],
            "parameters": found["parameters"],
            "tensor_bytes": found["bytes"],
            "nodes": found["nodes"],
            "external_tensors": len(external),
            "metadata_props": len(model.metadata_props),
            "metadata_bytes": metadata_bytes + text_bytes,
            "ir_version": model.ir_version,
        },
    }
