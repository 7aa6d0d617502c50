# METADATA
# title: OPA's own API authorization
# description: |
#   Loaded by the OPA server the hub runs (`opa run --authorization=basic`, see cleanroom.policy.opa):
#   every HTTP request to OPA is checked here first. The REST API may only ask the three
#   decisions, read the documents policies publish as data for their services (e.g. the
#   release policy's table_rules), read the loaded policies (for the policy revision) and
#   check health. Nothing
#   may write policies or data over HTTP: the policies directory, watched by OPA, is the one
#   way to change a rule, so what runs is what was reviewed and tested.
#   Its input is OPA's HTTP request, not the decision input document.
# schemas:
#   - input:
#       type: object
#       properties:
#         method:
#           type: string
#         path:
#           type: array
#           items:
#             type: string
package system.authz

# METADATA
# description: The decision documents that may be queried.
decision_areas := {"access", "release", "review"}

# METADATA
# description: Whether OPA serves this HTTP request.
# entrypoint: true
default allow := false

allow if {
	input.method == "POST"
	some area in decision_areas
	input.path == ["v1", "data", area, "decision"]
}

# METADATA
# description: The data documents that may be read (GET /v1/data/<area>/<name>).
data_documents := {["release", "table_rules"], ["release", "copied_records"]}

allow if {
	input.method == "GET"
	some document in data_documents
	input.path == array.concat(["v1", "data"], document)
}

allow if {
	input.method == "GET"
	input.path[0] == "v1"
	input.path[1] == "policies"
}

allow if {
	input.method == "GET"
	input.path[0] == "health"
}
