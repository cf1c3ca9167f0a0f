# `make demo` and `make test` create .venv and install requirements.txt and the package (editable) into it when missing.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test test-slow lint bench chromium java check-report clean

$(STAMP): requirements.txt pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt
	$(PY) -m pip install -q --no-deps -e .
	touch $(STAMP)

# `make test` stays under 10 minutes on 2 cores; the learning tests (minutes each) and the multi-process, resume and
# replay equivalence runs are `slow` (CI runs both targets).
test: $(STAMP)
	$(PY) -m pytest -q -m "not slow" --durations=10 tests

# The package's layers (import-linter contracts in pyproject.toml) and the linter.
lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports

test-slow: $(STAMP)
	$(PY) -m pytest -q -m slow tests

demo: $(STAMP)
	PATH="$(abspath $(VENV))/bin:$$PATH" bash scripts/demo.sh

# The HTML report's render check needs Debian's headless Chromium and a Japanese font (tests skip without them).
chromium:
	test -x /usr/bin/chromium || (apt-get update && apt-get install -y chromium fonts-ipafont-gothic)

# lmqg's METEOR is the Java METEOR 1.5 jar (shipped by pycocoevalcap): score.py --lmqg_file needs a JRE for it.
java:
	command -v java >/dev/null || (apt-get update && apt-get install -y default-jre-headless)

check-report: $(STAMP) chromium
	$(PY) -m pytest -q tests/evaluation/test_compare_report.py

bench: $(STAMP)
	for b in bench/*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

clean:
	rm -rf demo_out .pytest_cache
