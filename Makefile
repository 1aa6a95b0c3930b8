# mcsec — see README.md.  `make demo` and `make test` work on a fresh Debian with Python 3.11.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: demo test bench fuzz venv tshark wireshark-4.4 clean readme

$(STAMP): pyproject.toml
	@$(PYTHON) -m venv $(VENV) 2>/dev/null || { \
	  rm -rf $(VENV); \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "python3 -m venv failed: installing python3-venv with apt-get"; \
	    DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null && \
	    $(PYTHON) -m venv $(VENV); \
	  else echo "python3 -m venv failed: install the python3-venv package" >&2; exit 1; fi; }
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev,dask]'
	touch $(STAMP)

venv: $(STAMP)

# tshark is the oracle of the differential tests (and lua5.4 checks the Wireshark plugin under
# Lua 5.4; tcpdump is the second capture tool of the live-capture tests, dumpcap comes with
# tshark): install them when missing and we are root.
tshark:
	@missing=""; command -v tshark >/dev/null 2>&1 || missing="tshark"; \
	command -v lua5.4 >/dev/null 2>&1 || missing="$$missing lua5.4"; \
	command -v tcpdump >/dev/null 2>&1 || missing="$$missing tcpdump"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing$$missing with apt-get"; \
	    DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else \
	    echo "missing and cannot be installed here (not root):$$missing; those tests will fail" >&2; \
	  fi; \
	fi

