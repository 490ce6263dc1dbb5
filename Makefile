# make run: the site on http://127.0.0.1:5000 (SQLite, mail to the log and instance/mail/).
# make test: the whole suite, on SQLite and PostgreSQL, with a real SMTP server and Chromium.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
FLASK := $(VENV)/bin/flask --app app
# pytest-xdist processes for `make test`, at most 4 (each has its own PostgreSQL database, SQLite files,
# SMTP server and browser); TEST_WORKERS=0 runs the suite in one process.
TEST_WORKERS ?= auto
LINT_PATHS := petitions tests bench tools app.py gunicorn.conf.py

.PHONY: run worker test lint bench chromium world-map clean translations

$(VENV)/.run-installed: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $@

$(VENV)/.dev-installed: $(VENV)/.run-installed requirements-dev.txt
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

node_modules/axe-core/axe.min.js: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

# The map's country shapes, from the world-atlas package (Natural Earth) in package.json; the result is committed.
world-map: $(VENV)/.run-installed node_modules/axe-core/axe.min.js
	$(PY) tools/worldmap.py node_modules/world-atlas > petitions/web/press/world.json.new
	mv petitions/web/press/world.json.new petitions/web/press/world.json

# Debian's Chromium drives the browser tests (Playwright's own download is not reachable).
chromium:
	@if ! command -v chromium >/dev/null; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else \
	    echo "Chromium is missing: run 'sudo apt-get install -y chromium' (the browser tests need it)"; exit 1; \
	  fi; \
	fi

run: $(VENV)/.run-installed
	$(FLASK) db upgrade
	$(FLASK) dev

worker: $(VENV)/.run-installed
	$(FLASK) mail-worker

test: $(VENV)/.dev-installed node_modules/axe-core/axe.min.js chromium
	$(PY) -m pytest -n $(TEST_WORKERS) --maxprocesses=4

# ruff (rules, then layout, at 120 columns) over the Python we write; mypy over the package (pyproject.toml).
lint: $(VENV)/.dev-installed
	$(VENV)/bin/ruff check $(LINT_PATHS)
	$(VENV)/bin/ruff format --check $(LINT_PATHS)
	$(VENV)/bin/mypy

# The message catalogues (petitions/translations/): extract the marked strings into messages.pot, merge
# them into each language's messages.po (new ones empty, changed ones fuzzy for a translator to check),
# and compile the .mo files the site reads. The .mo files are committed, so that a fresh clone, a plain
# `pytest` and `gunicorn app:app` all have them; tests/infra/test_catalogues.py fails when one is stale.
# A new language: $(VENV)/bin/pybabel init -i petitions/translations/messages.pot -d petitions/translations -l xx
TRANSLATIONS := petitions/translations
translations: $(VENV)/.run-installed
	$(VENV)/bin/pybabel extract -F babel.cfg -k _l -k lazy_text -k mail_text -c TRANSLATORS: \
	  --add-location=file --sort-by-file --width=100 --project=petitions --version=1 \
	  -o $(TRANSLATIONS)/messages.pot .
	$(VENV)/bin/pybabel update -i $(TRANSLATIONS)/messages.pot -d $(TRANSLATIONS) --width=100 --ignore-obsolete
	$(VENV)/bin/pybabel compile -d $(TRANSLATIONS) --statistics

# Every figure is a ratio measured side by side in one run; the tables also go to docs/PERFORMANCE.md.
bench: $(VENV)/.dev-installed
	@command -v wrk >/dev/null || { [ "$$(id -u)" = 0 ] && apt-get update -qq && apt-get install -y -qq wrk >/dev/null; } || { echo "wrk is missing: apt-get install -y wrk"; exit 1; }
	@set -o pipefail; { \
	  echo "# Performance"; echo; \
	  echo "Written by \`make bench\` on $$(date -u +%F) on $$(nproc) cores, $$(free -g | awk '/Mem/{print $$2}') GiB, $$(uname -sm), shared by server, database and load."; \
	  echo "See docs/SCALING.md for what the figures mean for a deployment."; echo; echo '```'; \
	  $(PY) bench/run.py && echo && $(PY) bench/press.py && echo && $(PY) bench/load.py && echo && $(PY) bench/export.py \
	    && echo && $(PY) bench/mail.py && echo && $(PY) bench/caches.py && echo && $(PY) bench/sequence.py && echo && $(PY) bench/tlog.py \
	    && echo && $(PY) bench/history.py && echo && $(PY) bench/map.py && echo && $(PY) bench/surge.py; \
	  status=$$?; echo '```'; exit $$status; } 2> >(grep -v 'INFO ' >&2) | tee docs/PERFORMANCE.md

clean:
	rm -rf $(VENV) node_modules .pytest_cache .mypy_cache .ruff_cache
