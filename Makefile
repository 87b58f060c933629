# Stellwerk — the two commands of the README, and a few helpers.
# Everything installs what it needs: uv from PyPI, then the locked environment.
SHELL := /bin/bash
PYTHON ?= python3
UV := $(PYTHON) -m uv

.PHONY: system-deps bootstrap native demo test test-quick lint bench chaos clean

# Debian packages the KIM family needs: tesseract (German + orientation data) for reading
# scanned Muster 86 forms, dovecot's POP3 server for the ingest tests, Prometheus (and
# promtool) for the metrics integration test and the alert rule tests.
DEBIAN_PACKAGES := tesseract-ocr tesseract-ocr-deu tesseract-ocr-osd dovecot-pop3d prometheus

bootstrap: system-deps
	@$(PYTHON) -m uv --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet "uv==0.13.9"
	@$(UV) sync --frozen --quiet
	@# The compiled core (mypyc, build/native): built when missing or stale; without a C
	@# compiler the codec runs in pure Python, so a failed build does not stop the work.
	@$(UV) run --frozen python deploy/build_native.py || true

# Rebuild the compiled core even if it matches the sources.
native: bootstrap
	@$(UV) run --frozen python deploy/build_native.py --force

system-deps:
	@dpkg -s $(DEBIAN_PACKAGES) >/dev/null 2>&1 || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $(DEBIAN_PACKAGES) >/dev/null; }

# Main job: embedded broker, seed examples and faulty variants, router, table of outputs.
demo: bootstrap
	@$(UV) run --frozen stellwerk demo

# Whole suite: lint, types, every test (slow ones included), with the compiled core; then
# the codec's own tests, the pipeline's and the doctests once more in pure Python.
test: bootstrap lint
	@$(UV) run --frozen pytest -q
	@STELLWERK_PURE=1 $(UV) run --frozen pytest -q -m "not slow" tests/codecs/sgb301 tests/test_doctests.py \
	  tests/test_native.py tests/router/test_pipeline.py

# Quick subset while working.
test-quick: bootstrap
	@$(UV) run --frozen pytest -q -m "not slow" -x

# The chaos test with the issue's full profile (10,000 messages, 5 kills, 3 cuts).
chaos: bootstrap
	@CHAOS_PROFILE=full $(UV) run --frozen pytest -q -s tests/router/test_chaos.py::test_chaos

lint: bootstrap
	@$(UV) run --frozen ruff check codecs router tests benchmarks deploy
	@$(UV) run --frozen mypy codecs/sgb301 codecs/kimmail router

bench: bootstrap
	@$(UV) run --frozen python benchmarks/codec_bench.py

clean:
	rm -rf build .pytest_cache .mypy_cache .ruff_cache
