# motionpredict: the two commands a new user needs are `make demo` and `make test`.
# Both create .venv when needed and install what they need. Torch is pinned through TORCH_SPEC so
# that a CPU-only machine never downloads CUDA wheels; on a GPU machine run for example
#   make test TORCH_SPEC='torch>=2.4' EXTRAS=dev,cluster,gpu
PYTHON ?= python3
VENV ?= .venv
TORCH_SPEC ?= torch==2.13.0
EXTRAS ?= dev,cluster,gpu
BIN := $(VENV)/bin
STAMP := $(VENV)/.motionpredict-installed
DEMO_OUT ?= demo-output

.PHONY: demo test lint install clean docs-screenshots bench

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip setuptools wheel

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet "$(TORCH_SPEC)"
	$(BIN)/python -m pip install --quiet "$(TORCH_SPEC)" -e ".[$(EXTRAS)]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/motionpredict demo --out $(DEMO_OUT)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/lint-imports

test: lint
	QT_QPA_PLATFORM=offscreen TRITON_INTERPRET=1 $(BIN)/python -m pytest -q

bench: $(STAMP)
	for f in benchmarks/*.py; do $(BIN)/python $$f || exit 1; done

clean:
	rm -rf $(VENV) build *.egg-info $(DEMO_OUT)
