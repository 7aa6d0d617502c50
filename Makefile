# The two commands of the README, and the steps they are made of.
.PHONY: up down test deps check fix coverage images

PY := .venv/bin
# Python runs this checkout's package (src/), also where .venv's editable install points elsewhere.
SRC := PYTHONPATH=$(CURDIR)/src
LAB := extensions/cleanroom-lab
LAB_ENV := PATH="$(CURDIR)/$(LAB)/.cache/venv/bin:$$PATH"
# The Python folders ruff checks and formats, with the lab extension's server part and tests.
PYTHON_DIRS := src tests bench $(LAB)/cleanroom_lab images/notebook/client

# 1. Bring the whole clean room up with demo accounts; print where to log in.
up:
	scripts/up.sh

down:
	scripts/down.sh

# 2. The whole test suite: `make deps`, `make check`, then every tier of pytest (see
#    scripts/test.sh; each install step skips what is already done).
test:
	scripts/test.sh

# Install and start what the checks and tests need (Debian packages, the Docker engine,
# PostgreSQL, .venv, opa, the images).
deps:
	CLEANROOM_WITH_TEST_TOOLS=1 scripts/install-system.sh
	scripts/start-docker.sh
	scripts/start-postgres.sh
	scripts/install-python.sh
	scripts/install-opa.sh
	images/build.sh

# Every static check; changes nothing and installs nothing in the repository or .venv (the
# wheel smoke test builds and installs into a temporary directory). `make fix` writes.
# mypy reports its errors without failing the target while they are being fixed: it fails
# only when there are more than MYPY_BASELINE.
MYPY_BASELINE := 3
check:
	$(PY)/ruff check $(PYTHON_DIRS)
	$(PY)/ruff format --check $(PYTHON_DIRS)
	scripts/check-mypy.sh $(MYPY_BASELINE)
	$(SRC) $(PY)/python -m cleanroom.settings --markdown | diff -u docs/reference/settings.md - \
	  || { echo "docs/reference/settings.md is out of date: make fix"; exit 1; }
	cd $(LAB) && $(LAB_ENV) jlpm lint:check && $(LAB_ENV) jlpm test
	scripts/check-policies.sh
	scripts/check-wheel.sh
	cmp -s src/cleanroom/tables/spec.py images/notebook/client/cleanroom/tablespec.py \
	  || { echo "images/notebook/client/cleanroom/tablespec.py differs from src/cleanroom/tables/spec.py: copy it (cp src/cleanroom/tables/spec.py images/notebook/client/cleanroom/tablespec.py)"; exit 1; }

fix:
	$(PY)/ruff check --fix $(PYTHON_DIRS)
	$(PY)/ruff format $(PYTHON_DIRS)
	cd $(LAB) && $(LAB_ENV) jlpm lint
	$(SRC) $(PY)/python -m cleanroom.settings --markdown > docs/reference/settings.md

# The unit tier with branch coverage of the package; fails under the floor in pyproject.toml.
# With it, the lab extension's server tests (inside the extension, as in its template).
coverage:
	$(SRC) $(PY)/pytest -p no:cacheprovider --durations=10 --cov --cov-report=term \
	  tests/unit $(LAB)/cleanroom_lab/tests

images:
	images/build.sh
