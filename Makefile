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

.PHONY: demo test lint install clean docs-screenshots bench typecheck gui-libs

# System libraries of Qt's X11 platform plugin (the desktop viewer, `motionpredict gui`); a fresh
# Debian lacks several. `make` installs the missing ones with apt-get when it runs as root on a
# Debian-like system (GUI_LIBS_INSTALL=0 turns that off), and otherwise prints the command to run.
# It never fails: the command line, the tests and the offscreen screenshots do not need them.
GUI_DEBIAN_PACKAGES := libxcb-cursor0 libxcb-icccm4 libxcb-image0 libxcb-keysyms1 libxcb-randr0 \
	libxcb-render-util0 libxcb-shape0 libxcb-xinerama0 libxcb-xkb1 libxkbcommon-x11-0 libegl1 \
	libfontconfig1 libdbus-1-3
GUI_LIBS_INSTALL ?= 1

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip setuptools wheel

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet "$(TORCH_SPEC)"
	$(BIN)/python -m pip install --quiet "$(TORCH_SPEC)" -e ".[$(EXTRAS)]"
	touch $(STAMP)

install: $(STAMP) gui-libs

gui-libs:
	@command -v dpkg-query >/dev/null 2>&1 || exit 0; \
	missing=""; for p in $(GUI_DEBIAN_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	[ -z "$$missing" ] && exit 0; \
	if [ "$(GUI_LIBS_INSTALL)" = 1 ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "installing the desktop viewer's X11 libraries:$$missing"; \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$missing >/dev/null 2>&1 \
	  || { apt-get update -q >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$missing >/dev/null 2>&1; } \
	  || echo "motionpredict gui: could not install$$missing; run: sudo apt-get install$$missing (docs/install.md)"; \
	else \
	  echo "motionpredict gui (the desktop viewer) needs X11 libraries that are missing; run: sudo apt-get install$$missing (docs/install.md)"; \
	fi; exit 0

demo: $(STAMP) gui-libs
	$(BIN)/motionpredict demo --out $(DEMO_OUT)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/lint-imports

test: lint typecheck gui-libs
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
