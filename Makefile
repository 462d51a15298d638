# The two front-door commands: `make run` and `make test`.
# The newest Python from 3.13 down to 3.11 that runs here. Each candidate is run, not only found:
# a pyenv shim exists for every installed version but fails for one that is not selected.
PYTHON ?= $(shell for p in python3.13 python3.12 python3.11; do \
	"$$p" -c 'import sys' >/dev/null 2>&1 && { command -v "$$p"; break; }; done)
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Debian packages the project needs: CJK fonts (sans for posters, serif for letters), QR and PDF tools for
# honest tests, Chromium for the console's browser tests.
SYSTEM_PACKAGES := fonts-wqy-microhei fonts-arphic-uming zbar-tools poppler-utils chromium chromium-driver

.PHONY: run test install system-packages bench migration seed demo-week python miniprogram-test

run: install
	$(BIN)/python -m wagedispute.dev.launcher

# Which Python a new .venv would be built with.
python:
	@echo "$(PYTHON)"

# The demo district, and a week of demo activity (make run does both on first start).
seed: install
	$(BIN)/flask --app wsgi db upgrade
	$(BIN)/flask --app wsgi seed-demo

demo-week: seed
	$(BIN)/flask --app wsgi demo-week

test: install
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/python -m pytest
	$(MAKE) miniprogram-test

# The mini-program's page-by-page journeys against a real backend (Node.js from the machine;
# the backend runs on this venv's Python, PostgreSQL and Redis as for the suite).
miniprogram-test: install
	cd miniprogram && npm ci --no-audit --no-fund && \
	  WAGEDISPUTE_PYTHON=$(abspath $(BIN))/python npx jest

bench: install
	$(BIN)/python -m pytest tests/bench -m bench -s -p no:cacheprovider

install: system-packages $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || test -n "$(PYTHON)" || \
	  { echo "make: Python 3.11, 3.12 or 3.13 is needed (python3.13/3.12/3.11 on PATH)" >&2; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

system-packages:
	@bash .ci/system-packages $(SYSTEM_PACKAGES)

# Regenerate the initial migration from the models (allowed until the first production release).
migration: install
	rm -f migrations/versions/*.py
	tmp=$$(mktemp -d) && WAGEDISPUTE_DATABASE_URL=sqlite:///$$tmp/m.sqlite3 WAGEDISPUTE_SECRET_KEY=x \
	  $(BIN)/flask --app wsgi db migrate -m "initial schema" --rev-id 0001 && rm -rf $$tmp
	sed -i 's/astext_type=Text()/astext_type=sa.Text()/g' migrations/versions/*.py
