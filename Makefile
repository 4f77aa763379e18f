# Cadencia: `make test` installs everything and runs every check; `make demo`
# runs a whole daily run on embedded defaults. Installs come from the lock
# files in requirements/ (hashes checked); `make lock` refreshes them.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
LOCK := requirements/dev.txt

.PHONY: test test-fast demo install lint typecheck imports audit pytest lock clean

$(STAMP): pyproject.toml $(LOCK)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q --require-hashes -r $(LOCK)
	$(BIN)/pip install -q --no-deps -e .
	touch $(STAMP)

# The console's browser libraries (SIP.js for the softphone, docs/softphone.md),
# exactly as package-lock.json pins them; no install scripts run. Debian's
# nodejs and npm are installed when missing (as root), else the step says so.
NPM_STAMP := node_modules/.cadencia-installed
$(NPM_STAMP): package.json package-lock.json
	@command -v npm >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null \
		&& apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q nodejs npm; } \
		|| { echo "npm is missing: install Node.js and npm (Debian: apt-get install nodejs npm)"; exit 1; }
	npm ci --ignore-scripts --no-audit --no-fund
	touch $(NPM_STAMP)

install: $(STAMP) $(NPM_STAMP)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

imports: $(STAMP)
	$(BIN)/lint-imports

audit: $(STAMP)
	$(BIN)/python scripts/audit_dependencies.py

pytest: $(STAMP) $(NPM_STAMP)
	$(BIN)/pytest $(PYTEST_ARGS)

test: lint typecheck imports audit pytest

# The tests that need neither root nor Asterisk (PostgreSQL and Redis still).
test-fast: lint typecheck imports $(NPM_STAMP)
	$(BIN)/pytest -m "not asterisk" $(PYTEST_ARGS)

demo: $(STAMP)
	$(BIN)/python -m sandbox.demo

# Re-resolve the pinned set from pyproject.toml (newest releases its ranges allow).
lock: $(STAMP)
	$(BIN)/uv pip compile pyproject.toml --universal --python-version 3.11 \
		--generate-hashes --upgrade -q -o requirements/runtime.txt
	$(BIN)/uv pip compile pyproject.toml --extra dev --universal --python-version 3.11 \
		--generate-hashes --upgrade -q -o requirements/dev.txt

clean:
	rm -rf $(VENV) build *.egg-info .mypy_cache .ruff_cache .pytest_cache out node_modules
