# METADATA
# title: Release policy tests
# description: |
#   Table-driven: each case is an example input from examples/release.json with a JSON patch
#   applied, and the decision expected for it. `opa test policies/ -v` names each case.
package release_test

import data.release

clean := data.examples.release.clean

warned := data.examples.release.warned

model := data.examples.release.model

patch(doc, path, value) := json.patch(doc, [{"op": "replace", "path": path, "value": value}])

table_file := clean.request.files[0]

table_check := clean.request.checks[0]

# 51 checked tables of 1 KiB.
many_files := [object.union(table_file, {"path": sprintf("out/t%d.csv", [i]), "size": 1024}) | some i in numbers.range(1, 51)]

many_checks := [object.union(c, {"file": sprintf("out/t%d.csv", [i])}) |
	some i in numbers.range(1, 51)
	some c in [table_check, copied_check]
]

copied_check := [c | some c in clean.request.checks; c.check == "copied-records"][0]

# Three checked models of 200 MiB: each within its limit, together above 512 MiB.
big_models := [object.union(model.request.files[0], {"path": sprintf("models/m%d.onnx", [i]), "size": 209715200}) | some i in numbers.range(1, 3)]

big_model_checks := [object.union(model.request.checks[0], {"file": sprintf("models/m%d.onnx", [i])}) | some i in numbers.range(1, 3)]

# The clean request with its table turned into a PDF report, and a passing pdf check.
pdf_report := json.patch(clean, [
	{"op": "replace", "path": "/request/files/0/type", "value": "report"},
	{"op": "replace", "path": "/request/files/0/media_type", "value": "application/pdf"},
])

pdf_check := {"check": "pdf", "file": "out/yield_by_plant.csv", "status": "pass", "message": "3 pages"}

