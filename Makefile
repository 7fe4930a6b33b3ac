# Everything the project needs is installed from requirements-lock.txt (hashes pinned) into .venv.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
UV := $(VENV)/bin/uv
STAMP := $(VENV)/.installed-$(shell cat requirements-lock.txt pyproject.toml | cksum | cut -d' ' -f1)
export DAGSTER_HOME := $(CURDIR)/warehouse/dagster_home

.PHONY: setup demo test test-scale dev bench bench-scale lock clean gallery

setup: $(STAMP)

$(STAMP): requirements-lock.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check uv==0.13.8
	$(UV) pip install -q --python $(PY) --require-hashes -r requirements-lock.txt
	$(UV) pip install -q --python $(PY) --no-deps -e .
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

demo: setup
	$(VENV)/bin/liqlevels demo

test: setup
	$(PY) -m pytest

# Only the scale-out tests (also part of `make test`): PostgreSQL and Redis from Debian packages, two Celery workers.
test-scale: setup
	$(PY) -m pytest tests/pipelines/test_scale.py tests/pipelines/test_lake.py

# dg warns when the project's .venv is not the active one: make runs it from that .venv, so say so.
dev: setup
	cd $(CURDIR) && VIRTUAL_ENV=$(CURDIR)/$(VENV) PATH=$(CURDIR)/$(VENV)/bin:$$PATH $(VENV)/bin/dg dev

bench: setup
	$(PY) bench/objective.py
	$(PY) bench/behavioral.py
	$(PY) bench/nightly.py
	$(PY) bench/leaderboard.py
	$(PY) bench/ingest.py
	$(PY) bench/nightly_many.py

# Workers against wall time on a lake (multiprocess and Celery; starts PostgreSQL and Redis itself).
bench-scale: setup
	$(PY) bench/scale.py

# The README's pictures and UI screenshots (docs/gallery/), after `make demo`.
gallery: setup
	scripts/gallery.sh

# Regenerate the lock after editing pyproject.toml dependencies.
lock:
	$(UV) pip compile pyproject.toml --extra test --python-version 3.11 --generate-hashes -o requirements-lock.txt

clean:
	rm -rf $(VENV) warehouse/liqlevels.duckdb* exports
