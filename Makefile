# ragqa: two commands do all the set-up. `make run` serves, `make test` tests.
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run test test-fast index eval bench browser lint clean

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	@command -v $(PY) >/dev/null || { echo "ragqa needs Python 3.11 ($(PY) not found)"; exit 1; }
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# The CPU build of torch first: a bare `torch` would pull a multi-GB CUDA build.
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -c constraints.txt -e '.[dev]'
	touch $(STAMP)

index: install
	$(BIN)/ragqa index

run: index
	$(BIN)/ragqa serve

# The browser test drives Debian's Chromium; install it where apt can, else that test skips with a reason.
browser:
	@command -v chromium >/dev/null || { (apt-get update -qq && apt-get install -y -qq chromium >/dev/null) || echo "chromium could not be installed: the browser test will skip"; }

test: install browser
	$(BIN)/python -m pytest

test-fast: install
	$(BIN)/python -m pytest -m "not slow"

eval: index
	$(BIN)/ragqa eval --suite eval/guidelines.jsonl --out eval/out --modes hybrid,bm25,dense --results eval/RESULTS.md

bench: index
	$(BIN)/ragqa bench --results eval/RESULTS.md

lint: install
	$(BIN)/ruff check src tests eval

clean:
	rm -rf $(VENV) indexes/default indexes/.default.*
