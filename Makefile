# Stellwerk — the two commands of the README, and a few helpers.
# Everything installs what it needs: uv from PyPI, then the locked environment.
SHELL := /bin/bash
PYTHON ?= python3
UV := $(PYTHON) -m uv
EXAMPLES := build/examples

.PHONY: bootstrap demo test test-quick lint bench clean

bootstrap:
	@$(PYTHON) -m uv --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet "uv==0.13.9"
	@$(UV) sync --frozen --quiet

# Main job (until the router lands): validate the published DGUV examples and print the
# replies a data acceptance point sends. The two published RECH examples are rejected on
# purpose (their UNT counts are wrong as published), so exit code 1 is the expected result.
demo: bootstrap
	@$(UV) run --frozen stellwerk examples --out $(EXAMPLES)
	@$(UV) run --frozen stellwerk validate $(EXAMPLES)/*.edi; rc=$$?; \
	  $(UV) run --frozen stellwerk reply $(EXAMPLES)/*.edi >/dev/null; \
	  if [ $$rc -le 1 ]; then echo "demo: ok (exit $$rc: published RECH examples rejected as expected)"; else exit $$rc; fi

# Whole suite: lint, types, every test (slow ones included).
test: bootstrap lint
	@$(UV) run --frozen pytest -q

# Quick subset while working.
test-quick: bootstrap
	@$(UV) run --frozen pytest -q -m "not slow" -x

lint: bootstrap
	@$(UV) run --frozen ruff check codecs router tests benchmarks
	@$(UV) run --frozen mypy codecs/sgb301 router

bench: bootstrap
	@$(UV) run --frozen python benchmarks/codec_bench.py

clean:
	rm -rf build .pytest_cache .mypy_cache .ruff_cache
