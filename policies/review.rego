# METADATA
# title: Review policy
# description: |
#   May this person vote on this release request, and in which capacity.
#   Asked by the airlock before it shows a request for review and before it records a vote:
#   POST /v1/data/review/decision. Input: policies/input.schema.json with action "review";
#   input.user is the voter, input.project the request's project with the voter's role in it.
#   Output (decision): allow, reasons, capacities ("reviewer" and/or "data-owner") and
#   organisations (for a data owner, the organisation their vote co-approves for).
package review

# METADATA
# description: |
#   When true, a reviewer from the requester's own organisation may not review the request
#   (independent review). An unknown organisation (null) on either side counts as the same.
exclude_same_organisation := true

# METADATA
# description: The decision the airlock enforces.
# entrypoint: true
decision := {
	"allow": allow,
	"reasons": explained_reasons,
	"capacities": sort(capacities),
	"organisations": sorted_organisations,
}

# METADATA
# description: |
#   Allowed when nothing excludes the voter and they vote in at least one capacity.
default allow := false

allow if {
	count(reasons) == 0
	input.action == "review"
	not own_request
	request_of_project
	count(capacities) > 0
}

# METADATA
# description: The reasons shown; a denial always has at least one.
explained_reasons := sort(reasons) if count(reasons) > 0

else := [] if allow

else := ["the policy input is incomplete, so the vote is refused"]

user_name := object.get(input, ["user", "name"], "this user")

# The requester is never a voter; an unknown requester counts as the voter.
own_request if input.request.requester.name == input.user.name

own_request if not input.request.requester.name

own_request if not input.user.name

request_of_project if input.request.project == input.project.id

# METADATA
# description: The capacities in which the person may vote on this request.
has_role(role) if role in input.user.roles

# METADATA
# description: |
#   The voter's organisation had rows in the grants mounted for the requester's servers (the
#   airlock's contributing_organisations, after row filters). Only then may a data owner look.
organisation_contributed if input.user.organisation in input.request.contributing_organisations

capacities contains "reviewer" if {
	has_role("reviewer")
	input.project.role == "reviewer"
	not excluded_by_organisation
}

capacities contains "data-owner" if {
	has_role("data-owner")
	is_string(input.user.organisation)
	organisation_contributed
}

excluded_by_organisation if {
	exclude_same_organisation
	same_or_unknown_organisation
}

same_or_unknown_organisation if input.user.organisation == input.request.requester.organisation

same_or_unknown_organisation if input.user.organisation == null

same_or_unknown_organisation if input.request.requester.organisation == null

# METADATA
# description: A data owner's vote co-approves for their own organisation's part only.
default sorted_organisations := []

sorted_organisations := [input.user.organisation] if "data-owner" in capacities

# METADATA
# description: Why the person may not vote. Empty means allowed.
reasons contains msg if {
	input.action != "review"
	msg := sprintf("this is the review policy; it cannot decide %q", [input.action])
}

reasons contains "nobody may review their own request" if own_request

reasons contains msg if {
	not request_of_project
	msg := sprintf(
		"request %s does not belong to project %s",
		[object.get(input, ["request", "id"], "(none)"), object.get(input, ["project", "id"], "(none)")],
	)
}

reasons contains msg if {
	count(capacities) == 0
	some msg in capacity_reasons
}

# Why each capacity does not apply; shown only when no capacity applies.
capacity_reasons contains msg if {
	not has_role("reviewer")
	not has_role("data-owner")
	msg := sprintf("%s has neither the global role \"reviewer\" nor \"data-owner\"", [user_name])
}

capacity_reasons contains msg if {
	has_role("reviewer")
	not input.project.role == "reviewer"
	msg := sprintf("%s is not a reviewer of project %s", [user_name, object.get(input, ["project", "id"], "(none)")])
}

capacity_reasons contains msg if {
	has_role("reviewer")
	input.project.role == "reviewer"
	excluded_by_organisation
	msg := sprintf(
		"reviewers from the requester's organisation (%s) may not review this request",
		[object.get(input, ["request", "requester", "organisation"], "unknown")],
	)
}

capacity_reasons contains msg if {
	has_role("data-owner")
	not organisation_contributed
	msg := sprintf(
		"%s's organisation (%s) has no data in this request",
		[user_name, object.get(input, ["user", "organisation"], "unknown")],
	)
}
