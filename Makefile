# `make demo` and `make test` set up what they need; `make setup` alone installs everything (idempotent, seconds when nothing changed).
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
PYTHON ?= python3
LOCK_HASH := $(shell cat package-lock.json requirements.txt requirements-embedded.txt py/pyproject.toml | sha256sum | cut -c1-16)
STAMP := $(VENV)/.setup-$(LOCK_HASH)
CONFIG ?= configs/default.yaml
MODEL ?= llama2-7b

.PHONY: setup serving build lock lint chromium tmux strace test test-ts test-py typecheck demo tensorboard bench repro rehearsal-models reliability vllm

# llama-cpp-python (the llama_cpp backend, and the real server of the tests) ships only a source distribution, which
# takes a first setup on a machine 4 minutes on 2 idle cores to compile (35 on 2 busy ones: README "Serving", BENCHMARKS.md). So `setup`,
# all that `make demo` needs, leaves it out (stage 1's `backend: auto` then generates on the worker), and `serving`
# compiles it into this wheel cache outside the repository, once per machine; `make test` needs it, and every later
# setup, a fresh clone included, installs that wheel in seconds.
LLAMA_CPP_VERSION := $(shell sed -n 's/^llama-cpp-python==//p' requirements.txt)
WHEEL_CACHE ?= $(HOME)/.cache/refine-af/wheels
# Not -march=native: a native build of 0.3.36 here used AMX/AVX-512 instructions this machine's CPU advertises but the
# sandbox refuses (SIGILL at the first decode). --no-cache-dir: pip's own wheel cache keys on the source, not these flags.
LLAMA_CPP_CMAKE_ARGS := -DGGML_NATIVE=OFF
SERVING_STAMP := $(VENV)/.serving-$(LLAMA_CPP_VERSION)

setup: $(STAMP) build

# Everything of requirements.txt but llama-cpp-python (its dependencies included: `serving` adds only the package).
$(STAMP):
	npm ci --no-audit --no-fund --loglevel=error
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	grep -v '^llama-cpp-python==' requirements.txt > $(VENV)/requirements-core.txt
	$(PY) -m pip install --quiet --disable-pip-version-check -r $(VENV)/requirements-core.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -r requirements-embedded.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps --editable py
	# A machine that compiled llama-cpp-python before gets it now, in seconds.
	! ls $(WHEEL_CACHE)/llama_cpp_python-$(LLAMA_CPP_VERSION)-*.whl >/dev/null 2>&1 || \
	  $(PY) -m pip install --quiet --disable-pip-version-check --no-deps --find-links $(WHEEL_CACHE) llama-cpp-python==$(LLAMA_CPP_VERSION)
	rm -f $(VENV)/.setup-*
	touch $@

serving: $(SERVING_STAMP)
$(SERVING_STAMP): | $(STAMP)
	ls $(WHEEL_CACHE)/llama_cpp_python-$(LLAMA_CPP_VERSION)-*.whl >/dev/null 2>&1 || \
	  CMAKE_ARGS="$(LLAMA_CPP_CMAKE_ARGS)" $(PY) -m pip wheel --quiet --disable-pip-version-check --no-cache-dir --no-deps \
	    --no-binary llama-cpp-python llama-cpp-python==$(LLAMA_CPP_VERSION) -w $(WHEEL_CACHE)
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps --find-links $(WHEEL_CACHE) llama-cpp-python==$(LLAMA_CPP_VERSION)
	rm -f $(VENV)/.serving-*
	touch $@

# The compiled package (dist/: JavaScript, .d.ts and source maps) that the `refine-af` command and the SDK import;
# rebuilt when a source or compiler setting changes (tsc's incremental build skips what is up to date).
build: dist/.tsbuildinfo
dist/.tsbuildinfo: $(shell find ts -name '*.ts') tsconfig.json tsconfig.build.json | $(STAMP)
	npx tsc -p tsconfig.build.json
	touch $@

# The pinned Python environment (requirements.txt) from the direct dependencies in py/pyproject.toml, with the test and
# dev extras. Keeps every pin that still fits; `make lock UPGRADE=1` moves every package to its newest allowed release.
# pip resolves torch to the CPU build on this machine's disk (2.13.0+cpu); the lock names the release, so that a CUDA
# machine installs its CUDA build from the same line.
lock: $(STAMP) serving
	CUSTOM_COMPILE_COMMAND='make lock' $(PY) -m piptools compile --quiet --extra test --extra dev --extra serving --strip-extras \
	  --find-links $(WHEEL_CACHE) --no-emit-index-url --no-emit-find-links $(if $(UPGRADE),--upgrade) --output-file requirements.txt py/pyproject.toml
	sed -i -E 's/^(torch==[^+ ]+)\+cpu$$/\1/' requirements.txt

