"""The command-line fuzz target of benchmarks/fuzz_campaign.py (issue 15, "the campaign that
would have found these"): a deterministic slice of a few hundred inputs, the harness's own
checks, and the CLI findings kept in tests/regressions/cli/ (docs/FUZZING.md).

Every case is an argv for ``dissectors.cli.main`` run in this process, with its input files; the
documented outcome is an exit status in {0, 1, 2, 3}, no exception escaping ``main`` and no
traceback on stderr, within the time bound (``CLI_SLOW_MS``).
"""

from __future__ import annotations

import json
import os
import random
import sys
from pathlib import Path

import pytest
from benchmarks.fuzzing import cli_cases
from benchmarks.fuzzing import cli_corpus
from benchmarks.fuzzing import cli_runner
from benchmarks.fuzzing import corpus as fuzz_corpus
from benchmarks.fuzzing import runner as fuzz_runner
from benchmarks.fuzzing import targets as fuzz_targets

ROOT = Path(__file__).resolve().parents[2]
REGRESSIONS = Path(__file__).resolve().parents[1] / "regressions" / "cli"



@pytest.fixture(scope="module")
def cli_target():
    return cli_runner.make_cli_targets(fuzz_corpus.load_corpus(), seed=15, pool=100)["cli"]


def test_deterministic_slice_has_no_traceback_bad_status_or_slow_input(tmp_path):
    (r,) = fuzz_runner.campaign(("cli",), seed=15, inputs=300, seconds=300, save_dir=tmp_path,
                                trace_every=0, struct_pool=100)
    assert r.inputs == 300
    findings = {site: (rec["message"][:300], Path(rec["file"]).name)
                for site, rec in r.crashes.items()}
    assert not findings, findings  # replay: benchmarks/fuzz_campaign.py --replay FILE
    assert r.hangs == 0 and r.slow == 0, r.slow_inputs
    assert r.max_ms_confirmed < cli_corpus.CLI_SLOW_MS


def test_cases_cover_every_command_and_output_mode(cli_target):
    rng = random.Random("coverage")
    seen = set()

    def after(argv, opt):  # the value of opt (argv damage may have dropped it)
        i = argv.index(opt) + 1 if opt in argv else len(argv)
        return argv[i] if i < len(argv) else None
    for _ in range(5000):
        argv = json.loads(cli_target.generate(rng))["argv"]
        if not argv:
            continue
        cmd = " ".join(argv[:2]) if argv[0] in ("cms", "keyring", "wireshark") else argv[0]
        seen.add(cmd)
        if cmd == "dissect":
            fmt = after(argv, "--format") or "text"
            seen.add(f"dissect {fmt}")
            seen.update(f"dissect {x}" for x in ("--brief", "--stats", "--keys") if x in argv)
        if cmd == "decode":
            seen.add(f"decode {after(argv, '--format')}")
        if after(argv, "--trk") in ("zz", "g" * 32):
            seen.add(f"{cmd} non-hex --trk")
        for opt in ("-o", "--out", "--out-dir", "--dest"):
            if after(argv, opt) in cli_corpus.UNWRITABLE:
                seen.add(f"{cmd} unwritable {opt}")
    for cmd in ("decode text", "decode json", "encode", "fields", "uid", "keyring import",
                "dissect text", "dissect json", "dissect jsonl-records", "dissect --brief",
                "dissect --stats", "dissect --keys", "keylog", "psk-smime", "cms show",
                "cms decrypt", "cms verify", "cms open", "cms build", "synth",
                "wireshark generate", "wireshark install", "fuzz", "export",
                "decode non-hex --trk", "dissect non-hex --trk", "keyring import non-hex --trk",
                "keyring import unwritable -o", "keylog unwritable -o",
                "wireshark generate unwritable -o"):
        assert cmd in seen, cmd


def test_generation_is_deterministic(cli_target):
    a = [cli_target.generate(random.Random("d")) for _ in range(3)]
    b = [cli_target.generate(random.Random("d")) for _ in range(3)]
    assert a == b


