# NeuroEdge: two commands set everything up on a fresh machine.
#   make demo   the main job on the emulator
#   make test   the test suite
# Both create .venv with the pinned dependencies, fetch the MicroPython headers
# and build the x64 edgedl.mpy; later runs reuse what is there.

PYTHON ?= python3
VENV := .venv
VPY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
NEUROEDGE := $(VENV)/bin/neuroedge
PYTEST_ARGS ?=

.PHONY: all venv build demo test armv7emsp clean distclean

all: build

$(STAMP): requirements.txt pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 10), "NeuroEdge needs Python >= 3.10"'
	test -x $(VPY) || $(PYTHON) -m venv $(VENV)
	$(VPY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	$(VPY) -m pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $@

venv: $(STAMP)

# make decides inside device/native whether anything needs recompiling.
build: $(STAMP)
	$(NEUROEDGE) build --arch x64

demo: build
	$(NEUROEDGE) demo

test: build
	$(VPY) -m pytest $(PYTEST_ARGS)

# Cross-build for Cortex-M4F (needs gcc-arm-none-eabi): proves the C core is portable MCU C.
armv7emsp: $(STAMP)
	$(NEUROEDGE) build --arch armv7emsp

clean:
	rm -rf build/obj build/*_*.*

distclean:
	rm -rf build $(VENV)
