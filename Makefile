# Targets named in the README. Everything installs into ./.venv.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: install install-demo bytecode demo example test lint bench bench-aws clean

# `make install` (and `make test`) installs the test extras and the example plugin
# (examples/plugin-wandb, found through its entry points); `make demo` only what the demo needs.
install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml setup.py collectors/git/_astwalk.c examples/plugin-wandb/pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	$(BIN)/python -m pip install -q -e examples/plugin-wandb
	$(MAKE) --no-print-directory bytecode
	touch $@ $(VENV)/.installed-demo

install-demo: $(VENV)/.installed-demo

$(VENV)/.installed-demo: pyproject.toml setup.py collectors/git/_astwalk.c
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "installing mlaudit and the demo's dependencies into $(VENV) (about a minute the first time)"
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[demo]'
	$(MAKE) --no-print-directory bytecode
	touch $@

# The main job on an embedded default: a sandbox organisation (git, MLflow, GX, AWS in moto,
# a survey) built on local disk and audited end to end; the report lands in ./mlaudit-demo/.
demo: install-demo
	$(BIN)/mlaudit demo

# A git-only scan of the example organisation of examples/example_org.py.
example: install-demo
	rm -rf example-org
	$(BIN)/python examples/example_org.py example-org
	$(BIN)/mlaudit scan example-org --out mlaudit-report

# An editable install leaves the package's own modules uncompiled, and where the environment sets
# PYTHONDONTWRITEBYTECODE every run compiles ~60 of them again (0.1 s of each start-up, in every
# worker too): compile them once, as pip does for a regular install. Stale files are recompiled
# in memory by Python itself, so an edit never runs old code.
bytecode:
	$(BIN)/python -m compileall -q auditor collectors checks reports

test: install
	$(BIN)/python -m pytest -q -n 2 -p no:cacheprovider

lint: install
	$(BIN)/ruff check .

bench: install
	$(BIN)/python bench/git_scan.py
	$(BIN)/python bench/gx_scan.py
	$(BIN)/python bench/mlflow_scan.py
	$(BIN)/python bench/report_render.py

# populates moto with 2 accounts x 4 regions of resources first (takes minutes)
bench-aws: install
	$(BIN)/python bench/aws_scan.py

clean:
	rm -rf example-org mlaudit-report mlaudit-demo .pytest_cache build *.egg-info
	find collectors -name "*.so" -delete
