"""`mcsec dissect` per-packet output: grouping, filters, --brief, --stats accounting, progress."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from dissectors.pcap import dissect, output
from dissectors.cli import main
from dissectors.pcap.session import Session

PCAPS = Path(__file__).resolve().parents[2] / "pcaps"
MANIFEST = json.loads((PCAPS / "manifest.json").read_text())
KEYS = ["--keys", str(PCAPS / "keyring.toml"), "--keys", str(PCAPS / "smime-keys.pem")]


def _run(capsys, *argv):
    assert main(["dissect", *argv]) == 0
    return capsys.readouterr()


def test_json_is_one_object_per_packet_grouping_every_record(capsys):
    cap = str(PCAPS / "private-call.pcapng")
    pkts = [json.loads(x) for x in _run(capsys, cap, "--format", "json", *KEYS).out.splitlines()]
    frames = [p["frame"] for p in pkts]
    assert frames == sorted(set(frames))  # one object per frame, in order
    from dissectors.keys import load_keys
    ring = load_keys([PCAPS / "keyring.toml", PCAPS / "smime-keys.pem"])
    recs = list(dissect.record_dicts(cap, Session(keyring=ring)))
    per_frame = Counter((r["frame"], r["kind"]) for r in recs)
    got = Counter((p["frame"], k) for p in pkts for k, v in p["layers"].items()
                  if k in ("mikey", "srtp", "srtcp") for _ in v)
    assert got == per_frame
    mikey = [p for p in pkts if "mikey" in p["layers"]]
    want = {e["frame"] for e in MANIFEST["entries"]
            if e["capture"] == "private-call.pcapng" and e["kind"] == "mikey-sakke"}
    assert {p["frame"] for p in mikey} == want
    for p in mikey:
        assert p["kind"] == "mikey" and p["layers"]["sip"]["sip.Call-ID"]
        assert p["layers"]["sip"]["sip.Method"] in ("REGISTER", "INVITE")
        assert p["layers"]["mikey"][0]["mikey"][0]["mikey.hdr"]["mikey.type_name"] == "SAKKE"
        assert "sdp.media" in p["layers"].get("sdp", {}) or p["layers"]["sip"]["sip.Method"] == "REGISTER"


def test_jsonl_records_is_the_record_stream(capsys):
    cap = str(PCAPS / "transports.pcapng")
    lines = [json.loads(x) for x in _run(capsys, cap, "--format", "jsonl-records").out.splitlines()]
    assert lines == [json.loads(json.dumps(r)) for r in dissect.record_dicts(cap, Session(keyring=None))]


def test_filters(capsys):
    cap = str(PCAPS / "private-call.pcapng")
    srtp = [json.loads(x) for x in _run(capsys, cap, "--format", "json", "--filter", "srtp",
                                        *KEYS).out.splitlines()]
    assert srtp and all({"srtp", "srtcp"} & set(p["layers"]) for p in srtp)
    mikey = [json.loads(x) for x in _run(capsys, cap, "--format", "json", "--filter", "mikey",
                                         *KEYS).out.splitlines()]
    assert mikey and all("mikey" in p["layers"] for p in mikey)
    everything = [json.loads(x) for x in _run(capsys, cap, "--format", "json", "--filter",
                                              "all").out.splitlines()]
    assert len(everything) >= len(mikey) + len(srtp)
    assert [p["frame"] for p in everything] == list(range(1, len(everything) + 1))
    assert all(p.get("src") and p.get("time") for p in everything)


def test_brief_one_line_per_packet_and_no_progress_without_tty(capsys):
    cap = str(PCAPS / "malformed.pcapng")
    js = _run(capsys, cap, "--format", "json", *KEYS).out.splitlines()
    res = _run(capsys, cap, "--brief", *KEYS)
    assert len(res.out.splitlines()) == len(js)
    assert "DECODE ERROR" in res.out and "FAILED" in res.out
    assert res.err == ""  # stderr is not a terminal: no progress bar


def test_stats_account_for_every_frame(capsys):
    for cap, keys in (("malformed.pcapng", KEYS), ("sip-tls-dsb.pcapng", KEYS),
                      ("private-call.pcapng", [])):
        res = _run(capsys, str(PCAPS / cap), "--format", "json", "--stats", *keys)
        st = json.loads(res.err.splitlines()[-1])["mcsec.stats"]
        n = sum(1 for _ in __import__("dissectors.pcap.capture", fromlist=["x"]).read_frames(PCAPS / cap))
        assert st["frames"]["total"] == n
        assert sum(v for k, v in st["frames"].items() if k != "total") == n
    # malformed: decode errors with reasons, failed checks; no keys: undecryptable and why
    st_m = json.loads(_run(capsys, str(PCAPS / "malformed.pcapng"), "--stats", *KEYS)
                      .err.splitlines()[-1])["mcsec.stats"]
    assert st_m["error_reasons"] and st_m["checks"].get("mikey.sign failed")
    assert st["undecryptable"] and not st["decrypted"] and st["media"] == {}


def test_sip_layers_field_names():
    msg = (b"SIP/2.0 200 OK\r\nv: SIP/2.0/UDP a;branch=1\r\nVia: SIP/2.0/UDP b\r\n"
           b"i: abc@x\r\nCSeq:  7 INVITE\r\nl: 0\r\n\r\n")
    f = output.sip_layers(msg)["sip"]
    assert f["sip.Status-Code"] == 200 and f["sip.Status-Line"] == "SIP/2.0 200 OK"
    assert f["sip.Via"] == ["SIP/2.0/UDP a;branch=1", "SIP/2.0/UDP b"]
    assert f["sip.Call-ID"] == "abc@x" and f["sip.CSeq.seq"] == 7
    assert f["sip.Content-Length"] == 0


def test_stats_give_why_cms_objects_failed(capsys):
    """Each failed CMS object is counted under the check that failed, as the record states it."""
    cap = str(PCAPS / "smime.pcapng")
    for keys, want in (([str(PCAPS / "keyring.toml")], "SignedData verify: signer certificate"),
                       ([str(PCAPS / "smime-keys.pem")], "no KEK with key identifier")):
        res = _run(capsys, cap, "--format", "jsonl-records", "--stats",
                   *[a for k in keys for a in ("--keys", k)])
        recs = [json.loads(line) for line in res.out.splitlines()]
        failed = [r for r in recs if r.get("cms_open") and not r["cms_open"]["cms.ok"]]
        st = json.loads(res.err.splitlines()[-1])["mcsec.stats"]
        reasons = {k: v for k, v in st["undecryptable"].items() if k.startswith("cms: ")}
        assert failed and sum(reasons.values()) == len(failed)
        assert all(want in k for k in reasons), reasons
        # the reason is the record's own: each names the failing layer's type
        for r in failed:
            bad = next(x for x in r["cms_open"]["cms.layers"] if not x["cms.layer.ok"])
            assert any(k.startswith(f"cms: {bad['cms.layer.type']}") for k in reasons)


def test_brief_with_start_line_fields_only_prints_what_the_full_fields_print():
    """`--brief` keeps only the SIP start line's fields (all its line shows): for every sample
    capture, with and without keys, its lines equal those made from the full SIP/SDP fields."""
    import argparse

    from dissectors.cli.common import load_keyring
    from dissectors.pcap import render
    from dissectors.pcap.capture import read_frames

    sip_lines = 0
    for cap in sorted(PCAPS.glob("*.pcapng")):
        for keys in (None, [str(PCAPS / "keyring.toml")]):
            lines = []
            for start_line_only in (False, True):
                ring = load_keyring(argparse.Namespace(keys=keys, trk=None))
                session = output.PacketSession(keyring=ring,
                                               start_line_fields_only=start_line_only)
                packets = output.Packets(dissect.records(str(cap), session, workers=1),
                                         session, filt="all", frames=read_frames(str(cap)))
                lines.append([render.brief_line(p) for p in packets])
            assert lines[0] == lines[1], cap.name
            sip_lines += sum(" SIP " in line for line in lines[0])
    assert sip_lines > 50
