"""The ``model`` check, through the real sandbox job (``model-inspect``).

A pickle is never loaded by the airlock: the proof is a payload that would create a marker file
in a directory this test can see; after the check the marker does not exist, and the control
(``pickle.loads`` of the same bytes in a subprocess of the test) does create it.
"""

from __future__ import annotations

import collections
import json
import os
import pickle
import struct
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from cleanroom.airlock.enums import CheckStatus
from cleanroom.airlock.inspect import mediatypes as mt
from cleanroom.airlock.inspect.checks import CheckSubject, run_checks
from cleanroom.airlock.inspect.models import inspect_model, model_outcome


class Payload:
    """Unpickling this runs ``os.system(command)``."""

    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command,))


def evil_pickle(marker: Path) -> bytes:
    return pickle.dumps({"weights": [0.5, 1.5], "x": Payload(f"touch {marker}")}, protocol=4)


def model_check(path: Path, name: str = "model.pkl"):
    media_type = mt.detect_media_type(path, name)
    subject = CheckSubject(path, name, "model", media_type, path.stat().st_size, "0" * 64)
    outcomes = {o.check: o for o in run_checks(subject)}
    assert "model" in outcomes, f"no model check ran for {media_type}"
    return media_type, outcomes["model"]


def test_a_pickle_importing_os_system_is_unsafe_and_never_loaded(tmp_path):
    marker = tmp_path / "seen" / "marker"
    marker.parent.mkdir()
    path = tmp_path / "model.pkl"
    path.write_bytes(evil_pickle(marker))

    media_type, outcome = model_check(path)
    assert media_type == mt.PICKLE
    assert outcome.status == CheckStatus.FAIL
    assert "posix.system" in outcome.message and "safetensors" in outcome.message
    assert [f["name"] for f in outcome.findings if f["rule"] == "unsafe-import"] == ["posix.system"]
    assert outcome.metrics["unsafe_imports"] == 1
    # The scanner itself, run here in the test's own process, does not load it either.
    info = inspect_model(path, mt.PICKLE)
    assert info["unsafe"] == ["posix.system"]
    assert not marker.exists()
    # Nothing of the payload's argument (researcher data) is quoted to the researcher.
    assert str(marker) not in json.dumps([outcome.message, list(outcome.findings)])

    # Control: loading the same bytes does run the payload.
    subprocess.run(
        [
            sys.executable,
            "-c",
            "import pickle,sys; pickle.loads(open(sys.argv[1],'rb').read())",
            path,
        ],
        check=True,
        timeout=60,
    )
    assert marker.exists()


def test_a_plain_pickle_warns_and_lists_its_imports(tmp_path):
    path = tmp_path / "model.pkl"
    path.write_bytes(pickle.dumps(collections.OrderedDict(w=[1.0, 2.0]), protocol=2))
    media_type, outcome = model_check(path)
    assert media_type == mt.PICKLE
    assert outcome.status == CheckStatus.WARN
    assert "prefer safetensors or ONNX" in outcome.message
    assert [f["name"] for f in outcome.findings] == ["collections.OrderedDict"]
    assert outcome.metrics["unsafe_imports"] == 0


def torch_like_zip(path: Path, data_pkl: bytes, extra: dict[str, bytes] | None = None) -> Path:
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("model/data.pkl", data_pkl)
        z.writestr("model/data/0", struct.pack("<6f", *range(6)))
        z.writestr("model/data/1", struct.pack("<3f", *range(3)))
        z.writestr("model/version", "3\n")
        z.writestr("model/byteorder", "little")
        for name, data in (extra or {}).items():
            z.writestr(name, data)
    return path


def test_a_torch_zip_has_its_data_pkl_scanned(tmp_path):
    path = torch_like_zip(tmp_path / "m.pt", pickle.dumps(collections.OrderedDict(a=1), protocol=2))
    media_type, outcome = model_check(path, "m.pt")
    assert media_type == mt.TORCH
    assert outcome.status == CheckStatus.WARN
    assert outcome.metrics["tensors"] == 2
    assert outcome.metrics["tensor_bytes"] == 36
    assert [f["name"] for f in outcome.findings] == ["collections.OrderedDict"]


def test_a_torch_zip_with_an_unsafe_data_pkl_fails_and_is_not_loaded(tmp_path):
    marker = tmp_path / "marker"
    path = torch_like_zip(tmp_path / "m.pt", evil_pickle(marker))
    media_type, outcome = model_check(path, "m.pt")
    assert media_type == mt.TORCH
    assert outcome.status == CheckStatus.FAIL
    assert "posix.system" in outcome.message
    assert inspect_model(path, mt.TORCH)["unsafe"] == ["posix.system"]
    assert not marker.exists()


def test_torchscript_code_in_a_torch_zip_fails(tmp_path):
    path = torch_like_zip(
        tmp_path / "m.pt",
        pickle.dumps({"a": 1}, protocol=2),
        {"model/code/__torch__.py": b"def forward(self): pass\n"},
    )
    media_type, outcome = model_check(path, "m.pt")
    assert media_type == mt.TORCH
    assert outcome.status == CheckStatus.FAIL
    assert "model/code/__torch__.py" in outcome.message


def safetensors_file(path: Path) -> Path:
    header = {
        "w": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24]},
        "b": {"dtype": "F16", "shape": [3], "data_offsets": [24, 30]},
        "__metadata__": {"format": "pt"},
    }
    raw = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + bytes(30))
    return path


