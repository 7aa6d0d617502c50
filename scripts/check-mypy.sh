#!/usr/bin/env bash
# mypy over src/cleanroom (configuration in pyproject.toml), against a baseline: prints every
# error, fails only when there are more errors than the baseline (a new error), and asks for
# the baseline to be lowered when there are fewer. With a baseline of 0 mypy is blocking.
#
# Usage: scripts/check-mypy.sh BASELINE
set -uo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
baseline="${1:?usage: check-mypy.sh BASELINE}"
cd "$REPO"
echo "== mypy (at most $baseline errors)"
output="$(PYTHONPATH="$REPO/src" .venv/bin/mypy 2>&1)"
status=$?
printf '%s\n' "$output"
if [[ $status -ne 0 && $status -ne 1 ]]; then
  echo "mypy did not run (exit $status)" >&2
  exit 1
fi
errors="$(printf '%s\n' "$output" | grep -c ': error:' || true)"
if ((errors > baseline)); then
  echo "mypy: $errors errors, more than the baseline of $baseline: fix the new ones" >&2
  exit 1
fi
if ((errors < baseline)); then
  echo "mypy: $errors errors, fewer than the baseline of $baseline: lower MYPY_BASELINE in the Makefile"
fi
