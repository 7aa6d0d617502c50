# METADATA
# title: Access policy tests
# description: |
#   Table-driven: each case is an example input from examples/access.json with a JSON patch
#   applied, and the decision expected for it. `opa test policies/ -v` names each case.
package access_test

import data.access

foundation := data.examples.access.foundation_researcher

member := data.examples.access.project_member

set_role(doc, role) := json.patch(doc, [{"op": "replace", "path": "/project/role", "value": role}])

set_roles(doc, roles) := json.patch(doc, [{"op": "replace", "path": "/user/roles", "value": roles}])

set_expiry(doc, at) := json.patch(doc, [{"op": "replace", "path": "/grants/0/expires_at", "value": at}])

only_grants(doc, ids) := json.patch(doc, [{
	"op": "replace", "path": "/grants",
	"value": [g | some g in doc.grants; g.id in ids],
}])

member_excluded := [
	{"id": "g-elsewhere", "reason": "granted to another project"},
	{"id": "g-old", "reason": "expired at 2025-05-31T23:59:59Z"},
	{"id": "g-revoked", "reason": "revoked"},
]

# METADATA
# description: Case name -> input, expected allow, reasons and grants.
cases := {
	"foundation: a researcher may start a server, with no data": {
		"input": foundation,
		"allow": true,
		"reasons": [],
		"grants": [],
	},
	"foundation: no global role is denied with a reason": {
		"input": set_roles(foundation, []),
		"allow": false,
		"reasons": ["alice does not have the global role \"researcher\", which is needed to start a server"],
		"grants": [],
	},
	"foundation: reviewers and admins without the researcher role are denied": {
		"input": set_roles(foundation, ["reviewer", "admin", "data-owner"]),
		"allow": false,
		"reasons": ["alice does not have the global role \"researcher\", which is needed to start a server"],
		"grants": [],
	},
	"foundation: grants without a project never apply": {
		"input": json.patch(foundation, [{"op": "replace", "path": "/grants", "value": [member.grants[0]]}]),
		"allow": true,
		"reasons": [],
		"grants": [],
	},
	"project: a researcher member gets the grants in force": {
		"input": member,
		"allow": true,
		"reasons": [],
		"grants": ["g-quality", "g-sensors"],
	},
	"project: a grant expiring exactly now no longer applies": {
		"input": set_expiry(member, "2025-06-01T12:00:00Z"),
		"allow": true,
		"reasons": [],
		"grants": ["g-quality"],
	},
	"project: a grant expiring a second later still applies": {
		"input": set_expiry(member, "2025-06-01T12:00:01Z"),
		"allow": true,
		"reasons": [],
		"grants": ["g-quality", "g-sensors"],
	},
	"project: expiry is compared as a time, not as text": {
		"input": set_expiry(member, "2025-06-01T13:00:00+02:00"),
		"allow": true,
		"reasons": [],
		"grants": ["g-quality"],
	},
	"project: when none of its grants is in force any more, it does not open": {
		"input": only_grants(member, {"g-old", "g-revoked", "g-elsewhere"}),
		"allow": false,
		"reasons": ["none of project p-yield's grants is in force any more (grant g-old: expired at 2025-05-31T23:59:59Z; grant g-revoked: revoked)"],
		"grants": [],
	},
	"project: a project with no grants yet opens, with no data": {
		"input": only_grants(member, set()),
		"allow": true,
		"reasons": [],
		"grants": [],
	},
	"project: a non-member gets nothing": {
		"input": set_role(member, null),
		"allow": false,
		"reasons": ["alice is not a member of project p-yield"],
		"grants": [],
	},
	"project: a reviewer of the project may not start a server for it": {
		"input": set_role(member, "reviewer"),
		"allow": false,
		"reasons": ["alice is a reviewer of project p-yield; only its researchers may start a server for it"],
		"grants": [],
	},
	"project: a member without the global researcher role is denied": {
		"input": set_roles(member, ["reviewer"]),
		"allow": false,
		"reasons": ["alice does not have the global role \"researcher\", which is needed to start a server"],
		"grants": [],
	},
	"input: another action is refused": {
		"input": json.patch(member, [{"op": "replace", "path": "/action", "value": "release"}]),
		"allow": false,
		"reasons": ["this is the access policy; it cannot decide \"release\""],
		"grants": [],
	},
	"input: a time that is not RFC 3339 is denied": {
		"input": json.patch(member, [{"op": "replace", "path": "/now", "value": "yesterday"}]),
		"allow": false,
		"reasons": ["the time of the decision (input.now) is missing or not RFC 3339"],
		"grants": [],
	},
	"input: a missing project (not null) is denied": {
		"input": json.patch(foundation, [{"op": "remove", "path": "/project"}]),
		"allow": false,
		"reasons": ["the input must name a project, or null for none"],
		"grants": [],
	},
	"input: a member with no user name is still denied": {
		"input": json.patch(member, [{"op": "remove", "path": "/user"}]),
		"allow": false,
		"reasons": ["this user does not have the global role \"researcher\", which is needed to start a server"],
		"grants": [],
	},
	"input: an empty input is denied with reasons": {
		"input": {},
		"allow": false,
		"reasons": [
			"the input must name a project, or null for none",
			"the time of the decision (input.now) is missing or not RFC 3339",
			"this user does not have the global role \"researcher\", which is needed to start a server",
		],
		"grants": [],
	},
}

# METADATA
# description: Every case gives the expected allow, reasons and grants.
test_decision[name] if {
	some name, c in cases
	d := access.decision with input as c.input
	d.allow == c.allow
	d.reasons == c.reasons
	d.grants == c.grants
}

test_excluded_grants_say_why if {
	d := access.decision with input as member
	d.excluded_grants == member_excluded
}

test_foundation_grants_are_excluded_for_lack_of_a_project if {
	doc := json.patch(foundation, [{"op": "replace", "path": "/grants", "value": [member.grants[0]]}])
	d := access.decision with input as doc
	d.excluded_grants == [{"id": "g-sensors", "reason": "there is no project"}]
}

test_a_denied_member_gets_no_grants_even_if_grants_are_in_force if {
	d := access.decision with input as set_role(member, null)
	d.grants == []
	not access.allow with input as set_role(member, null)
}

test_incomplete_input_is_denied_even_without_a_phrased_reason if {
	# A role that satisfies the role check but a project role that is not a string and not
	# null: no reason rule matches it, and allow still refuses.
	d := access.decision with input as set_role(member, 7)
	d.allow == false
	count(d.reasons) > 0
}
