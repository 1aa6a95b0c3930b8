"""Capture sets (issue 19 item 1): several files read as one capture.

The oracle is Wireshark's own tooling: the sample captures are cut into parts with
``editcap -c N`` and put back together with ``mergecap -w merged.pcapng parts…``; mcsec's output
on the parts must equal its output on the merged file, frame for frame, in every format (json,
jsonl-records, text, keylog, export), with keys in the first part and the media they protect in
later ones, and the parts given in any order, as a directory or as a glob.
"""

from __future__ import annotations

import json
import os
import struct
import subprocess
from pathlib import Path

import pytest
from tests.support.capture_util import editcap_parts
from tests.support.cli import mcsec

ROOT = Path(__file__).resolve().parents[2]
PCAPS = ROOT / "pcaps"
MANIFEST = json.loads((PCAPS / "manifest.json").read_text())
TRK = MANIFEST["transport_key"]
KEYS = ["--keys", str(PCAPS / "keyring.toml"), "--keys", str(PCAPS / "smime-keys.pem")]


cut = editcap_parts


def merge(parts, out: Path) -> Path:
    subprocess.run(["mergecap", "-w", str(out), *map(str, parts)], check=True,
                   capture_output=True)
    return out


def dissect(inputs, *args) -> str:
    """`mcsec dissect` in this process (the command-line tests above and below use a
    subprocess; here the many runs would cost seconds of start-up each)."""
    import contextlib
    import io

    from dissectors.cli import main

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        rc = main(["dissect", *map(str, inputs), "--workers", "1", "--no-progress",
                   *map(str, args)])
    assert rc == 0
    return out.getvalue()


