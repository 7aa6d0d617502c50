# METADATA
# title: Release policy
# description: |
#   What a release request needs before its files may leave the clean room.
#   Asked by the airlock when a request is submitted (after its automatic checks):
#   POST /v1/data/release/decision. Input: policies/input.schema.json with action "release";
#   input.user is the requester.
#   Output (decision): allow (false = denied, the request cannot go to review as it is),
#   reasons (why, for the researcher), reviewers_required (distinct approving reviewers),
#   data_owner_approval (organisations whose data owner must co-approve) and notes (why that
#   many reviewers, or why data owners).
package release

# METADATA
# description: Release settings. Change a number here, run `opa test policies/`, roll out.
settings := {
	# Every request needs at least this many reviewers.
	"min_reviewers": 1,
	# A check that warns (a disclosure risk a person must look at) raises it to this.
	"reviewers_on_warning": 2,
	# A file of a type in data_owner_types raises it to this.
	"reviewers_for_data_owner_types": 2,
	# A file of a media type in more_review_media_types raises it to this.
	"reviewers_for_media_types": 2,
	# Most files in one request.
	"max_files": 50,
	# Most bytes in one request, all files together (512 MiB).
	"max_total_bytes": 536870912,
}

# METADATA
# description: |
#   The file types that may be released, the media types each may have (as the airlock
#   determined them from the content) and the largest size of one file of that type.
#   A type not listed here (e.g. "other") is never released.
file_types := {
	"table": {
		"media_types": {
			"text/csv", "text/tab-separated-values", "application/vnd.apache.parquet", "application/x-parquet",
			"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
		},
		"max_bytes": 10485760,
	},
	"figure": {
		"media_types": {"image/png", "image/jpeg", "application/pdf"},
		"max_bytes": 10485760,
	},
	"model": {
		"media_types": {
			"application/octet-stream", "application/onnx", "application/x-safetensors",
			"application/x-python-pickle", "application/x-pytorch",
		},
		"max_bytes": 209715200,
	},
	"archive": {
		"media_types": {"application/zip"},
		"max_bytes": 104857600,
	},
	"notebook": {
		"media_types": {"application/x-ipynb+json"},
		"max_bytes": 5242880,
	},
	"text": {
		"media_types": {"text/plain", "text/markdown"},
		"max_bytes": 1048576,
	},
	"code": {
		"media_types": {"text/x-python", "text/x-r", "text/x-sql", "text/plain"},
		"max_bytes": 1048576,
	},
	"report": {
		"media_types": {"application/pdf", "text/markdown", "text/plain"},
		"max_bytes": 10485760,
	},
}

# METADATA
# description: |
#   Outputs of these types can carry the data itself (a model can memorise rows), so a data
#   owner of every contributing organisation must co-approve them.
data_owner_types := {"model"}

# METADATA
# description: |
#   Checks a file of a media type must have had (by name, run by the airlock in its sandbox)
#   before it may leave: the pdf check reports pages, bytes after %%EOF, embedded files,
#   scripts and forms.
required_checks := {
	"application/pdf": {"pdf"},
	# Every table, whatever its origin: the copied-records check compares it with the
	# project's granted data (so a table cannot ride out inside an archive either).
	"text/csv": {"copied-records"},
	"text/tab-separated-values": {"copied-records"},
	"application/vnd.apache.parquet": {"copied-records"},
	"application/x-parquet": {"copied-records"},
	"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": {"copied-records"},
	"application/onnx": {"model"},
	"application/x-safetensors": {"model"},
	"application/x-python-pickle": {"model"},
	"application/x-pytorch": {"model"},
	"application/zip": {"archive"},
}

# METADATA
# description: |
#   The disclosure rules a verified table (cleanroom.sdc) is checked by, cell by cell, after
#   the airlock has recomputed it from the vault's data (the "table" check). They count
#   organisations (the companies the data owners speak for), never rows or plants: several
#   plants of one organisation are one contributor. Defaults are ACRO's (the field's reference
#   for output checking): threshold 10, (n, k) dominance (2, 0.9), p-ratio 0.1.
#   - min_organisations: a cell fed by fewer distinct organisations discloses them (threshold).
#   - dominance: the n largest organisations hold more than k of a cell's total (nk-rule).
#   - p_percent: what the other organisations hold, besides the two largest, is under p of
#     the largest's (p-ratio: the second largest could estimate the largest within p).
#   - dominance_aggregates: the values those two rules apply to (totals and means).
#   - single_value_aggregates: a minimum, maximum or median is one organisation's own figure.
#   - statuses: what each rule's finding means for the release: fail (denied until fixed) or
#     warn (reviewers_on_warning reviewers look at it). "zeros" is a count of 0 in a cell
#     (it says no organisation did something).
#   The airlock reads this document (GET /v1/data/release/table_rules) at each submission.
table_rules := {
	"min_organisations": 10,
	"dominance": {"n": 2, "k": 0.9},
	"p_percent": 0.1,
	"dominance_aggregates": ["sum", "mean"],
	"single_value_aggregates": ["min", "max", "median"],
	"statuses": {
		"threshold": "fail",
		"nk-rule": "fail",
		"p-ratio": "fail",
		"zeros": "warn",
		"single-value": "warn",
	},
}

