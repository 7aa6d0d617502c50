#!/usr/bin/env bash
# Check the Rego policies without changing them: formatting, strict compile with the input
# schema, and the policy tests with a coverage floor. Fails (non-zero) when any check fails.
#
# Usage: scripts/check-policies.sh [policies-dir]   (env OPA: the opa binary; COVERAGE_MIN: %)
# To fix formatting instead of checking it: .cache/bin/opa fmt -w policies/
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
POLICIES="${1:-$REPO/policies}"
COVERAGE_MIN="${COVERAGE_MIN:-90}"
OPA="${OPA:-}"
if [[ -z "$OPA" ]]; then
  if [[ -x "$REPO/.cache/bin/opa" ]]; then
    OPA="$REPO/.cache/bin/opa"
  elif command -v opa >/dev/null 2>&1; then
    OPA="$(command -v opa)"
  else
    echo "check-policies: no opa binary: run scripts/install-opa.sh" >&2
    exit 1
  fi
fi
PYTHON="${PYTHON:-python3}"
SCHEMA="$POLICIES/input.schema.json"
# The schema and the example inputs are JSON files in the policies directory; the schema is
# not data (it is given with -s), the examples are data the tests use (data.examples).
IGNORE=(--ignore '*.schema.json' --ignore '.*')

echo "== opa fmt (${OPA})"
unformatted="$("$OPA" fmt --list "$POLICIES")"
if [[ -n "$unformatted" ]]; then
  echo "not formatted (run: $OPA fmt -w $POLICIES):" >&2
  echo "$unformatted" >&2
  "$OPA" fmt --diff "$POLICIES" >&2 || true
  exit 1
fi
"$OPA" fmt --fail --list "$POLICIES" >/dev/null

echo "== opa check --strict"
"$OPA" check --strict "${IGNORE[@]}" --schema "$SCHEMA" "$POLICIES"

echo "== opa test"
"$OPA" test "${IGNORE[@]}" --schema "$SCHEMA" "$POLICIES"

echo "== opa test --coverage (at least ${COVERAGE_MIN}%)"
report="$(mktemp)"
trap 'rm -f "$report"' EXIT
"$OPA" test "${IGNORE[@]}" --schema "$SCHEMA" --coverage --format json "$POLICIES" >"$report"
"$PYTHON" - "$report" "$COVERAGE_MIN" <<'PY'
import json
import sys

path, minimum = sys.argv[1], float(sys.argv[2])
with open(path, encoding="utf-8") as f:
    report = json.load(f)
files = report.get("files", {})
covered = not_covered = 0
for name in sorted(files):
    entry = files[name]
    if name.endswith("_test.rego"):
        continue  # the floor is on the policies, not on the tests themselves
    covered += entry.get("covered_lines", 0)
    not_covered += entry.get("not_covered_lines", 0)
    gaps = [f"{r['start']['row']}-{r['end']['row']}" for r in entry.get("not_covered", [])]
    print(f"  {entry.get('coverage', 0):6.2f}%  {name}"
          + (f"  (not covered: lines {', '.join(gaps)})" if gaps else ""))
total = 100.0 * covered / (covered + not_covered) if covered + not_covered else 0.0
print(f"  policy coverage {total:.2f}% of {covered + not_covered} lines (minimum {minimum:g}%)")
if total < minimum:
    print(f"policy test coverage {total:.2f}% is below {minimum:g}%", file=sys.stderr)
    sys.exit(1)
PY
echo "policies OK"