CASES = {  # capture -> (part size, options): keys in the first part, media in later ones
    "private-call": (12, KEYS),
    "sip-tls": (25, KEYS + ["--tls-keylog", PCAPS / "sip-tls.keylog"]),
    "sip-tls-dsb": (30, KEYS),  # the TLS secrets in the first part's Decryption Secrets Block
    "psk-smime": (5, KEYS),  # the TRANSFER_INIT replayed in a later part: the replay cache
    "transports": (4, KEYS),  # a SIP INVITE over TCP split across parts
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_parts_give_the_merged_files_output(name, tmp_path):
    every, opts = CASES[name]
    parts = cut(PCAPS / f"{name}.pcapng", tmp_path / "parts", every)
    merged = merge(parts, tmp_path / "merged.pcapng")
    for fmt in (["--format", "json", "--filter", "all"], ["--format", "jsonl-records"],
                ["--format", "text"]):
        whole = dissect([merged], *opts, *fmt)
        assert whole.strip()
        assert dissect(parts, *opts, *fmt) == whole, fmt
        if fmt[1] == "json":  # and the merged file is the original
            assert whole == dissect([PCAPS / f"{name}.pcapng"], *opts, *fmt)
            if name.startswith("sip-tls"):  # tshark decrypted SIP over TLS in the set
                assert '"transport": "tls"' in whole
            if name == "transports":  # a SIP message over TCP reassembled across a cut
                spans = [json.loads(line).get("frames", []) for line in whole.splitlines()]
                assert any(min(f) <= every < max(f) for f in spans if f)


def test_media_in_later_parts_is_decrypted_with_keys_from_the_first(tmp_path):
    parts = cut(PCAPS / "private-call.pcapng", tmp_path / "parts", 12)
    out = dissect(parts, *KEYS, "--format", "json")
    pkts = [json.loads(line) for line in out.splitlines()]
    srtp = [p for p in pkts if p["kind"] == "srtp"]
    assert srtp and all(r["ok"] for p in srtp for r in p["layers"]["srtp"])
    early = {f"0x{d['mikey'][0]['mikey.hdr']['mikey.3gpp.key_id']:08x}"
             for p in pkts if p["kind"] == "mikey" and p["frame"] <= 12
             for d in p["layers"]["mikey"] if d["mikey"][0]["mikey.hdr"].get(
                 "mikey.3gpp.key_type") == "PCK"}
    assert early  # the PCK of the first call is in the first part, its media in later ones
    assert any(p["frame"] > 12 and any(k in r["keys"] for k in early)
               for p in srtp for r in p["layers"]["srtp"])


def test_kms_provisioning_in_one_file_keys_the_call_in_the_next(tmp_path):
    """The KmsKeyProv answers captured in file 1 (unwrapped with the TrK) are the only user keys:
    the call in file 2 is verified and its SRTP decrypted; the same as the merged file."""
    opts = ["--trk", TRK, "--keys", PCAPS / "kms" / "kms-init.xml", "--format", "json"]
    files = [PCAPS / "private-call.pcapng", PCAPS / "kms-provisioning.pcapng"]  # out of order
    out = dissect(files, *opts)
    assert out == dissect([merge(files, tmp_path / "m.pcapng")], *opts)
    pkts = [json.loads(line) for line in out.splitlines()]
    assert pkts[0]["kind"] == "kms-xml"  # sorted by first packet time
    srtp = [r for p in pkts for r in p["layers"].get("srtp", ())]
    assert len(srtp) == 16 and all(r["ok"] for r in srtp)
    assert dissect([files[0]], *opts).count('"srtp"') == 0  # not without the first file


def test_directory_glob_and_order(tmp_path):
    parts = cut(PCAPS / "group-call.pcapng", tmp_path / "ring", 10)
    (tmp_path / "ring" / "README.txt").write_text("not a capture, not listed by the directory")
    opts = [*KEYS, "--format", "json", "--filter", "all"]
    expected = dissect([merge(parts, tmp_path / "m.pcapng")], *opts)
    assert dissect(list(reversed(parts)), *opts) == expected  # sorted by first packet time
    assert dissect([tmp_path / "ring"], *opts) == expected
    assert dissect([str(tmp_path / "ring" / "group-call_*")], *opts) == expected  # quoted glob
    assert dissect([parts[0], tmp_path / "ring"], *opts) == expected  # named twice: read once
    frames = [json.loads(line)["frame"] for line in expected.splitlines()]
    assert frames == list(range(1, 48))


def test_a_file_that_is_not_a_capture_is_one_error_record(tmp_path):
    parts = cut(PCAPS / "private-call.pcapng", tmp_path / "parts", 20)
    bad = tmp_path / "parts" / "zz-notes.pcapng"
    bad.write_text("these are notes, not a capture\n")
    opts = [*KEYS, "--format", "json"]
    good = dissect(parts, *opts).splitlines()
    with_bad = dissect([*parts[:1], bad, *parts[1:]], *opts).splitlines()
    pkts = [json.loads(line) for line in with_bad]
    errors = [p["layers"].pop("mcsec.capture-error") for p in pkts
              if "mcsec.capture-error" in p["layers"]]
    assert len(errors) == 1 and len(errors[0]) == 1  # with the first frame's packet
    assert "zz-notes.pcapng" in json.dumps(errors) and "not a pcap" in json.dumps(errors)
    assert pkts == [json.loads(line) for line in good]  # the run went on, unchanged
    # jsonl-records: one capture-error record; text too
    recs = dissect([bad, *parts], *KEYS, "--format", "jsonl-records").splitlines()
    assert sum('"capture-error"' in r for r in recs) == 1


def test_usage_errors(tmp_path):
    proc = mcsec("dissect", tmp_path / "nothing-here.pcapng", check=False)
    assert proc.returncode == 2 and "no such file" in proc.stderr
    proc = mcsec("dissect", str(tmp_path / "*.pcapng"), check=False)
    assert proc.returncode == 2 and "no file matches" in proc.stderr
    proc = mcsec("dissect", "-", PCAPS / "private-call.pcapng", check=False)
    assert proc.returncode == 2 and "standard input" in proc.stderr


def test_keylog_and_export_of_parts_equal_the_merged_files(tmp_path):
    parts = cut(PCAPS / "sip-tls.pcapng", tmp_path / "parts", 20)
    merged = merge(parts, tmp_path / "merged.pcapng")
    tls = ["--tls-keylog", PCAPS / "sip-tls.keylog"]
    mcsec("keylog", merged, *KEYS, *tls, "-o", tmp_path / "a.keylog")
    mcsec("keylog", *parts, *KEYS, *tls, "-o", tmp_path / "b.keylog")
    a = (tmp_path / "a.keylog").read_text()
    assert a == (tmp_path / "b.keylog").read_text() and a.count("\n") > 5
    mcsec("export", merged, *KEYS, *tls, "-o", tmp_path / "a.pcapng", "--workers", "1")
    mcsec("export", *parts, *KEYS, *tls, "-o", tmp_path / "b.pcapng", "--workers", "1")
    assert (tmp_path / "a.pcapng").read_bytes() == (tmp_path / "b.pcapng").read_bytes()


def test_stats_of_parts_equal_the_merged_files(tmp_path):
    parts = cut(PCAPS / "psk-call.pcapng", tmp_path / "parts", 8)
    merged = merge(parts, tmp_path / "merged.pcapng")
    a = mcsec("dissect", merged, *KEYS, "--stats", "--workers", "1", "--no-progress")
    b = mcsec("dissect", *parts, *KEYS, "--stats", "--workers", "1", "--no-progress")
    stats = json.loads(b.stderr.strip().splitlines()[-1])["mcsec.stats"]
    assert json.loads(a.stderr.strip().splitlines()[-1])["mcsec.stats"] == stats
    assert stats["frames"]["total"] == MANIFEST["captures"]["psk-call"]["frames"]


def _raw_ip_pcap(frames, path: Path) -> None:
    """A pcap of LINKTYPE_RAW (101) records: the Ethernet frames without their header."""
    out = [struct.pack("<IHHiIII", 0xA1B23C4D, 2, 4, 0, 0, 65535, 101)]  # nanosecond pcap
    for fr in frames:
        data = bytes(fr.data)[14:]
        out.append(struct.pack("<IIII", fr.ts_ns // 1_000_000_000, fr.ts_ns % 1_000_000_000,
                               len(data), len(data)) + data)
    path.write_bytes(b"".join(out))


def test_files_of_different_link_types_and_formats(tmp_path):
    """Part 1 pcapng/Ethernet, part 2 a nanosecond pcap of raw IP: two interfaces, one
    capture; the output equals mergecap's merge of the two (which keeps both IDBs)."""
    from dissectors.pcap.capture import Frame, read_frames
    from dissectors.pcap.captureset import resolve

    frames = [f for f in read_frames(PCAPS / "private-call.pcapng") if isinstance(f, Frame)]
    (tmp_path / "set").mkdir()
    a, b = tmp_path / "set" / "a.pcapng", tmp_path / "set" / "b.pcap"
    subprocess.run(["editcap", "-r", str(PCAPS / "private-call.pcapng"), str(a), "1-20"],
                   check=True)
    _raw_ip_pcap(frames[20:], b)
    merged = merge([a, b], tmp_path / "m.pcapng")
    opts = [*KEYS, "--format", "json", "--filter", "all"]
    out = dissect([b, a], *opts)
    assert out == dissect([merged], *opts)
    assert sum('"srtp"' in line for line in out.splitlines()) == 16
    cs = resolve([str(tmp_path / "set")])
    reader = read_frames(cs)
    got = [(f.number, f.interface_id, f.linktype) for f in reader]
    assert [i.linktype for i in reader.interfaces] == [1, 101]
    assert got[0] == (1, 0, 1) and got[-1] == (56, 1, 101)
    assert cs.file_of(20) == "a.pcapng" and cs.file_of(21) == "b.pcap"


def test_merged_file_for_tshark_is_private_and_removed(tmp_path):
    from dissectors.pcap.capture import Frame, read_frames
    from dissectors.pcap.captureset import resolve

    parts = cut(PCAPS / "sip-tls-dsb.pcapng", tmp_path / "parts", 30)
    cs = resolve([str(p) for p in parts])
    path = os.fspath(cs)
    assert os.stat(os.path.dirname(path)).st_mode & 0o777 == 0o700
    ours = [(f.number, f.ts_ns, bytes(f.data)) for f in read_frames(cs) if isinstance(f, Frame)]
    theirs = subprocess.run(["tshark", "-r", path, "-T", "fields", "-e", "frame.number",
                             "-e", "frame.time_epoch"], capture_output=True, text=True,
                            check=True).stdout.split("\n")
    assert len([t for t in theirs if t]) == len(ours) == 77
    # the Decryption Secrets Block of the first part is in the merged file: tshark decrypts SIP
    sip = subprocess.run(["tshark", "-r", path, "-Y", "sip && tls", "-T", "fields", "-e",
                          "frame.number"], capture_output=True, text=True, check=True).stdout
    assert len(sip.split()) >= 5
    cs.close()
    assert not os.path.exists(path)


def test_a_pipe_in_a_set_is_an_error_record_not_consumed(tmp_path):
    """A FIFO cannot be read twice (ordering scan, then dissection): one error record; alone
    it is read as before (as a single capture)."""
    fifo = tmp_path / "pipe.pcapng"
    os.mkfifo(fifo)
    part = PCAPS / "csk-upload.pcapng"
    out = dissect([part, fifo], "--format", "jsonl-records")
    errors = [json.loads(r) for r in out.splitlines() if '"capture-error"' in r]
    assert len(errors) == 1 and "pipe.pcapng" in errors[0]["error"]
    assert "not a regular file" in errors[0]["error"]
    assert [r for r in out.splitlines() if '"capture-error"' not in r] == dissect(
        [part], "--format", "jsonl-records").splitlines()


def test_progress_bar_sizes_a_set_without_merging_it(tmp_path):
    """The progress bar counts the set's octets (offsets run on across files) and does not
    make the merged file (os.fspath) that only tshark needs."""
    import io

    from dissectors.pcap import output
    from dissectors.pcap.capture import Frame, read_frames
    from dissectors.pcap.captureset import resolve

    class Tty(io.StringIO):
        def isatty(self):
            return True

    parts = cut(PCAPS / "group-call.pcapng", tmp_path / "parts", 10)
    cs = resolve([str(p) for p in parts])
    bar = output.Progress(cs, stream=Tty())
    try:
        assert bar.bar.tasks[0].total == sum(p.stat().st_size for p in parts)
        offsets = [f.offset for f in read_frames(cs) if isinstance(f, Frame)]
        assert offsets == sorted(offsets) and offsets[-1] > parts[0].stat().st_size
    finally:
        bar.close()
    assert cs._merged is None
