# METADATA
# title: Review policy tests
# description: |
#   Table-driven: each case is an example input from examples/review.json with a JSON patch
#   applied, and the decision expected for it. `opa test policies/ -v` names each case.
package review_test

import data.review

reviewer := data.examples.review.reviewer

owner := data.examples.review.data_owner

patch(doc, path, value) := json.patch(doc, [{"op": "replace", "path": path, "value": value}])

# METADATA
# description: Case name -> input, expected allow, reasons, capacities, organisations.
cases := {
	"a project reviewer from another organisation may vote": {
		"input": reviewer,
		"allow": true,
		"reasons": [],
		"capacities": ["reviewer"],
		"organisations": [],
	},
	"nobody may review their own request": {
		"input": patch(reviewer, "/request/requester", {"name": "rita", "organisation": "uni-a"}),
		"allow": false,
		"reasons": ["nobody may review their own request"],
		"capacities": ["reviewer"],
		"organisations": [],
	},
	"a reviewer from the requester's organisation is excluded": {
		"input": patch(reviewer, "/user/organisation", "uni-a"),
		"allow": false,
		"reasons": ["reviewers from the requester's organisation (uni-a) may not review this request"],
		"capacities": [],
		"organisations": [],
	},
	"a reviewer whose organisation is unknown is excluded": {
		"input": patch(reviewer, "/user/organisation", null),
		"allow": false,
		"reasons": ["reviewers from the requester's organisation (uni-a) may not review this request"],
		"capacities": [],
		"organisations": [],
	},
	"a requester whose organisation is unknown excludes every reviewer": {
		"input": patch(reviewer, "/request/requester/organisation", null),
		"allow": false,
		"reasons": ["reviewers from the requester's organisation (null) may not review this request"],
		"capacities": [],
		"organisations": [],
	},
	"a researcher of the project is not one of its reviewers": {
		"input": patch(reviewer, "/project/role", "researcher"),
		"allow": false,
		"reasons": ["rita is not a reviewer of project p-yield"],
		"capacities": [],
		"organisations": [],
	},
	"a reviewer who is not a member of the project may not vote": {
		"input": patch(reviewer, "/project/role", null),
		"allow": false,
		"reasons": ["rita is not a reviewer of project p-yield"],
		"capacities": [],
		"organisations": [],
	},
	"a project reviewer without the global role may not vote": {
		"input": patch(reviewer, "/user/roles", ["researcher"]),
		"allow": false,
		"reasons": ["rita has neither the global role \"reviewer\" nor \"data-owner\""],
		"capacities": [],
		"organisations": [],
	},
	"a data owner votes for their organisation's part": {
		"input": owner,
		"allow": true,
		"reasons": [],
		"capacities": ["data-owner"],
		"organisations": ["acme"],
	},
	"a data owner whose organisation has no data in the request may not vote": {
		"input": patch(owner, "/user/organisation", "initech"),
		"allow": false,
		"reasons": ["olga's organisation (initech) has no data in this request"],
		"capacities": [],
		"organisations": [],
	},
	"a data owner whose organisation's rows were filtered out of every mounted grant may not look": {
		"input": patch(owner, "/request/contributing_organisations", ["globex"]),
		"allow": false,
		"reasons": ["olga's organisation (acme) has no data in this request"],
		"capacities": [],
		"organisations": [],
	},
	"with no contributing organisation no data owner may look": {
		"input": patch(owner, "/request/contributing_organisations", []),
		"allow": false,
		"reasons": ["olga's organisation (acme) has no data in this request"],
		"capacities": [],
		"organisations": [],
	},
	"a data owner who is also a project reviewer votes only as a reviewer when their rows are not in it": {
		"input": json.patch(owner, [
			{"op": "replace", "path": "/user/roles", "value": ["reviewer", "data-owner"]},
			{"op": "replace", "path": "/project/role", "value": "reviewer"},
			{"op": "replace", "path": "/request/contributing_organisations", "value": ["globex"]},
		]),
		"allow": true,
		"reasons": [],
		"capacities": ["reviewer"],
		"organisations": [],
	},
	"a data owner with no known organisation may not vote": {
		"input": patch(owner, "/user/organisation", null),
		"allow": false,
		"reasons": ["olga's organisation (null) has no data in this request"],
		"capacities": [],
		"organisations": [],
	},
	"a data owner who is also a project reviewer votes in both capacities": {
		"input": json.patch(owner, [
			{"op": "replace", "path": "/user/roles", "value": ["reviewer", "data-owner"]},
			{"op": "replace", "path": "/project/role", "value": "reviewer"},
		]),
		"allow": true,
		"reasons": [],
		"capacities": ["data-owner", "reviewer"],
		"organisations": ["acme"],
	},
	"a data owner may not co-approve their own request": {
		"input": patch(owner, "/request/requester", {"name": "olga", "organisation": "acme"}),
		"allow": false,
		"reasons": ["nobody may review their own request"],
		"capacities": ["data-owner"],
		"organisations": ["acme"],
	},
	"a request of another project is refused": {
		"input": patch(reviewer, "/request/project", "p-other"),
		"allow": false,
		"reasons": ["request r-2 does not belong to project p-yield"],
		"capacities": ["reviewer"],
		"organisations": [],
	},
	"another action is refused": {
		"input": patch(reviewer, "/action", "release"),
		"allow": false,
		"reasons": ["this is the review policy; it cannot decide \"release\""],
		"capacities": ["reviewer"],
		"organisations": [],
	},
	"an empty input is refused with reasons": {
		"input": {},
		"allow": false,
		"reasons": [
			"nobody may review their own request",
			"request (none) does not belong to project (none)",
			"this user has neither the global role \"reviewer\" nor \"data-owner\"",
		],
		"capacities": [],
		"organisations": [],
	},
}

# METADATA
# description: Every case gives the expected allow, reasons, capacities and organisations.
test_decision[name] if {
	some name, c in cases
	d := review.decision with input as c.input
	d.allow == c.allow
	d.reasons == c.reasons
	d.capacities == c.capacities
	d.organisations == c.organisations
}

test_same_organisation_may_review_when_the_policy_allows_it if {
	doc := patch(reviewer, "/user/organisation", "uni-a")
	d := review.decision with input as doc with review.exclude_same_organisation as false
	d.allow == true
	d.capacities == ["reviewer"]
}

test_incomplete_input_is_refused_even_without_a_phrased_reason if {
	# A voter with no name can be no requester's peer: refused as if it were their own.
	doc := json.patch(reviewer, [{"op": "remove", "path": "/user/name"}])
	d := review.decision with input as doc
	d.allow == false
	count(d.reasons) > 0
}