# --- figures and notebooks (issue 15, part "figures") -------------------------------------

# METADATA
# description: |
#   Media types no file may have, and what to do instead. SVG is code: it can run scripts,
#   follow links and load external references, and what it draws is not what a reviewer
#   reads in its source.
refused_media_types := {"image/svg+xml": "SVG is code (scripts, links, external references) and is never released: export the figure as PNG instead (e.g. matplotlib savefig(\"figure.png\", dpi=200))"}

# METADATA
# description: |
#   Checks a figure or notebook must have had before it may leave (as required_checks): the
#   figure check lists metadata and finds bytes after an image's end; the notebook check
#   reports outputs that hold data.
content_checks := {
	"image/png": {"figure"},
	"image/jpeg": {"figure"},
	"application/x-ipynb+json": {"notebook"},
}

# METADATA
# description: |
#   How much a figure or notebook may carry besides what a reviewer reads, by check. The
#   checks warn about all of it (two reviewers); above these numbers the request is denied.
#   - metrics: the largest value of a check's metric (figure: metadata_bytes, the bytes of
#     text, EXIF, ICC profiles and comments together, compressed chunks counted inflated).
#   - findings: the largest single finding of each rule, in bytes (notebook: a base64 blob
#     "embedded-data", a table/text/JSON "large-output", a "hidden-output", an "attachment",
#     "widget-state", cell or notebook "metadata").
#   - fix: what the researcher can do about it.
content_limits := {
	"figure": {
		"metrics": {"metadata_bytes": 65536},
		"findings": {},
		"fix": "export the figure again without metadata (e.g. matplotlib savefig(..., metadata={\"Software\": None}))",
	},
	"notebook": {
		"metrics": {},
		"findings": {
			"embedded-data": 1048576,
			"large-output": 1048576,
			"hidden-output": 262144,
			"attachment": 1048576,
			"widget-state": 1048576,
			"metadata": 262144,
		},
		"fix": "clear the outputs that hold data (Edit > Clear Outputs) and save the notebook again; release tables and figures as files of their own",
	},
}

reasons contains msg if {
	some f in files
	advice := refused_media_types[f.media_type]
	msg := sprintf("%s: %s", [f.path, advice])
}

reasons contains msg if {
	some f in files
	some name in object.get(content_checks, f.media_type, set())
	not checked_by(f.path, name)
	msg := sprintf("%s: the %s check has not looked at this file, and a file of media type %s needs it", [f.path, name, f.media_type])
}

reasons contains msg if {
	some c in checks
	some metric, limit in content_limits[c.check].metrics
	value := object.get(c, ["metrics", metric], 0)
	value > limit
	msg := sprintf("%s: check %s found %s = %d, more than the %d the release policy allows: %s", [subject(c), c.check, metric, value, limit, content_limits[c.check].fix])
}

reasons contains msg if {
	some c in checks
	some f in object.get(c, "findings", [])
	limit := content_limits[c.check].findings[f.rule]
	f.bytes > limit
	msg := sprintf("%s: %s: %s; at most %d bytes may leave this way: %s", [subject(c), object.get(f, "location", "the file"), f.message, limit, content_limits[c.check].fix])
}

# --- end of figures and notebooks ----------------------------------------------------------

# --- Copied records (issue 15, part "copied") ------------------------------------------------

# METADATA
# description: |
#   What the copied-records check (every table, whatever its file type) allows of the project's
#   granted data in a file. The airlock compares the table with the airlock's copy of every
#   grant of the project and counts rows and values found in them; it reads this document
#   (GET /v1/data/release/copied_records) at each submission. Above a max_* count the check
#   fails (denied), above a warn_* count it warns (reviewers_on_warning reviewers).
#   - max_whole_rows: rows equal to a grant row, as the grant writes them, in its layout.
#   - max_rearranged_rows: rows equal to a grant row with columns reordered, renamed or dropped.
#   - max_reformatted_rows: rows equal to a grant row once numbers are read as numbers and
#     rounded to the table's decimals (97.10 for 97.1, "1,234.5", 9.71e1).
#   - warn/max_verbatim_rare_values: distinct values of text or whole-number columns found as
#     written in the grant, where each occurs at most rare_at_most times (identifiers).
#   - min_evidence_bits: how unlikely a chance match must be for a row to count (bits over the
#     grant's size): a table of aggregates sharing keys with the grant is not a copy.
copied_records := {
	"max_whole_rows": 0,
	"max_rearranged_rows": 0,
	"max_reformatted_rows": 0,
	"warn_verbatim_rare_values": 20,
	"max_verbatim_rare_values": 1000,
	"rare_at_most": 1,
	"min_evidence_bits": 8,
}