def test_safetensors_pass_with_counts_and_sizes(tmp_path):
    path = safetensors_file(tmp_path / "m.safetensors")
    media_type, outcome = model_check(path, "m.safetensors")
    assert media_type == mt.SAFETENSORS
    assert outcome.status == CheckStatus.PASS
    assert outcome.metrics == {
        "tensors": 2,
        "dtypes": ["F16", "F32"],
        "parameters": 9,
        "tensor_bytes": 30,
        "metadata_entries": 1,
        "metadata_bytes": len(b'{"format": "pt"}'),
    }
    assert "2 tensor(s)" in outcome.message and "9 parameters in 30 bytes" in outcome.message


def onnx_model(metadata: dict[str, str] | None = None) -> onnx.ModelProto:
    weights = numpy_helper.from_array(np.full((3, 2), 0.1, dtype=np.float32), "W")
    bias = numpy_helper.from_array(np.array([0.0, 1.0], dtype=np.float32), "B")
    graph = helper.make_graph(
        [
            helper.make_node("MatMul", ["X", "W"], ["H"]),
            helper.make_node("Add", ["H", "B"], ["Y"]),
        ],
        "yield",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, [None, 3])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [None, 2])],
        initializer=[weights, bias],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    helper.set_model_props(model, metadata or {"trained_on": "grant g-1"})
    return model


def test_onnx_passes_with_initializer_counts_and_sizes(tmp_path):
    path = tmp_path / "m.onnx"
    onnx.save_model(onnx_model(), path)
    media_type, outcome = model_check(path, "m.onnx")
    assert media_type == mt.ONNX
    assert outcome.status == CheckStatus.PASS
    m = outcome.metrics
    assert (m["initializers"], m["parameters"], m["tensor_bytes"], m["nodes"]) == (2, 8, 32, 2)
    assert (m["external_tensors"], m["metadata_props"]) == (0, 1)
    assert "2 initializer(s)" in outcome.message


def test_onnx_with_external_data_fails(tmp_path):
    path = tmp_path / "m.onnx"
    onnx.save_model(
        onnx_model(),
        path,
        save_as_external_data=True,
        all_tensors_to_one_file=True,
        location="weights.bin",
        size_threshold=0,
    )
    assert (tmp_path / "weights.bin").exists()
    media_type, outcome = model_check(path, "m.onnx")
    assert media_type == mt.ONNX
    assert outcome.status == CheckStatus.FAIL
    assert outcome.metrics["external_tensors"] == 2
    assert {f["rule"] for f in outcome.findings} == {"external-data"}
    assert "weights.bin" in outcome.findings[0]["message"]
    assert "save_as_external_data=False" in outcome.message


def test_onnx_with_large_metadata_warns(tmp_path):
    path = tmp_path / "m.onnx"
    onnx.save_model(onnx_model({"notes": "x" * 70_000}), path)
    _, outcome = model_check(path, "m.onnx")
    assert outcome.status == CheckStatus.WARN
    assert "metadata" in outcome.message


def test_a_pickle_that_cannot_be_read_is_an_error_not_a_pass(tmp_path):
    # A pickle's framing (PROTO 4 ... STOP) around opcodes that are not a pickle.
    path = tmp_path / "m.pkl"
    path.write_bytes(b"\x80\x04\xff\xfe\xfd.")
    media_type, outcome = model_check(path)
    assert media_type == mt.PICKLE
    assert outcome.status == CheckStatus.ERROR
    assert "could not be read" in outcome.message


@pytest.mark.parametrize(
    ("info", "status"),
    [
        ({"error": "broken"}, CheckStatus.ERROR),
        ({"format": "pickle", "imports": ["a.b"], "unsafe": [], "metrics": {}}, CheckStatus.WARN),
        ({"format": "pickle", "imports": ["os.system"], "unsafe": ["os.system"]}, CheckStatus.FAIL),
    ],
)
def test_model_outcome_table(info, status):
    assert model_outcome(info).status == status


def test_onnx_tensors_inside_node_attributes_are_counted(tmp_path):
    model = onnx_model()
    constant = helper.make_tensor("c", TensorProto.FLOAT, [4], [1.0, 2.0, 3.0, 4.0])
    model.graph.node.append(helper.make_node("Constant", [], ["C"], value=constant))
    path = tmp_path / "m.onnx"
    onnx.save_model(model, path)
    _, outcome = model_check(path, "m.onnx")
    assert outcome.status == CheckStatus.PASS
    m = outcome.metrics
    assert (m["attribute_tensors"], m["parameters"], m["tensor_bytes"], m["nodes"]) == (
        1,
        12,
        48,
        3,
    )


def test_every_pickle_in_a_stream_is_scanned_not_only_the_first(tmp_path):
    marker = tmp_path / "marker"
    path = tmp_path / "m.pkl"
    path.write_bytes(pickle.dumps({"w": [1.0]}, protocol=4) + evil_pickle(marker))
    media_type, outcome = model_check(path)
    assert media_type == mt.PICKLE
    assert outcome.status == CheckStatus.FAIL and "posix.system" in outcome.message
    assert outcome.metrics["pickles"] == 2
    assert not marker.exists()


def test_bytes_after_a_pickle_that_are_no_pickle_are_an_error(tmp_path):
    path = tmp_path / "m.pkl"
    path.write_bytes(pickle.dumps({"w": [1.0]}, protocol=4) + b"hidden rows p1,0.5.")
    _, outcome = model_check(path)
    assert outcome.status == CheckStatus.ERROR


def test_a_torch_zip_carrying_bytes_outside_its_members_fails(tmp_path):
    path = torch_like_zip(tmp_path / "m.pt", pickle.dumps({"a": 1}, protocol=2))
    with zipfile.ZipFile(path, "a") as z:
        z.comment = b"p1,0.5\np2,0.7\n"
    media_type, outcome = model_check(path, "m.pt")
    assert media_type == mt.TORCH
    assert outcome.status == CheckStatus.FAIL
    assert "14 bytes of comments" in outcome.message
