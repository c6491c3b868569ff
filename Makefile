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

.PHONY: demo test lint install clean docs-screenshots bench typecheck

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

test: lint typecheck
	QT_QPA_PLATFORM=offscreen TRITON_INTERPRET=1 $(BIN)/python -m pytest -q

# mypy cannot follow the editable install's package-dir mapping (registration/, kernels/ and gui/
# are motionpredict.registration, .kernels and .gui), so it checks a tree of symbolic links with
# the installed layout in build/typecheck: errors in those folders read motionpredict/<name>/...
TYPECHECK_TREE := build/typecheck
typecheck: $(STAMP)
	rm -rf $(TYPECHECK_TREE)/motionpredict && mkdir -p $(TYPECHECK_TREE)/motionpredict
	for e in $(CURDIR)/motionpredict/*; do ln -s "$$e" $(TYPECHECK_TREE)/motionpredict/; done
	for d in registration kernels gui; do ln -s $(CURDIR)/$$d $(TYPECHECK_TREE)/motionpredict/$$d; done
	cd $(TYPECHECK_TREE) && $(CURDIR)/$(BIN)/mypy --config-file $(CURDIR)/pyproject.toml -p motionpredict

bench: $(STAMP)
	for f in benchmarks/*.py; do $(BIN)/python $$f || exit 1; done

clean:
	rm -rf $(VENV) build *.egg-info $(DEMO_OUT)
