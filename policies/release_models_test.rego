# METADATA
# title: Release policy tests for models and archives (issue 15)
# description: |
#   Pickles and torch zips are model media types with the model check required and a note to
#   prefer safetensors or ONNX; a zip is an "archive" with the archive check required, and an
#   archive's members may only have media types some file type allows, less the refused ones.
package release_models_test

import data.release

model := data.examples.release.model

clean := data.examples.release.clean

model_as(media_type, path) := json.patch(model, [
	{"op": "replace", "path": "/request/files/0/media_type", "value": media_type},
	{"op": "replace", "path": "/request/files/0/path", "value": path},
	{"op": "replace", "path": "/request/checks/0/file", "value": path},
])

model_check(path, status, message) := {"check": "model", "file": path, "status": status, "message": message}

archive_check(status, members) := {
	"check": "archive", "file": "out/bundle.zip", "status": status,
	"message": "2 members, 3,000 bytes uncompressed",
	"findings": members,
}

archive_request(members) := json.patch(clean, [
	{"op": "replace", "path": "/request/files", "value": [{
		"path": "out/bundle.zip", "type": "archive", "media_type": "application/zip",
		"size": 2048, "sha256": "aa",
	}]},
	{"op": "replace", "path": "/request/checks", "value": [
		{"check": "integrity", "file": "out/bundle.zip", "status": "pass", "message": "ok"},
		archive_check("pass", members),
	]},
])

member(name, media_type) := {"location": name, "message": "1,000 bytes", "media_type": media_type}

test_a_pickle_model_with_its_model_check_may_go_to_review_with_a_note if {
	input_doc := json.patch(model_as("application/x-python-pickle", "models/m.pkl"), [
		{"op": "replace", "path": "/request/checks/0", "value": model_check("models/m.pkl", "warn", "a pickle; imports: sklearn.linear_model.LinearRegression")},
	])
	d := release.decision with input as input_doc
	d.allow
	d.reviewers_required == 2
	"models/m.pkl is application/x-python-pickle: models in application/onnx or application/x-safetensors are preferred (nothing in them runs when they are loaded)" in d.notes
}

test_a_torch_zip_without_the_model_check_is_denied if {
	d := release.decision with input as patch_check_name(model_as("application/x-pytorch", "models/m.pt"), "model_format")
	not d.allow
	d.reasons == ["models/m.pt: the model check has not looked at this file, and a file of media type application/x-pytorch needs it"]
}

test_an_onnx_model_needs_the_model_check if {
	input_doc := patch_check_name(model, "model_format")
	d := release.decision with input as input_doc
	not d.allow
	d.reasons == ["models/yield.onnx: the model check has not looked at this file, and a file of media type application/onnx needs it"]
}

patch_check_name(doc, name) := json.patch(doc, [{"op": "replace", "path": "/request/checks/0/check", "value": name}])

test_an_onnx_model_gets_no_preference_note if {
	d := release.decision with input as model
	every n in d.notes {
		not contains(n, "preferred")
	}
}

test_an_unsafe_pickle_fails if {
	input_doc := json.patch(model_as("application/x-python-pickle", "models/m.pkl"), [
		{"op": "replace", "path": "/request/checks/0", "value": model_check("models/m.pkl", "fail", "unsafe imports: posix.system")},
	])
	d := release.decision with input as input_doc
	not d.allow
	d.reasons == ["models/m.pkl: check model failed: unsafe imports: posix.system"]
}

test_an_archive_of_texts_and_code_may_go_to_review if {
	d := release.decision with input as archive_request([member("notes.txt", "text/plain"), member("README.md", "text/markdown")])
	d.allow
	d.reasons == []
}

test_a_table_inside_an_archive_is_denied_it_is_compared_with_the_grants_only_as_a_file if {
	d := release.decision with input as archive_request([member("a.csv", "text/csv"), member("README.md", "text/markdown")])
	not d.allow
	startswith(d.reasons[0], "out/bundle.zip: the archive's member a.csv is text/csv, which may not leave inside an archive")
}

test_an_archive_without_its_check_is_denied if {
	input_doc := json.patch(archive_request([]), [{"op": "remove", "path": "/request/checks/1"}])
	d := release.decision with input as input_doc
	not d.allow
	d.reasons == ["out/bundle.zip: the archive check has not looked at this file, and a file of media type application/zip needs it"]
}

refused_members := {
	"a nested zip": "application/zip",
	"an unknown binary": "application/octet-stream",
	"a pickle": "application/x-python-pickle",
	"a torch zip": "application/x-pytorch",
	"a PDF (its pdf check runs on files only)": "application/pdf",
	"an ONNX model (the model check runs on files only)": "application/onnx",
	"a PNG (the figure check runs on files only)": "image/png",
	"a notebook (the notebook check runs on files only)": "application/x-ipynb+json",
	"an SVG (refused outright)": "image/svg+xml",
}

test_archive_members_of_refused_media_types_are_denied[name] if {
	some name, media_type in refused_members
	d := release.decision with input as archive_request([member("notes.txt", "text/plain"), member("inner", media_type)])
	not d.allow
	count(d.reasons) == 1
	startswith(d.reasons[0], sprintf("out/bundle.zip: the archive's member inner is %s, which may not leave inside an archive (allowed: ", [media_type]))
	endswith(d.reasons[0], "); release it as a file of its own or leave it out")
}

test_an_archive_above_its_size_limit_is_denied if {
	input_doc := json.patch(archive_request([]), [{"op": "replace", "path": "/request/files/0/size", "value": 104857601}])
	d := release.decision with input as input_doc
	not d.allow
	d.reasons == ["out/bundle.zip is 104857601 bytes; a archive may be at most 104857600 bytes"]
}

test_archive_member_media_types_are_those_of_file_types_less_the_refused if {
	# Tables need the copied-records check, which runs on files only.
	release.archive_member_media_types == {"text/plain", "text/markdown", "text/x-python", "text/x-r", "text/x-sql"}
}
