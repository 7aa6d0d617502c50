"""Models and archives through the airlock's business layer, a real OPA (the repository's
release policy) and the real sandbox: an unsafe pickle is refused with the import named, a
pickle-based model goes to review with a warning and a note preferring safetensors or ONNX, a
safetensors model passes its check, a zip holding a nested zip is refused and a clean one of a
table and a figure goes to review.

Fixtures: ``airlock`` (an AirlockService, as in test_airlock_service.py) over a project whose
grant holds rows of acme, bolt and cora, so a model's data owners are known.
"""

from __future__ import annotations

import collections
import io
import json
import os
import pickle
import struct
import zipfile

import pytest
from factories.airlock import real_airlock

from cleanroom.airlock.errors import PolicyRefused
from cleanroom.airlock.inspect import mediatypes as mt
from cleanroom.airlock.permissions import SUBMIT, Caller
from cleanroom.airlock.service import AirlockService

ALICE = Caller("alice", frozenset({SUBMIT}), ("researcher",))
CSV = b"plant_count,yield\n5,97.1\n"


@pytest.fixture
def airlock(seeded, opa_server, tmp_path) -> AirlockService:
    from cleanroom.catalog.data_plane import grant_materialiser

    seeded.materialiser = grant_materialiser(tmp_path / "grants")
    seeded.grant("yield", "wafers", reason="study", actor="adam")  # rows of acme, bolt, cora
    return real_airlock(seeded, opa_server.url, tmp_path)


def request_with(airlock, tmp_path, name: str, data: bytes, type_: str) -> str:
    path = tmp_path / "upload"
    path.write_bytes(data)
    media_type = mt.detect_media_type(path, name)
    rid = airlock.create(ALICE, project="yield", justification="a yield model").id
    blob = airlock.store.put_bytes(data)
    airlock.put_file(ALICE, rid, name, type_, blob, media_type, project="yield")
    return rid


class Payload:
    def __reduce__(self):
        return (os.system, ("true",))


def zip_of(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as z:
        for name, data in members.items():
            z.writestr(name, data)
    return out.getvalue()


def test_an_unsafe_pickle_model_is_refused_naming_the_import(airlock, tmp_path):
    rid = request_with(
        airlock, tmp_path, "model.pkl", pickle.dumps([1.0, Payload()], protocol=4), "model"
    )
    with pytest.raises(PolicyRefused) as refused:
        airlock.submit(ALICE, rid)
    reason = next(r for r in refused.value.reasons if "check model failed" in r)
    assert "posix.system" in reason and "safetensors" in reason
    assert airlock.get(ALICE, rid).state == "draft"


def test_a_plain_pickle_model_goes_to_review_with_a_warning_and_a_preference(airlock, tmp_path):
    data = pickle.dumps(collections.OrderedDict(w=[0.5]), protocol=4)
    rid = request_with(airlock, tmp_path, "model.pkl", data, "model")
    request = airlock.submit(ALICE, rid)
    assert request.state == "in_review" and request.reviewers_required == 2
    check = next(c for c in request.checks if c.check == "model")
    assert check.status == "warn"
    assert any("are preferred" in n for n in request.notes)


def test_a_safetensors_model_passes_its_check(airlock, tmp_path):
    header = json.dumps({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}).encode()
    data = struct.pack("<Q", len(header)) + header + bytes(8)
    rid = request_with(airlock, tmp_path, "m.safetensors", data, "model")
    request = airlock.submit(ALICE, rid)
    check = next(c for c in request.checks if c.check == "model")
    assert check.status == "pass" and "2 parameters in 8 bytes" in check.message
    assert not any("are preferred" in n for n in request.notes)


def test_an_archive_holding_a_zip_is_refused(airlock, tmp_path):
    data = zip_of({"t.csv": CSV, "inner.zip": zip_of({"t.csv": CSV})})
    rid = request_with(airlock, tmp_path, "out.zip", data, "archive")
    with pytest.raises(PolicyRefused) as refused:
        airlock.submit(ALICE, rid)
    assert any("check archive failed" in r and "inner.zip" in r for r in refused.value.reasons)


def test_an_archive_of_a_table_and_unknown_bytes_is_refused_by_the_policy(airlock, tmp_path):
    data = zip_of({"t.csv": CSV, "blob.bin": bytes(range(256))})
    rid = request_with(airlock, tmp_path, "out.zip", data, "archive")
    with pytest.raises(PolicyRefused) as refused:
        airlock.submit(ALICE, rid)
    assert any("member blob.bin is application/octet-stream" in r for r in refused.value.reasons)


def test_a_clean_archive_goes_to_review(airlock, tmp_path):
    files = {"README.md": b"# Results\n", "analysis.py": b"print('hello')\n"}
    rid = request_with(airlock, tmp_path, "out.zip", zip_of(files), "archive")
    request = airlock.submit(ALICE, rid)
    assert request.state == "in_review"
    check = next(c for c in request.checks if c.check == "archive")
    assert check.status == "pass"


def test_a_table_inside_an_archive_is_refused_it_would_miss_the_copied_records_check(
    airlock, tmp_path
):
    rid = request_with(airlock, tmp_path, "out.zip", zip_of({"t.csv": CSV}), "archive")
    with pytest.raises(PolicyRefused) as refused:
        airlock.submit(ALICE, rid)
    assert any("member t.csv is text/csv" in r for r in refused.value.reasons)
    check = next(c for c in airlock.get(ALICE, rid).checks if c.check == "archive")
    assert check.status == "pass"  # the archive itself is sound: the policy refuses its table