# Wireshark 4.4 (Lua 5.4) for the plugin's compatibility tests
# (tests/interop/wireshark/test_wireshark_44.py): Debian has only 4.0, so a minimal Debian
# trixie tree with its tshark is made once in $(WS44) (root,
# debootstrap; about 30 s and 250 MB) and tshark runs there through chroot.
WS44 := .cache/wireshark-4.4
wireshark-4.4:
	@if [ ! -x $(WS44)/usr/bin/tshark ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    command -v debootstrap >/dev/null 2>&1 || { DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null; }; \
	    echo "making $(WS44) (Debian trixie with tshark 4.4) with debootstrap"; \
	    rm -rf $(WS44) && mkdir -p .cache && \
	    debootstrap --variant=minbase --include=tshark trixie $(WS44) \
	      > .cache/debootstrap.log 2>&1 || { tail -5 .cache/debootstrap.log >&2; rm -rf $(WS44); \
	      echo "debootstrap failed; the Wireshark 4.4 tests will fail" >&2; }; \
	  else \
	    echo "no $(WS44) and cannot make it here (not root); the Wireshark 4.4 tests will fail" >&2; \
	  fi; \
	fi

demo: venv
	$(BIN)/mcsec dissect pcaps/private-call.pcapng --keys pcaps/keyring.toml --keys pcaps/smime-keys.pem --stats
	$(BIN)/mcsec dissect pcaps/psk-smime.pcapng --keys pcaps/keyring.toml
	$(BIN)/mcsec decode pcaps/messages/mikey-sakke-gmk.sdp --keys pcaps/messages/bob.keyring.toml

test: venv tshark wireshark-4.4
	$(BIN)/python -m pytest -q

bench: venv tshark
	$(BIN)/python benchmarks/bench_codec.py
	$(BIN)/python benchmarks/bench_crypto.py
	$(BIN)/python benchmarks/bench_cms.py
	$(BIN)/python benchmarks/bench_capture.py
	$(BIN)/python benchmarks/bench_dissect.py
	$(BIN)/python benchmarks/bench_display_filter.py
	$(BIN)/python benchmarks/bench_srtp.py
	@# issue 17: the three capture shapes against tshark's own MIKEY dissector, ratios and peak
	@# RSS (BENCH_PACKETS a shape; BENCH_LARGE=1 adds mcsec's peak RSS on 1,000,000 packets);
	@# reports in benchmarks/results/
	$(BIN)/python benchmarks/bench_vs_tshark.py --packets $(or $(BENCH_PACKETS),100000) \
		--no-plugin $(if $(BENCH_LARGE),--large)
	@# the same with the mcsec Lua plugin in tshark (it then decodes MIKEY-SAKKE as mcsec does)
	$(BIN)/python benchmarks/bench_vs_tshark.py --packets $(or $(BENCH_PLUGIN_PACKETS),20000)
	@# issue 19: BENCH_DASK=1 adds the ring buffer of 20 x 100,000 packets, sequential against
	@# --engine dask on 2 local workers (docs/SCALE.md; ~5 min)
	$(if $(BENCH_DASK),$(BIN)/python benchmarks/bench_dask.py --mikey-every 1000)

fuzz: venv
	$(BIN)/python -m pytest -q -m slow -p no:cacheprovider
	@# the campaign of docs/FUZZING.md on both cores (FUZZ_SEED, FUZZ_SECONDS per process), then
	@# the cli target on both cores (FUZZ_CLI_SECONDS, FUZZ_CLI_INPUTS per process: ~5.5 ms CPU an input)
	@mkdir -p out; seed=$(or $(FUZZ_SEED),1); secs=$(or $(FUZZ_SECONDS),900); \
	clisecs=$(or $(FUZZ_CLI_SECONDS),4500); cliinputs=$(or $(FUZZ_CLI_INPUTS),500000); \
	$(BIN)/python benchmarks/fuzz_campaign.py --quiet --seed $$seed --seconds $$secs \
	  --inputs 1000000 --targets mikey.raw,mikey.struct,cms.decode,cms.open \
	  --save-dir out/fuzz-findings --json out/fuzz-campaign-a.json > out/fuzz-campaign-a.txt & a=$$!; \
	$(BIN)/python benchmarks/fuzz_campaign.py --quiet --seed $$((seed + 1)) --seconds $$secs \
	  --inputs 1000000 --targets mime,sip.framer,sdp,kms,pcap,floor,msrp \
	  --save-dir out/fuzz-findings --json out/fuzz-campaign-b.json > out/fuzz-campaign-b.txt; rb=$$?; \
	wait $$a; ra=$$?; cat out/fuzz-campaign-a.txt out/fuzz-campaign-b.txt; \
	$(BIN)/python benchmarks/fuzz_campaign.py --quiet --seed $$((seed + 2)) --seconds $$clisecs \
	  --inputs $$cliinputs --targets cli \
	  --save-dir out/fuzz-findings --json out/fuzz-campaign-cli-a.json > out/fuzz-campaign-cli-a.txt & c=$$!; \
	$(BIN)/python benchmarks/fuzz_campaign.py --quiet --seed $$((seed + 3)) --seconds $$clisecs \
	  --inputs $$cliinputs --targets cli \
	  --save-dir out/fuzz-findings --json out/fuzz-campaign-cli-b.json > out/fuzz-campaign-cli-b.txt; rd=$$?; \
	wait $$c; rc=$$?; cat out/fuzz-campaign-cli-a.txt out/fuzz-campaign-cli-b.txt; \
	exit $$((ra | rb | rc | rd))

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis build *.egg-info .cache

# Regenerate the README's derived tables from the schemas (tests/codec/test_docs.py checks them).
readme: venv
	$(BIN)/python -c "import re,pathlib; from codec.mikey import fieldtable as f; p=pathlib.Path('README.md'); t=p.read_text(); \
	t=re.sub(r'(<!-- fields:begin -->\n).*?(<!-- fields:end -->)', lambda m: m.group(1)+f.markdown()+m.group(2), t, flags=re.S); \
	t=re.sub(r'(<!-- srtp-params:begin -->\n).*?(<!-- srtp-params:end -->)', lambda m: m.group(1)+f.SRTP_PARAM_NAMES+'\n'+m.group(2), t, flags=re.S); \
	p.write_text(t)"