# --- end of copied records ---------------------------------------------------------------------

# METADATA
# description: |
#   A PDF can hold more than its page images show (hidden text, fonts, metadata, objects no
#   page uses), so two people look at it.
more_review_media_types := {"application/pdf"}

# METADATA
# description: The decision the airlock enforces.
# entrypoint: true
decision := {
	"allow": allow,
	"reasons": explained_reasons,
	"reviewers_required": reviewers_required,
	"data_owner_approval": data_owner_approval,
	"notes": sort(notes),
}

# METADATA
# description: |
#   Allowed (may go to review) only when no rule gave a reason to deny AND every condition is
#   positively met, so an input with missing fields is denied even if no reason could be phrased.
default allow := false

allow if {
	count(reasons) == 0
	input.action == "release"
	is_researcher
	input.project.role == "researcher"
	request_of_project
	requested_by_user
	count(files) > 0
	every f in files {
		releasable(f)
	}
	every c in checks {
		c.status in {"pass", "warn"}
	}
	owners_known
}

# METADATA
# description: The reasons shown; a denial always has at least one.
explained_reasons := sort(reasons) if count(reasons) > 0

else := [] if allow

else := ["the policy input is incomplete, so the release is denied"]

files := input.request.files

checks := input.request.checks

user_name := object.get(input, ["user", "name"], "this user")

is_researcher if "researcher" in input.user.roles

has_request if is_object(input.request)

request_of_project if input.request.project == input.project.id

requested_by_user if input.request.requester.name == input.user.name

media_type_allowed(f, allowed) if f.media_type in allowed.media_types

releasable(f) if {
	allowed := file_types[f.type]
	media_type_allowed(f, allowed)
	f.size <= allowed.max_bytes
	checked(f.path)
	every name in object.get(required_checks, f.media_type, set()) {
		checked_by(f.path, name)
	}
}

owners_known if not needs_data_owners

owners_known if count(input.request.contributing_organisations) > 0

# METADATA
# description: Why the request cannot be released as it is. Empty means it may go to review.
reasons contains msg if {
	input.action != "release"
	msg := sprintf("this is the release policy; it cannot decide %q", [input.action])
}

reasons contains msg if {
	not is_researcher
	msg := sprintf("%s does not have the global role \"researcher\", which is needed to ask for a release", [user_name])
}

reasons contains msg if {
	not input.project.role == "researcher"
	msg := sprintf("%s is not a researcher of project %s", [user_name, object.get(input, ["project", "id"], "(none)")])
}

reasons contains "the input has no release request" if not has_request

reasons contains msg if {
	is_object(input.request)
	not request_of_project
	msg := sprintf("request %s does not belong to project %s", [input.request.id, object.get(input, ["project", "id"], "(none)")])
}

reasons contains msg if {
	is_object(input.request)
	not requested_by_user
	msg := sprintf("request %s was not made by %s; it is decided for its requester only", [input.request.id, user_name])
}

reasons contains "the request has no files" if count(files) == 0

reasons contains msg if {
	count(files) > settings.max_files
	msg := sprintf("the request has %d files; at most %d may be released at once", [count(files), settings.max_files])
}

reasons contains msg if {
	total := sum([f.size | some f in files])
	total > settings.max_total_bytes
	msg := sprintf("the files add up to %d bytes; at most %d may be released at once", [total, settings.max_total_bytes])
}

reasons contains msg if {
	some f in files
	not file_types[f.type]
	msg := sprintf("%s: files of type %q cannot be released (allowed: %s)", [f.path, f.type, concat(", ", sort(object.keys(file_types)))])
}

reasons contains msg if {
	some f in files
	allowed := file_types[f.type]
	not media_type_allowed(f, allowed)
	msg := sprintf("%s: a %s cannot have the media type %q (allowed: %s)", [f.path, f.type, f.media_type, concat(", ", sort(allowed.media_types))])
}

reasons contains msg if {
	some f in files
	f.size > file_types[f.type].max_bytes
	msg := sprintf("%s is %d bytes; a %s may be at most %d bytes", [f.path, f.size, f.type, file_types[f.type].max_bytes])
}

reasons contains msg if {
	some f in files
	not checked(f.path)
	msg := sprintf("%s: no automatic check has looked at this file", [f.path])
}