# METADATA
# description: Case name -> input, expected allow, reasons, reviewers and data owners.
cases := {
	"a clean table and figure need one reviewer": {
		"input": clean,
		"allow": true,
		"reasons": [],
		"reviewers": 1,
		"owners": [],
	},
	"a warning (too few organisations in a cell) asks for two reviewers": {
		"input": warned,
		"allow": true,
		"reasons": [],
		"reviewers": 2,
		"owners": [],
	},
	"a warning on the whole request also asks for two reviewers": {
		"input": json.patch(clean, [{"op": "add", "path": "/request/checks/-", "value": {"check": "bundle", "file": null, "status": "warn", "message": "many similar tables"}}]),
		"allow": true,
		"reasons": [],
		"reviewers": 2,
		"owners": [],
	},
	"a PDF report the pdf check passed needs two reviewers": {
		"input": json.patch(pdf_report, [{"op": "add", "path": "/request/checks/-", "value": pdf_check}]),
		"allow": true,
		"reasons": [],
		"reviewers": 2,
		"owners": [],
	},
	"a PDF figure the pdf check passed also needs two reviewers": {
		"input": json.patch(pdf_report, [
			{"op": "replace", "path": "/request/files/0/type", "value": "figure"},
			{"op": "add", "path": "/request/checks/-", "value": pdf_check},
		]),
		"allow": true,
		"reasons": [],
		"reviewers": 2,
		"owners": [],
	},
	"a PDF the pdf check has not looked at is denied": {
		"input": pdf_report,
		"allow": false,
		"reasons": ["out/yield_by_plant.csv: the pdf check has not looked at this file, and a file of media type application/pdf needs it"],
		"reviewers": 2,
		"owners": [],
	},
	"a PDF with data after %%EOF (the pdf check failed) is denied": {
		"input": json.patch(pdf_report, [{"op": "add", "path": "/request/checks/-", "value": object.union(pdf_check, {"status": "fail", "message": "5,312 bytes after the last %%EOF"})}]),
		"allow": false,
		"reasons": ["out/yield_by_plant.csv: check pdf failed: 5,312 bytes after the last %%EOF"],
		"reviewers": 2,
		"owners": [],
	},
	"a PDF the pdf check could not inspect is denied": {
		"input": json.patch(pdf_report, [{"op": "add", "path": "/request/checks/-", "value": object.union(pdf_check, {"status": "error", "message": "the job took longer than 60 s and was stopped"})}]),
		"allow": false,
		"reasons": ["out/yield_by_plant.csv: check pdf could not run, and what was not checked does not leave: the job took longer than 60 s and was stopped"],
		"reviewers": 2,
		"owners": [],
	},
	"a model needs two reviewers and every contributing data owner": {
		"input": model,
		"allow": true,
		"reasons": [],
		"reviewers": 2,
		"owners": ["acme", "globex"],
	},
	"a model with no known contributing organisation is denied": {
		"input": patch(model, "/request/contributing_organisations", []),
		"allow": false,
		"reasons": ["the request needs a data owner's co-approval, but no contributing organisation is known"],
		"reviewers": 2,
		"owners": [],
	},
	"a failed check denies, with the check's message": {
		"input": patch(clean, "/request/checks/0/status", "fail"),
		"allow": false,
		"reasons": ["out/yield_by_plant.csv: check min_contributors failed: every cell has data from at least 3 organisations"],
		"reviewers": 1,
		"owners": [],
	},
	"a check that could not run denies": {
		"input": json.patch(clean, [
			{"op": "replace", "path": "/request/checks/1/status", "value": "error"},
			{"op": "remove", "path": "/request/checks/1/message"},
		]),
		"allow": false,
		"reasons": ["out/yield.png: check file_type could not run, and what was not checked does not leave: no message"],
		"reviewers": 1,
		"owners": [],
	},
	"a check that has not finished denies": {
		"input": patch(clean, "/request/checks/0/status", "pending"),
		"allow": false,
		"reasons": ["out/yield_by_plant.csv: check min_contributors has not finished"],
		"reviewers": 1,
		"owners": [],
	},
	"a file no check has looked at is denied": {
		"input": json.patch(clean, [{"op": "remove", "path": "/request/checks/2"}, {"op": "remove", "path": "/request/checks/1"}]),
		"allow": false,
		"reasons": [
			"out/yield.png: no automatic check has looked at this file",
			"out/yield.png: the figure check has not looked at this file, and a file of media type image/png needs it",
		],
		"reviewers": 1,
		"owners": [],
	},
	"a file type that is not listed is denied": {
		"input": patch(clean, "/request/files/1/type", "other"),
		"allow": false,
		"reasons": ["out/yield.png: files of type \"other\" cannot be released (allowed: archive, code, figure, model, notebook, report, table, text)"],
		"reviewers": 1,
		"owners": [],
	},
	"a media type that does not fit the file type is denied": {
		"input": patch(clean, "/request/files/0/media_type", "application/zip"),
		"allow": false,
		"reasons": [
			"out/yield_by_plant.csv: a table cannot have the media type \"application/zip\" (allowed: application/vnd.apache.parquet, application/vnd.openxmlformats-officedocument.spreadsheetml.sheet, application/x-parquet, text/csv, text/tab-separated-values)",
			"out/yield_by_plant.csv: the archive check has not looked at this file, and a file of media type application/zip needs it",
		],
		"reviewers": 1,
		"owners": [],
	},
	"a file above its type's size limit is denied": {
		"input": patch(clean, "/request/files/1/size", 10485761),
		"allow": false,
		"reasons": ["out/yield.png is 10485761 bytes; a figure may be at most 10485760 bytes"],
		"reviewers": 1,
		"owners": [],
	},
	"a file exactly at its type's size limit is allowed": {
		"input": patch(clean, "/request/files/1/size", 10485760),
		"allow": true,
		"reasons": [],
		"reviewers": 1,
		"owners": [],
	},
	"more than 50 files are denied": {
		"input": json.patch(clean, [
			{"op": "replace", "path": "/request/files", "value": many_files},
			{"op": "replace", "path": "/request/checks", "value": many_checks},
		]),
		"allow": false,
		"reasons": ["the request has 51 files; at most 50 may be released at once"],
		"reviewers": 1,
		"owners": [],
	},
	"files adding up to more than 512 MiB are denied": {
		"input": json.patch(model, [
			{"op": "replace", "path": "/request/files", "value": big_models},
			{"op": "replace", "path": "/request/checks", "value": big_model_checks},
		]),
		"allow": false,
		"reasons": ["the files add up to 629145600 bytes; at most 536870912 may be released at once"],
		"reviewers": 2,
		"owners": ["acme", "globex"],
	},
	"a request with no files is denied": {
		"input": json.patch(clean, [
			{"op": "replace", "path": "/request/files", "value": []},
			{"op": "replace", "path": "/request/checks", "value": []},
		]),
		"allow": false,
		"reasons": ["the request has no files"],
		"reviewers": 1,
		"owners": [],
	},
	"a requester without the global researcher role is denied": {
		"input": patch(clean, "/user/roles", ["reviewer"]),
		"allow": false,
		"reasons": ["alice does not have the global role \"researcher\", which is needed to ask for a release"],
		"reviewers": 1,
		"owners": [],
	},
	"a requester who is no longer a researcher of the project is denied": {
		"input": patch(clean, "/project/role", null),
		"allow": false,
		"reasons": ["alice is not a researcher of project p-yield"],
		"reviewers": 1,
		"owners": [],
	},
	"a request of another project is denied": {
		"input": patch(clean, "/request/project", "p-other"),
		"allow": false,
		"reasons": ["request r-1 does not belong to project p-yield"],
		"reviewers": 1,
		"owners": [],
	},
	"a request decided for somebody else than its requester is denied": {
		"input": patch(clean, "/request/requester/name", "mallory"),
		"allow": false,
		"reasons": ["request r-1 was not made by alice; it is decided for its requester only"],
		"reviewers": 1,
		"owners": [],
	},
	"another action is refused": {
		"input": patch(clean, "/action", "access"),
		"allow": false,
		"reasons": ["this is the release policy; it cannot decide \"access\""],
		"reviewers": 1,
		"owners": [],
	},
	"an input without a request is denied": {
		"input": json.patch(clean, [{"op": "remove", "path": "/request"}]),
		"allow": false,
		"reasons": ["the input has no release request"],
		"reviewers": 1,
		"owners": [],
	},
	"an empty input is denied with reasons": {
		"input": {},
		"allow": false,
		"reasons": [
			"the input has no release request",
			"this user does not have the global role \"researcher\", which is needed to ask for a release",
			"this user is not a researcher of project (none)",
		],
		"reviewers": 1,
		"owners": [],
	},
}

