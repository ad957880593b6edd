# ragqa: two commands do all the set-up. `make run` serves, `make test` tests.
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run test test-fast index eval eval-suites eval-scifact bench browser lint clean

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	@command -v $(PY) >/dev/null || { echo "ragqa needs Python 3.11 ($(PY) not found)"; exit 1; }
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# The CPU build of torch first: a bare `torch` would pull a multi-GB CUDA build.
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -c constraints.txt -e '.[dev]'
	# The ONNX embedder's files, exported once from the installed model's weights and verified
	# against torch (RAGQA_ONNX_CACHE, default .cache/onnx); `ragqa` would otherwise do it on first use.
	$(BIN)/ragqa export-onnx
	touch $(STAMP)

index: install
	$(BIN)/ragqa index

run: index
	$(BIN)/ragqa serve

# The browser test drives Debian's Chromium and checks the page with axe-core (npm, pinned in
# package-lock.json, into the gitignored node_modules/); where either cannot be installed, the
# browser test skips and says why.
browser:
	@command -v chromium >/dev/null || { (apt-get update -qq && apt-get install -y -qq chromium >/dev/null) || echo "chromium could not be installed: the browser test will skip"; }
	@test -f node_modules/axe-core/axe.min.js || { command -v npm >/dev/null && npm ci --no-audit --no-fund --silent; } || echo "axe-core could not be installed (npm ci): the browser test will skip"

test: install browser
	$(BIN)/python -m pytest

test-fast: install
	$(BIN)/python -m pytest -m "not slow"

eval: index
	$(BIN)/ragqa eval --suite eval/guidelines.jsonl --out eval/out --modes hybrid,bm25,dense --results eval/RESULTS.md

# The guideline benchmark (eval/suites/README.md): the corpus plus each suite's guideline (read
# from ../shared) indexed into indexes/suites when missing or stale, every suite run through every
# variant (held out, in sample, hand weights, naive top-2), its section of eval/RESULTS.md
# rewritten; then eval/guidelines.jsonl answered with weights fitted without it (held out).
eval-suites: index
	nice -n 10 $(BIN)/ragqa eval --suites 'eval/suites/*.jsonl' --results eval/RESULTS.md
	nice -n 10 $(BIN)/ragqa eval --suite eval/guidelines.jsonl --held-out --out eval/out/guidelines-held-out --results eval/RESULTS.md
	nice -n 10 $(BIN)/ragqa eval --suites 'eval/lay/*.jsonl' --name 'lay questions' --out eval/out/lay --variants 'engine (held out),engine (in sample),similarity only,naive top-2' --results eval/RESULTS.md
	nice -n 10 $(BIN)/ragqa eval --suites 'eval/scope/*.jsonl' --name 'scope questions' --out eval/out/scope --variants 'engine (held out),engine (in sample),similarity only,naive top-2' --results eval/RESULTS.md

# SciFact (../shared/datasets/scifact): converted into eval/out/scifact-data, indexed into
# indexes/scifact when missing or stale (embedding ~60,000 chunks and sentences takes tens of
# minutes on 2 cores, nice'd; later builds reuse the vectors), evaluated in three modes.
SCIFACT_DATA := eval/out/scifact-data
SCIFACT_INDEX := indexes/scifact
TIME := $(shell command -v /usr/bin/time >/dev/null && echo '/usr/bin/time -f "ragqa index: %e s wall, peak memory %M KB"')

eval-scifact: install
	$(BIN)/python eval/datasets/scifact.py --out $(SCIFACT_DATA)
	$(TIME) nice -n 10 $(BIN)/ragqa index --corpus $(SCIFACT_DATA)/corpus.jsonl --index-dir $(SCIFACT_INDEX) --bm25 bm25s
	$(BIN)/ragqa eval --suite $(SCIFACT_DATA)/suite.jsonl --name scifact --index-dir $(SCIFACT_INDEX) --modes hybrid,bm25,dense --published eval/datasets/scifact_published.json --results eval/RESULTS.md

bench: index
	$(BIN)/ragqa bench --results eval/RESULTS.md

lint: install
	$(BIN)/ruff check src tests eval

clean:
	rm -rf $(VENV) indexes/default indexes/.default.* .cache/onnx