# Biome (TypeScript: format, lint, import order) and ruff (Python: lint and format), both configured for the whole tree.
lint: setup
	npx biome check .
	$(PY) -m ruff check --config py/pyproject.toml py fixtures tests bench
	$(PY) -m ruff format --check --config py/pyproject.toml py fixtures tests bench

# Debian's chromium, for the rating app's end-to-end test in a real browser (tests/ts/human-eval-browser.test.ts).
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
chromium:
	@command -v chromium >/dev/null || { $(SUDO) apt-get update && $(SUDO) apt-get install -y --no-install-recommends chromium; }

# Debian's tmux, the pseudo-terminal that shows a command's screen as a person sees it (tests/ts/terminal-output.test.ts).
tmux:
	@command -v tmux >/dev/null || { $(SUDO) apt-get update && $(SUDO) apt-get install -y --no-install-recommends tmux; }

# Debian's strace, which traces each rank's file writes in the test of SFT under a launcher (tests/py/test_sft_launcher.py).
strace:
	@command -v strace >/dev/null || { $(SUDO) apt-get update && $(SUDO) apt-get install -y --no-install-recommends strace; }

typecheck: setup
	npx tsc --noEmit

test-ts: setup serving chromium tmux
	npx vitest run

test-py: setup strace
	$(PY) -m pytest -q tests/py

test: lint typecheck test-ts test-py

# The whole pipeline on the embedded default; run again after an interruption and it continues (completed stages are
# skipped). It ends by printing where everything is, <run.dir>/report/report.html first.
demo: setup
	npx refine-af doctor --config $(CONFIG)
	npx refine-af run --config $(CONFIG) --resume
	npx refine-af export --config $(CONFIG) --force

# TensorBoard over a run's PPO and SFT curves (RUN=runs/<name>; the demo's by default), from the project's environment.
RUN ?= runs/default
tensorboard:
	.venv/bin/tensorboard --logdir $(RUN)/tensorboard

bench: setup
	npx tsx bench/bridge.bench.ts

# One backbone of the paper (llama2-7b | llama2-13b | mistral-7b): REFINE-AF, then its Self-Instruct baseline, each with its
# Table II subsets (sft.extra_subsets), then `repro`: Super-NI of every model, the tables, the dataset analysis, the rating
# database and <run.dir>/repro/report.{html,md}. The order matters: the baseline copies REFINE-AF's stage-1 instructions
# (pipeline.instructions_from), so the two arms differ in stage 2 only. Needs a GPU and hub access; README "Reproducing the
# paper" says what and how long. MODEL=rehearsal runs the same on tiny local models (configs/rehearsal*.yaml), made first,
# in minutes on a CPU.
REHEARSAL_MODELS := runs/rehearsal-models
repro: setup $(if $(filter rehearsal,$(MODEL)),rehearsal-models)
	test -f configs/$(MODEL).yaml || { echo "no configs/$(MODEL).yaml; MODEL is one of: llama2-7b llama2-13b mistral-7b qwen3-1.7b rehearsal" >&2; exit 2; }
	npx refine-af doctor --config configs/$(MODEL).yaml
	npx refine-af run --config configs/$(MODEL).yaml --resume
	npx refine-af run --config configs/$(MODEL)-self-instruct.yaml --resume
	npx refine-af repro --config configs/$(MODEL).yaml --baseline configs/$(MODEL)-self-instruct.yaml --resume
	npx refine-af export --config configs/$(MODEL).yaml --force
	npx refine-af export --config configs/$(MODEL)-self-instruct.yaml --force

# vLLM for GPU machines (backend vllm), in its own environment: it pins its own torch. Never needed on a CPU, and never
# run here (no GPU): README "Serving" says how a lab points server.vllm.command at .venv-vllm/bin/vllm.
VLLM_VERSION := 0.33.0
vllm:
	test -x .venv-vllm/bin/python || $(PYTHON) -m venv .venv-vllm
	.venv-vllm/bin/python -m pip install --quiet --disable-pip-version-check vllm==$(VLLM_VERSION)

# The tiny models the rehearsal configs name; does nothing when they are already made with the same spec.
rehearsal-models: setup
	$(PY) fixtures/rehearsal_models.py $(REHEARSAL_MODELS)

# Crash harness (a real run SIGKILLed at KILLS seeded points per stage, resumed, compared with an uninterrupted run) and
# the fault tests; writes RELIABILITY.md. About 20 minutes on 2 CPU cores.
KILLS ?= 6
SEED ?= 2026
reliability: setup
	npx tsx tests/reliability/report.ts --seed $(SEED) --per-stage $(KILLS) --out RELIABILITY.md