# METADATA
# description: Every case gives the expected allow, reasons, reviewers and data owners.
test_decision[name] if {
	some name, c in cases
	d := release.decision with input as c.input
	d.allow == c.allow
	d.reasons == c.reasons
	d.reviewers_required == c.reviewers
	d.data_owner_approval == c.owners
}

test_notes_explain_the_extra_reviewers if {
	d := release.decision with input as warned
	d.notes == ["2 reviewers: out/yield_by_line.csv: check min_contributors warned: 1 cell has data from fewer than 3 organisations"]
}

test_notes_explain_data_owner_approval if {
	d := release.decision with input as model
	d.notes == ["models/yield.onnx is a model: a data owner of every contributing organisation must co-approve, and 2 reviewers"]
}

test_request_level_warnings_name_the_request if {
	doc := json.patch(clean, [{"op": "add", "path": "/request/checks/-", "value": {"check": "bundle", "file": null, "status": "warn", "message": "x"}}])
	d := release.decision with input as doc
	d.notes == ["2 reviewers: the request: check bundle warned: x"]
}

test_settings_change_the_outcome if {
	three := object.union(release.settings, {"reviewers_on_warning": 3})
	d := release.decision with input as warned with release.settings as three
	d.reviewers_required == 3
}

test_incomplete_input_is_denied_even_without_a_phrased_reason if {
	# A file with no type: no reason rule can name it, and allow still refuses.
	doc := json.patch(clean, [{"op": "remove", "path": "/request/files/0/type"}])
	d := release.decision with input as doc
	d.allow == false
	count(d.reasons) > 0
}

test_a_pdf_says_why_it_needs_two_reviewers if {
	doc := json.patch(pdf_report, [{"op": "add", "path": "/request/checks/-", "value": pdf_check}])
	d := release.decision with input as doc
	d.notes == ["out/yield_by_plant.csv is application/pdf: it can hold more than its pages show, so 2 reviewers"]
}

# A verified table's check (the airlock's "table" check) with a failing cell.
failed_table_check := {
	"check": "table",
	"file": "out/yield_by_plant.csv",
	"status": "fail",
	"message": "mean of die_yield_pct of wafer_lots by plant: 1 cell fails (threshold)",
	"findings": [{"row": 2, "column": "mean_die_yield_pct", "rule": "threshold", "status": "fail", "location": "row 3 (plant=P3), column mean_die_yield_pct", "message": "3 organisations contribute; at least 10 are needed"}],
	"metrics": {"min_organisations": 3},
}

test_a_table_with_a_failing_cell_is_denied_and_says_why if {
	doc := json.patch(clean, [{"op": "add", "path": "/request/checks/-", "value": failed_table_check}])
	d := release.decision with input as doc
	d.allow == false
	d.reasons == ["out/yield_by_plant.csv: check table failed: mean of die_yield_pct of wafer_lots by plant: 1 cell fails (threshold)"]
}

test_a_table_whose_cells_warn_needs_two_reviewers if {
	warn := object.union(failed_table_check, {"status": "warn", "message": "1 cell is a zero"})
	doc := json.patch(clean, [{"op": "add", "path": "/request/checks/-", "value": warn}])
	d := release.decision with input as doc
	d.allow == true
	d.reviewers_required == 2
}

test_table_rules_default_to_acro_s_parameters if {
	release.table_rules.min_organisations == 10
	release.table_rules.dominance == {"n": 2, "k": 0.9}
	release.table_rules.p_percent == 0.1
}

test_every_table_rule_fails_or_warns if {
	rules := {"threshold", "nk-rule", "p-ratio", "zeros", "single-value"}
	object.keys(release.table_rules.statuses) == rules
	every _, status in release.table_rules.statuses {
		status in {"fail", "warn"}
	}
}
