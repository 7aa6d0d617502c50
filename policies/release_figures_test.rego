# METADATA
# title: Release policy tests for figures and notebooks (issue 15)
# description: |
#   Table-driven, like release_test: the clean example's PNG figure (files/1, its figure
#   check checks/2) turned into an SVG, a PNG with data after its end or large metadata, and
#   a notebook with a 5 MB base64 output or a hidden output.
package release_figures_test

import data.release

clean := data.examples.release.clean

figure_check := clean.request.checks[2]

# The clean request with its figure's check replaced by ``check``.
with_figure_check(check) := json.patch(clean, [{"op": "replace", "path": "/request/checks/2", "value": object.union(figure_check, check)}])

svg := json.patch(clean, [
	{"op": "replace", "path": "/request/files/1/path", "value": "out/yield.svg"},
	{"op": "replace", "path": "/request/files/1/media_type", "value": "image/svg+xml"},
	{"op": "replace", "path": "/request/checks/2/file", "value": "out/yield.svg"},
	{"op": "replace", "path": "/request/checks/1/file", "value": "out/yield.svg"},
])

# The clean request's figure turned into a notebook, with a notebook check.
notebook(check) := json.patch(clean, [
	{"op": "replace", "path": "/request/files/1/path", "value": "analysis.ipynb"},
	{"op": "replace", "path": "/request/files/1/type", "value": "notebook"},
	{"op": "replace", "path": "/request/files/1/media_type", "value": "application/x-ipynb+json"},
	{"op": "replace", "path": "/request/checks/1/file", "value": "analysis.ipynb"},
	{"op": "replace", "path": "/request/checks/2", "value": object.union({"check": "notebook", "file": "analysis.ipynb"}, check)},
])

blob := {
	"rule": "embedded-data", "location": "cell 7, output 2", "bytes": 5000000, "status": "warn",
	"message": "5,000,000 bytes of base64 application/octet-stream data (6,666,668 characters)",
}

hidden := {
	"rule": "hidden-output", "location": "cell 3, output 1", "bytes": 2048, "status": "warn",
	"message": "a 2,048-byte output a reader does not see: its cell's outputs are hidden (jupyter.outputs_hidden)",
}

notebook_fix := "clear the outputs that hold data (Edit > Clear Outputs) and save the notebook again; release tables and figures as files of their own"

# METADATA
# description: Case name -> input, expected allow, reasons and reviewers.
cases := {
	"an SVG figure is refused: SVG is code, export PNG": {
		"input": svg,
		"allow": false,
		"reasons": [
			"out/yield.svg: SVG is code (scripts, links, external references) and is never released: export the figure as PNG instead (e.g. matplotlib savefig(\"figure.png\", dpi=200))",
			"out/yield.svg: a figure cannot have the media type \"image/svg+xml\" (allowed: application/pdf, image/jpeg, image/png)",
		],
		"reviewers": 1,
	},
	"a PNG the figure check has not looked at is denied": {
		"input": json.patch(clean, [{"op": "replace", "path": "/request/checks/2/check", "value": "other"}]),
		"allow": false,
		"reasons": ["out/yield.png: the figure check has not looked at this file, and a file of media type image/png needs it"],
		"reviewers": 1,
	},
	"a PNG with data after its end (the figure check failed) is denied": {
		"input": with_figure_check({"status": "fail", "message": "this PNG carries more than its picture: 5,012 bytes after the image's end (IEND)"}),
		"allow": false,
		"reasons": ["out/yield.png: check figure failed: this PNG carries more than its picture: 5,012 bytes after the image's end (IEND)"],
		"reviewers": 1,
	},
	"a PNG with 8 KiB of metadata (warned) needs two reviewers": {
		"input": with_figure_check({"status": "warn", "message": "8,192 bytes of metadata", "metrics": {"metadata_bytes": 8192}}),
		"allow": true,
		"reasons": [],
		"reviewers": 2,
	},
	"a PNG with a 1 MB text chunk is denied by the metadata limit": {
		"input": with_figure_check({"status": "warn", "message": "1,048,576 bytes of metadata", "metrics": {"metadata_bytes": 1048576}}),
		"allow": false,
		"reasons": ["out/yield.png: check figure found metadata_bytes = 1048576, more than the 65536 the release policy allows: export the figure again without metadata (e.g. matplotlib savefig(..., metadata={\"Software\": None}))"],
		"reviewers": 2,
	},
	"a notebook the notebook check has not looked at is denied": {
		"input": notebook({"check": "other", "status": "pass", "message": "x"}),
		"allow": false,
		"reasons": ["analysis.ipynb: the notebook check has not looked at this file, and a file of media type application/x-ipynb+json needs it"],
		"reviewers": 1,
	},
	"a clean notebook needs one reviewer": {
		"input": notebook({"status": "pass", "message": "4 cells, 2 outputs", "findings": [], "metrics": {}}),
		"allow": true,
		"reasons": [],
		"reviewers": 1,
	},
	"a notebook with a small hidden output needs two reviewers": {
		"input": notebook({"status": "warn", "message": "a hidden output", "findings": [hidden]}),
		"allow": true,
		"reasons": [],
		"reviewers": 2,
	},
	"a notebook with a 5 MB base64 output is denied, with its place and size": {
		"input": notebook({"status": "warn", "message": "a blob", "findings": [blob, hidden]}),
		"allow": false,
		"reasons": [sprintf("analysis.ipynb: cell 7, output 2: 5,000,000 bytes of base64 application/octet-stream data (6,666,668 characters); at most 1048576 bytes may leave this way: %s", [notebook_fix])],
		"reviewers": 2,
	},
}

# METADATA
# description: Every case gives the expected allow, reasons and reviewers.
test_decision[name] if {
	some name, c in cases
	d := release.decision with input as c.input
	d.allow == c.allow
	d.reasons == c.reasons
	d.reviewers_required == c.reviewers
}

test_every_case_ran if {
	count({name | some name, _ in cases; test_decision[name]}) == count(cases)
}

test_the_limits_are_data if {
	limits := json.patch(release.content_limits, [{"op": "replace", "path": "/notebook/findings/embedded-data", "value": 10000000}])
	d := release.decision with input as notebook({"status": "warn", "message": "a blob", "findings": [blob]}) with release.content_limits as limits
	d.allow
}
