# mcsec — see README.md.  `make demo` and `make test` work on a fresh Debian with Python 3.11.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: demo test bench fuzz venv tshark clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

# tshark is the oracle of the differential tests: install it when missing and we are root.
tshark:
	@if ! command -v tshark >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing tshark with apt-get"; \
	    DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq tshark >/dev/null; \
	  else \
	    echo "tshark is missing and cannot be installed here (not root): the tshark tests will fail" >&2; \
	  fi; \
	fi

demo: venv
	$(BIN)/mcsec decode pcaps/messages/mikey-sakke-gmk.sdp
	$(BIN)/mcsec decode pcaps/messages/mikey-sakke-gmk.sdp --format json | head -40

test: venv tshark
	$(BIN)/python -m pytest -q

bench: venv tshark
	$(BIN)/python benchmarks/bench_codec.py

fuzz: venv
	$(BIN)/python -m pytest -q -m slow -p no:cacheprovider

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis build *.egg-info
