# METADATA
# title: Release policy tests for copied records
# description: |
#   The copied-records check's thresholds (data the airlock reads) and what its outcome means
#   for a release: a fail denies with the check's message, a warn asks for more reviewers.
package release_copied_test

import data.release

clean := data.examples.release.clean

copied_check(status, message) := {
	"check": "copied-records",
	"file": clean.request.files[0].path,
	"status": status,
	"message": message,
}

with_check(c) := json.patch(clean, [{"op": "add", "path": "/request/checks/-", "value": c}])

test_any_copied_row_is_denied_by_default if {
	release.copied_records.max_whole_rows == 0
	release.copied_records.max_rearranged_rows == 0
	release.copied_records.max_reformatted_rows == 0
}

test_verbatim_rare_values_warn_before_they_deny if {
	release.copied_records.warn_verbatim_rare_values < release.copied_records.max_verbatim_rare_values
	release.copied_records.rare_at_most >= 1
	release.copied_records.min_evidence_bits > 0
}

test_a_table_with_copied_rows_is_denied_and_says_why if {
	message := "50 row(s) copied from the project's granted data are in this table (50 row(s) copied whole)"
	d := release.decision with input as with_check(copied_check("fail", message))
	not d.allow
	some reason in d.reasons
	contains(reason, "check copied-records failed")
	contains(reason, "50 row(s) copied from")
}

test_verbatim_identifiers_ask_for_two_reviewers if {
	d := release.decision with input as with_check(copied_check("warn", "30 distinct rare values"))
	d.allow
	d.reviewers_required == release.settings.reviewers_on_warning
}

test_a_comparison_that_could_not_run_denies if {
	d := release.decision with input as with_check(copied_check("error", "the sandbox stopped"))
	not d.allow
}

test_a_clean_comparison_keeps_one_reviewer if {
	d := release.decision with input as with_check(copied_check("pass", "no copied row found"))
	d.allow
	d.reviewers_required == release.settings.min_reviewers
}

test_a_table_the_copied_records_check_has_not_looked_at_is_denied if {
	unchecked := [c | some c in data.examples.release.clean.request.checks; c.check != "copied-records"]
	doc := json.patch(data.examples.release.clean, [{"op": "replace", "path": "/request/checks", "value": unchecked}])
	d := release.decision with input as doc
	not d.allow
	d.reasons == ["out/yield_by_plant.csv: the copied-records check has not looked at this file, and a file of media type text/csv needs it"]
}
