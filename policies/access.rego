# METADATA
# title: Access policy
# description: |
#   May this user start a server, for this project, and with which grants.
#   Asked by the spawner before every spawn: POST /v1/data/access/decision.
#   Input: policies/input.schema.json with action "access".
#   Output (decision): allow, reasons (why not, readable by the researcher), grants (ids of the
#   grants to mount) and excluded_grants (the project's other grants, each with why it does
#   not apply).
package access

# METADATA
# description: The global role (JupyterHub group) anyone starting a server must have.
required_role := "researcher"

# METADATA
# description: The project role a member must have to start a server for the project.
required_project_role := "researcher"

# METADATA
# description: |
#   The decision the hub enforces. A user who is denied gets no grants at all.
#   Without a project (the foundation, before the catalog exists) a researcher may start a
#   server with no data mounted.
# entrypoint: true
decision := {
	"allow": allow,
	"reasons": explained_reasons,
	"grants": granted_ids,
	"excluded_grants": sort(excluded_grants),
}

# METADATA
# description: |
#   Allowed only when no rule gave a reason to deny AND every condition is positively met,
#   so an input with missing fields is denied even if no reason could be phrased.
default allow := false

allow if {
	count(reasons) == 0
	input.action == "access"
	now_ns
	has_required_role
	project_ok
}

project_ok if input.project == null

project_ok if input.project.role == required_project_role

# METADATA
# description: The reasons shown; a denial always has at least one.
explained_reasons := sort(reasons) if count(reasons) > 0

else := [] if allow

else := ["the policy input is incomplete, so access is denied"]

# METADATA
# description: The ids of the grants that apply, and only when access is allowed.
default granted_ids := []

granted_ids := sort([g.id | some g in applicable_grants]) if allow

# METADATA
# description: The decision time in nanoseconds; undefined when input.now is not RFC 3339.
now_ns := time.parse_rfc3339_ns(input.now)

user_name := object.get(input, ["user", "name"], "this user")

has_required_role if required_role in input.user.roles

# Helpers, so that `not` also holds when the field is missing.
has_project if is_object(input.project)

has_project_role if is_string(input.project.role)

# METADATA
# description: Why the user may not start this server. Empty means allowed.
reasons contains msg if {
	input.action != "access"
	msg := sprintf("this is the access policy; it cannot decide %q", [input.action])
}

reasons contains "the time of the decision (input.now) is missing or not RFC 3339" if {
	not now_ns
}

reasons contains msg if {
	not has_required_role
	msg := sprintf("%s does not have the global role %q, which is needed to start a server", [user_name, required_role])
}

reasons contains "the input must name a project, or null for none" if {
	not has_project
	not input.project == null
}

reasons contains msg if {
	has_project
	not has_project_role
	msg := sprintf("%s is not a member of project %s", [user_name, input.project.id])
}

reasons contains msg if {
	is_string(input.project.role)
	input.project.role != required_project_role
	msg := sprintf(
		"%s is a %s of project %s; only its %ss may start a server for it",
		[user_name, input.project.role, input.project.id, required_project_role],
	)
}

# METADATA
# description: |
#   A project whose grants have all stopped applying (expired or revoked) does not open: the
#   researcher is told why, rather than getting a server with none of the project's data.
reasons contains msg if {
	has_project
	some g in input.grants
	g.project == input.project.id
	count(applicable_grants) == 0
	why := sort([sprintf("grant %s: %s", [e.id, e.reason]) | some e in excluded_grants; e.reason != "granted to another project"])
	msg := sprintf("none of project %s's grants is in force any more (%s)", [input.project.id, concat("; ", why)])
}

# METADATA
# description: |
#   The grants that apply: of this project, not revoked, and not expired at input.now.
#   Written positively, so a grant whose fields cannot be read never applies.
applicable_grants contains g if {
	is_object(input.project)
	some g in input.grants
	g.project == input.project.id
	g.revoked == false
	in_force(g)
}

in_force(g) if g.expires_at == null

in_force(g) if time.parse_rfc3339_ns(g.expires_at) > now_ns

# METADATA
# description: The grants in the input that do not apply, each with the reason.
excluded_grants contains {"id": g.id, "reason": "there is no project"} if {
	not has_project
	some g in input.grants
}

excluded_grants contains {"id": g.id, "reason": "granted to another project"} if {
	is_object(input.project)
	some g in input.grants
	g.project != input.project.id
}

excluded_grants contains {"id": g.id, "reason": "revoked"} if {
	is_object(input.project)
	some g in input.grants
	g.project == input.project.id
	g.revoked != false
}

excluded_grants contains {"id": g.id, "reason": sprintf("expired at %s", [g.expires_at])} if {
	is_object(input.project)
	some g in input.grants
	g.project == input.project.id
	g.revoked == false
	not in_force(g)
}