reasons contains msg if {
	some f in files
	some name in object.get(required_checks, f.media_type, set())
	not checked_by(f.path, name)
	msg := sprintf("%s: the %s check has not looked at this file, and a file of media type %s needs it", [f.path, name, f.media_type])
}

reasons contains msg if {
	some c in checks
	c.status == "fail"
	msg := sprintf("%s: check %s failed: %s", [subject(c), c.check, object.get(c, "message", "no message")])
}

reasons contains msg if {
	some c in checks
	c.status == "error"
	msg := sprintf("%s: check %s could not run, and what was not checked does not leave: %s", [subject(c), c.check, object.get(c, "message", "no message")])
}

reasons contains msg if {
	some c in checks
	c.status == "pending"
	msg := sprintf("%s: check %s has not finished", [subject(c), c.check])
}

reasons contains "the request needs a data owner's co-approval, but no contributing organisation is known" if {
	not owners_known
}

checked(path) if {
	some c in checks
	c.file == path
}

checked_by(path, name) if {
	some c in checks
	c.file == path
	c.check == name
}

subject(c) := c.file if is_string(c.file)

subject(c) := "the request" if c.file == null

warnings contains c if {
	some c in checks
	c.status == "warn"
}

needs_data_owners if {
	some f in files
	f.type in data_owner_types
}

# METADATA
# description: How many distinct reviewers must approve, the largest number any rule asks for.
reviewers_required := max(reviewer_counts)

reviewer_counts contains settings.min_reviewers

reviewer_counts contains settings.reviewers_on_warning if count(warnings) > 0

reviewer_counts contains settings.reviewers_for_data_owner_types if needs_data_owners

reviewer_counts contains settings.reviewers_for_media_types if {
	some f in files
	f.media_type in more_review_media_types
}

# METADATA
# description: The organisations whose data owner must co-approve (none unless needed).
default data_owner_approval := []

data_owner_approval := sort(input.request.contributing_organisations) if needs_data_owners

# METADATA
# description: Why the request needs more than the minimum, for reviewers and the researcher.
notes contains msg if {
	some c in warnings
	msg := sprintf("%d reviewers: %s: check %s warned: %s", [settings.reviewers_on_warning, subject(c), c.check, object.get(c, "message", "no message")])
}

notes contains msg if {
	some f in files
	f.type in data_owner_types
	msg := sprintf("%s is a %s: a data owner of every contributing organisation must co-approve, and %d reviewers", [f.path, f.type, settings.reviewers_for_data_owner_types])
}

notes contains msg if {
	some f in files
	f.media_type in more_review_media_types
	msg := sprintf("%s is %s: it can hold more than its pages show, so %d reviewers", [f.path, f.media_type, settings.reviewers_for_media_types])
}

# --- models and archives (issue 15: file checks, part "models") ---------------------------------

# METADATA
# description: |
#   Model formats that hold only tensors and a graph (nothing runs when they are loaded). A
#   model of another media type (a pickle, torch.save's zip) gets a note saying to prefer these;
#   its model check also warns, so reviewers_on_warning reviewers look at it.
prefer_model_media_types := {"application/onnx", "application/x-safetensors"}

# METADATA
# description: |
#   Media types an archive's member may never have, whatever file type allows them: archives
#   (no nesting), content of unknown type, pickles and torch zips (their imports are checked
#   only as files of their own). Besides these, a member may not have a media type with a
#   required or content check (PDF, models, PNG, JPEG, notebooks: their checks run on files,
#   not on members) nor one refused outright (SVG): release such a member as a file of its own.
archive_member_refused_media_types := {
	"application/zip",
	"application/octet-stream",
	"application/x-python-pickle",
	"application/x-pytorch",
}

# METADATA
# description: The media types an archive's member may have (any file type's, less the refused).
archive_member_media_types contains t if {
	some ft in file_types
	some t in ft.media_types
	not t in archive_member_refused_media_types
	not required_checks[t]
	not content_checks[t]
	not refused_media_types[t]
}

reasons contains msg if {
	some c in checks
	c.check == "archive"
	some finding in object.get(c, "findings", [])
	is_string(finding.media_type)
	not finding.media_type in archive_member_media_types
	msg := sprintf("%s: the archive's member %s is %s, which may not leave inside an archive (allowed: %s); release it as a file of its own or leave it out", [subject(c), object.get(finding, "location", "(unnamed)"), finding.media_type, concat(", ", sort(archive_member_media_types))])
}

notes contains msg if {
	some f in files
	f.type == "model"
	not f.media_type in prefer_model_media_types
	msg := sprintf("%s is %s: models in %s are preferred (nothing in them runs when they are loaded)", [f.path, f.media_type, concat(" or ", sort(prefer_model_media_types))])
}