def test_runner_reports_what_escapes_main_bad_statuses_and_tracebacks(tmp_path):
    def toy(argv):
        what = argv[0]
        if what == "raise":
            raise KeyError("boom")
        if what == "status":
            return int(argv[1])
        if what == "exit":
            raise SystemExit(argv[1] if argv[1] == "message" else int(argv[1]))
        if what == "traceback":
            sys.stderr.write("Traceback (most recent call last):\n  ...\nValueError: x\n")
            return 0
        if what == "echo":  # sees its files, its stdin, and a scratch working directory
            sys.stdout.write(open(argv[1]).read() + sys.stdin.read() + os.getcwd())
            return 0
        raise AssertionError(argv)

    run = cli_runner.CliRunner(main=toy, workdir=tmp_path)

    def case(*argv, files=None, stdin=b""):
        c = cli_cases.CliCase()
        c.argv = list(argv)
        c.files = files or {}
        c.stdin = stdin
        return c.encode()

    cwd, streams = os.getcwd(), (sys.stdin, sys.stdout, sys.stderr)
    with pytest.raises(KeyError):
        run(case("raise"))
    for bad in ("4", "-1", "70"):
        with pytest.raises(fuzz_targets.Invariant, match="exit status"):
            run(case("status", bad))
    with pytest.raises(fuzz_targets.Invariant, match="exit status 9"):
        run(case("exit", "9"))
    with pytest.raises(fuzz_targets.Invariant, match="traceback on stderr"):
        run(case("traceback"))
    assert [run(case("status", s)) for s in "0123"] == [0, 1, 2, 3]
    assert run(case("exit", "2")) == 2 and run(case("exit", "message")) == 1
    assert run(case("echo", "{D}/in", files={"in": b"file "}, stdin=b"stdin ")) == 0
    assert run.last[1] == f"file stdin {tmp_path / 'c'}".encode()
    assert (os.getcwd(), (sys.stdin, sys.stdout, sys.stderr)) == (cwd, streams)
    # what escapes is recorded at its site, saved, and counted
    t = fuzz_targets.Target("cli", (), run, lambda rng: case("raise"), ext="json")
    r = fuzz_runner.run_target(t, 1, 3, 30, trace_every=0, save_dir=tmp_path / "found")
    assert r.unexpected == 3 and list(r.crashes)[0].startswith("KeyError@")
    assert [p.suffix for p in (tmp_path / "found").iterdir()] == [".json"]


def test_runner_runs_the_real_cli(tmp_path):
    run = cli_runner.CliRunner(workdir=tmp_path)
    c = cli_cases.CliCase()
    c.argv = ["decode", "{P}/messages/mikey-sakke-gmk.sdp", "--format", "json"]
    assert run(c.encode()) == 0
    assert json.loads(run.last[1])  # the JSON decode prints
    c.argv = ["decode", "--format", "yaml"]
    assert run(c.encode()) == 2 and b"invalid choice" in run.last[2]  # argparse's exit 2


@pytest.mark.parametrize("case", sorted(REGRESSIONS.glob("*.json")), ids=lambda p: p.stem)
def test_cli_regression(case, tmp_path):
    status = cli_runner.CliRunner(workdir=tmp_path)(case.read_bytes())
    assert status in cli_corpus.CLI_EXITS


# Findings of the cli target outside the list of issue 15 (docs/FUZZING.md, C1 and C2)
def test_uid_uri_that_is_not_utf8_is_a_usage_error(capsys):
    from dissectors.cli import main

    # argv octets that are not UTF-8 reach Python as surrogate escapes ('\udcff' for 0xff)
    for opt in ("--uri", "--kms-uri"):
        argv = ["uid", "--uri", "sip:alice@example.org", "--kms-uri", "kms.example.org",
                "--key-period", "2592000", "--period-no", "1"]
        argv[argv.index(opt) + 1] = "sip:\udcff@example.org"
        with pytest.raises(SystemExit) as e:
            main(argv)
        assert e.value.code == 2
        assert "not UTF-8" in capsys.readouterr().err


