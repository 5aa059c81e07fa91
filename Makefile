# Two commands do all the set-up on a fresh Debian/Ubuntu machine (as root):
#   make demo   - watch a station read virtual cards end to end
#   make test   - lint, type-check and run the whole test suite on real pcscd + Mosquitto
VENV ?= .venv
PY   := $(VENV)/bin/python

.PHONY: demo test lint typecheck pytest bootstrap bench reliability clean

bootstrap:
	@scripts/bootstrap

# The web console stays up 5 minutes after the taps to look at the desk view (Ctrl-C ends it).
demo: bootstrap
	$(PY) -m station demo --console-hold 300

test: bootstrap lint typecheck pytest

lint:
	$(VENV)/bin/ruff check station provisioning tests scripts

typecheck:
	$(VENV)/bin/mypy

pytest:
	$(PY) -m pytest -q

bench: bootstrap
	$(PY) -m station bench all --json bench.json

# The full fault/fuzz campaign (tests/reliability with RELIABILITY_FULL=1) and its summary:
# runs, faults injected, records committed/delivered, lost, duplicates, crashes (all must be 0).
reliability: bootstrap
	$(PY) -m tests.reliability.campaign --json reliability.json

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache bench.json reliability.json
