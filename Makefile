# The two commands of the README, and the steps they are made of.
.PHONY: up down test check fix images deps

# 1. Bring the whole clean room up with demo accounts; print where to log in.
up:
	scripts/up.sh

down:
	scripts/down.sh

# 2. The whole test suite (installs and starts what it needs first; each step is idempotent).
test:
	scripts/test.sh

deps:
	CLEANROOM_WITH_TEST_TOOLS=1 scripts/install-system.sh
	scripts/start-docker.sh
	scripts/install-python.sh
	scripts/install-opa.sh

images:
	images/build.sh

# Lint and format checks that change nothing; `make fix` applies the fixes.
check:
	.venv/bin/ruff check src tests bench
	.venv/bin/ruff format --check src tests bench

fix:
	.venv/bin/ruff check --fix src tests bench
	.venv/bin/ruff format src tests bench
