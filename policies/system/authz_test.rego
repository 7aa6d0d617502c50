# METADATA
# title: OPA API authorization tests
# description: Table-driven; each case is an HTTP method and path and whether OPA serves it.
package system.authz_test

import data.system.authz

# METADATA
# description: Case name -> method, path, expected allow.
cases := {
	"the access decision may be asked": {"method": "POST", "path": ["v1", "data", "access", "decision"], "allow": true},
	"the release decision may be asked": {"method": "POST", "path": ["v1", "data", "release", "decision"], "allow": true},
	"the review decision may be asked": {"method": "POST", "path": ["v1", "data", "review", "decision"], "allow": true},
	"the loaded policies may be read (policy revision)": {"method": "GET", "path": ["v1", "policies"], "allow": true},
	"one loaded policy may be read": {"method": "GET", "path": ["v1", "policies", "access.rego"], "allow": true},
	"health may be checked": {"method": "GET", "path": ["health"], "allow": true},
	"policies may not be written over HTTP": {"method": "PUT", "path": ["v1", "policies", "access.rego"], "allow": false},
	"policies may not be deleted over HTTP": {"method": "DELETE", "path": ["v1", "policies", "access.rego"], "allow": false},
	"data may not be written over HTTP": {"method": "PUT", "path": ["v1", "data", "access"], "allow": false},
	"data may not be patched over HTTP": {"method": "PATCH", "path": ["v1", "data"], "allow": false},
	"other rules may not be queried": {"method": "POST", "path": ["v1", "data", "access", "allow"], "allow": false},
	"all data may not be read": {"method": "GET", "path": ["v1", "data"], "allow": false},
	"unknown decision areas may not be queried": {"method": "POST", "path": ["v1", "data", "system", "decision"], "allow": false},
	"ad-hoc queries are refused": {"method": "POST", "path": ["v1", "query"], "allow": false},
	"the config is not served": {"method": "GET", "path": ["v1", "config"], "allow": false},
	"the release policy's table rules may be read": {"method": "GET", "path": ["v1", "data", "release", "table_rules"], "allow": true},
	"the release policy's other rules may not be read": {"method": "GET", "path": ["v1", "data", "release", "settings"], "allow": false},
	"the table rules may not be written": {"method": "PUT", "path": ["v1", "data", "release", "table_rules"], "allow": false},
	"a document below the table rules may not be read": {"method": "GET", "path": ["v1", "data", "release", "table_rules", "statuses"], "allow": false},
	"the release policy's copied-records thresholds may be read": {"method": "GET", "path": ["v1", "data", "release", "copied_records"], "allow": true},
	"the copied-records thresholds may not be written": {"method": "PUT", "path": ["v1", "data", "release", "copied_records"], "allow": false},
}

# METADATA
# description: Every case gives the expected answer.
test_request[name] if {
	some name, c in cases
	allowed := authz.allow with input as {"method": c.method, "path": c.path}
	allowed == c.allow
}
