# `make demo` and `make test` work on a fresh machine with Python 3.11+, git and make:
# each creates .venv when needed and installs the project with its dev tools into it.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
SANDBOX_STAMP := $(VENV)/.sandbox-installed
PIP := $(PY) -m pip install --quiet --disable-pip-version-check

.PHONY: install browser demo test lint typecheck unit bench bench-drift clean

$(PY):
	$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is needed (set PYTHON=python3.11)")'
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(PY)
	$(PIP) -e '.[dev]'
	touch $(STAMP) $(SANDBOX_STAMP)

# the demo needs only the product and its sandbox's emulators, not the dev tools
$(SANDBOX_STAMP): pyproject.toml | $(PY)
	$(PIP) -e '.[sandbox]'
	touch $(SANDBOX_STAMP)

install: $(STAMP)

# the whole migration of the built-in example (the seed's cluster) in a temporary sandbox
demo: $(SANDBOX_STAMP)
	$(PY) -m flows.migrate --slice all --sandbox --yes

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: $(STAMP)
	$(VENV)/bin/mypy

# the browser tests drive Debian's chromium through the Prefect UI; as root, install it if missing
browser:
	@if [ ! -x /usr/bin/chromium ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	fi
	@[ -x /usr/bin/chromium ] || echo "chromium is not installed: the browser tests will be skipped"

unit: $(STAMP) browser
	$(VENV)/bin/pytest

test: lint typecheck unit

bench: $(STAMP)
	$(PY) -m bench.run

# drift of 200 migrated slices in the sandbox, 50 ms per emulator call: concurrent vs one by one
bench-drift: $(STAMP)
	$(PY) -m bench.drift

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache bench/.work .sandbox