def test_cms_keys_naming_a_bad_kms_document_is_a_usage_error(tmp_path, capsys):
    from dissectors.cli import main

    bad = tmp_path / "bad.xml"
    bad.write_bytes((ROOT / "pcaps" / "kms" / "alice.keyprov.xml").read_bytes()
                    .replace(b"<KeyPeriodNo>", b"<KeyPeriodNo>x", 1))
    der = tmp_path / "x.der"
    der.write_bytes(fuzz_corpus.load_corpus().cms[0])
    for action in ("show", "open"):
        assert main(["cms", action, str(der), "--keys", str(bad)]) == 2
        err = capsys.readouterr().err
        assert str(bad) in err and "KeyPeriodNo" in err


def test_psk_smime_whose_cms_object_does_not_decode_is_an_error_result():
    # C3: a DER length that lies inside the S/MIME entity of a seed 004 SIP MESSAGE made
    # codec.psk_smime.open_message raise DecodeError (a traceback in `mcsec psk-smime`)
    from codec import psk_smime
    from dissectors.keys import load_keys

    case = cli_cases.decode_case((REGRESSIONS / "psk-smime-cms-length-lies-0eb5dfafe02f.json")
                         .read_bytes())
    ring = load_keys([ROOT / "pcaps" / "keyring.toml"])
    res = psk_smime.open_message(case["files"]["f0"], ring)
    assert not res.ok and res.error.startswith("S/MIME entity does not decode: ")
    assert "exceeds" in res.error


def test_fuzz_send_port_out_of_range_is_a_usage_error(capsys):
    # C4: `mcsec fuzz --send 127.0.0.1:99999` raised OverflowError from socket.sendto
    from dissectors.cli import main

    for target in ("127.0.0.1:99999", "127.0.0.1:0"):
        assert main(["fuzz", "-n", "1", "--send", target]) == 2
        assert "port 1..65535" in capsys.readouterr().err


def test_fuzz_pcap_leaves_out_mutants_larger_than_a_datagram_and_says_so(tmp_path):
    # C5: `mcsec fuzz --format pcap` with a mutant over 65,507 octets (an oversized-payload
    # mutation) raised struct.error from scapy building the IPv4 total length
    from dissectors.pcap.capture import CaptureFault, read_frames

    run = cli_runner.CliRunner(workdir=tmp_path)
    case = (REGRESSIONS / "fuzz-pcap-mutant-over-64k-f9ca9740ac63.json").read_bytes()
    assert run(case) == 0
    assert b"1 mutant(s) larger than a UDP datagram left out of the pcap" in run.last[2]
    manifest = (tmp_path / "c" / "manifest.tsv").read_text().splitlines()[1:]
    assert len(manifest) == 5 and sum(int(x.split("\t")[4]) > 65507 for x in manifest) == 1
    frames = [f for f in read_frames(str(tmp_path / "c" / "mutants.pcap"))
              if not isinstance(f, CaptureFault)]
    assert len(frames) == 4


def test_cms_build_recipient_certificate_with_a_damaged_key_is_a_usage_error(tmp_path):
    # C6: cryptography parses certificates lazily; `cms build --recip CERT` with a damaged
    # public key raised ValueError("Invalid key") from cert.public_key()
    run = cli_runner.CliRunner(workdir=tmp_path)
    case = (REGRESSIONS / "cms-build-recip-invalid-key-5bd4676dba93.json").read_bytes()
    assert run(case) == 2
    assert b"the certificate's public key does not load" in run.last[2]


def test_sakke_identifiers_of_a_t_in_the_first_key_period_skip_period_minus_one(tmp_path):
    # C7: `decode --keys` of a MIKEY-SAKKE I_MESSAGE whose T falls in key period 0 (or before
    # the offset) tried the UID of period -1: ValueError("negative integer") from mcx.uid
    from codec.mikey import sakke
    from dissectors.keys import load_keys

    kms = load_keys([ROOT / "pcaps" / "keyring.toml"]).kms[0]
    uri = b"sip:alice@mcptt.example.org"
    assert [n for _, n in sakke.candidate_identifiers(uri, kms.uri, kms, ntp=100)] == [0, 1]
    assert sakke.candidate_identifiers(uri, kms.uri, kms, ntp=0) != []
    run = cli_runner.CliRunner(workdir=tmp_path)
    assert run((REGRESSIONS / "decode-keys-t-in-key-period-0-cba507809992.json")
               .read_bytes()) in (1, 3)
