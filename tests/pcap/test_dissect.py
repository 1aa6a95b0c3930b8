"""`mcsec dissect` on the generated captures, checked against the generator's manifest.

The manifest states, from the generator's inputs, what every key-carrying frame must decode and
decrypt to; the dissector reads the pcapng files from scratch (capture reader, IP/TCP reassembly,
SIP framing) and must find the same.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import pytest

from dissectors.pcap import dissect
from dissectors.keys import load_keys
from dissectors.pcap.session import Session

PCAPS = Path(__file__).resolve().parents[2] / "pcaps"
MANIFEST = json.loads((PCAPS / "manifest.json").read_text())


def _records(capture, keys=True):
    ring = load_keys([PCAPS / "keyring.toml", PCAPS / "smime-keys.pem"]) if keys else None
    session = Session(keyring=ring, show_secrets=True,
                      transport_key=bytes.fromhex(MANIFEST["transport_key"]))
    by_frame = defaultdict(list)
    for rec in dissect.record_dicts(PCAPS / capture, session):
        if "frame" in rec:
            by_frame[rec["frame"]].append(rec)
    return by_frame, session


@pytest.fixture(scope="module")
def dissected():
    out = {}
    for cap in sorted({e["capture"] for e in MANIFEST["entries"]}):
        out[cap] = _records(cap)
    return out


def _payload(doc, name):
    return next((p[name] for p in doc["mikey"] if name in p), None)


def _entries(kind):
    return [e for e in MANIFEST["entries"] if e["kind"] == kind]


@pytest.mark.parametrize("entry", _entries("mikey-sakke"),
                         ids=lambda e: f"{e['capture']}#{e['frame']}")
def test_mikey_sakke_frames(dissected, entry):
    recs = [r for r in dissected[entry["capture"]][0][entry["frame"]] if r["kind"] == "mikey"]
    rec = next(r for r in recs if r["mikey"]["mikey"][0]["mikey.hdr"]["mikey.csb_id"]
               == entry["expect"]["csb_id"])
    exp = entry["expect"]
    doc = rec["mikey"]
    hdr = doc["mikey"][0]["mikey.hdr"]
    assert hdr["mikey.3gpp.key_type"] == exp["key_type"]
    assert hdr["mikey.3gpp.key_id"] == exp["key_id"]
    sign = _payload(doc, "mikey.sign")
    assert sign["mikey.sign.verified"] is exp["verified"]
    assert sign.get("mikey.sign.region") == exp["region"]
    assert _payload(doc, "mikey.sakke")["mikey.sakke.ssv"] == exp["key"]
    got = [(c["mikey.3gpp.cs_id"], c["mikey.3gpp.mki"], c["mikey.3gpp.srtp_master_key"],
            c["mikey.3gpp.srtp_master_salt"]) for c in doc["mikey.3gpp.crypto_sessions"]]
    want = [(c["cs_id"], c["mki"], c["master_key"], c["master_salt"])
            for c in exp["crypto_sessions"]]
    assert got == want


@pytest.mark.parametrize("entry", _entries("mikey-ticket"), ids=lambda e: str(e["frame"]))
def test_mikey_ticket_frames(dissected, entry):
    rec = next(r for r in dissected[entry["capture"]][0][entry["frame"]] if r["kind"] == "mikey")
    doc = rec["mikey"]
    assert _payload(doc, "mikey.v")["mikey.v.verified"] is True
    assert _payload(doc, "mikey.ticket")["mikey.ticket.mpk"] == entry["expect"]["mpk"]
    keys = {(s["mikey.ticket.cs_id"], s.get("mikey.ticket.tls_psk"),
             s.get("mikey.ticket.tls_psk_identity")) for s in doc["mikey.ticket.session_keys"]}
    want = {(s["cs_id"], s["tls_psk"], s["tls_psk_identity"])
            for s in entry["expect"]["session_keys"]}
    assert keys == want


@pytest.mark.parametrize("entry", _entries("psk-smime"), ids=lambda e: str(e["frame"]))
def test_psk_smime_frames(dissected, entry):
    rec = next(r for r in dissected[entry["capture"]][0][entry["frame"]]
               if r["kind"] == "psk-smime")
    exp = entry["expect"]
    assert rec["ok"] is True and rec["proof_of_origin"] is exp["proof_of_origin"]
    assert rec["replay"] == exp["replay"]
    assert rec["content"].encode() == bytes.fromhex(exp["content"])


@pytest.mark.parametrize("entry", _entries("cms"), ids=lambda e: str(e["frame"]))
def test_cms_frames(dissected, entry):
    rec = next(r for r in dissected[entry["capture"]][0][entry["frame"]] if r["kind"] == "cms")
    opened = rec["cms_open"]
    assert opened["cms.ok"] is True, opened.get("cms.error")


@pytest.mark.parametrize("entry", _entries("malformed-mikey") + _entries("malformed-cms"),
                         ids=lambda e: f"{e['kind']}#{e['frame']}")
def test_malformed_frames_give_the_stated_error(dissected, entry):
    recs = dissected[entry["capture"]][0][entry["frame"]]
    err = entry["error"]
    if err["stage"] == "decode":
        rec = next(r for r in recs if r.get("error"))
        assert rec["error"]["path"] == err["path"] and rec["error"]["offset"] == err["offset"]
        assert err["contains"] in rec["error"]["reason"]
    else:  # a verification or decryption stage: the message decodes, a check fails
        text = json.dumps(recs)
        assert err["contains"] in text, (err, text[:2000])


def test_kms_provisioning_keys_are_unwrapped_from_the_capture(dissected):
    by_frame, session = dissected["kms-provisioning.pcapng"]
    kms_recs = [r for rs in by_frame.values() for r in rs if r["kind"] == "kms-xml"]
    assert any(r.get("kms_request") for r in kms_recs)
    sets = [ks for r in kms_recs for ks in r.get("kms", {}).get("key_sets", [])]
    assert sets and all(ks["keys"] == ["rsk", "ssk", "pvt"] for ks in sets)


def test_every_key_carrying_frame_is_reported():
    for cap in sorted({e["capture"] for e in MANIFEST["entries"]}):
        frames, _ = _records(cap, keys=False)
        for e in MANIFEST["entries"]:
            if e["capture"] == cap and e["kind"] in ("mikey-sakke", "mikey-ticket", "cms",
                                                     "psk-smime", "malformed-mikey",
                                                     "malformed-cms", "kms-xml"):
                assert e["frame"] in frames, (cap, e["frame"], e["kind"])


def test_cli_json_lines_and_stats(tmp_path, capsys):
    from dissectors.cli import main

    assert main(["dissect", str(PCAPS / "transports.pcapng"), "--format", "jsonl-records",
                 "--stats"]) == 0
    out, err = capsys.readouterr()
    lines = [json.loads(x) for x in out.splitlines()]
    assert any(r.get("transport") == "tcp" and r["kind"] == "mikey" for r in lines)
    assert json.loads(err.splitlines()[-1])["mcsec.stats"]["units"] > 0


@pytest.mark.parametrize("kind", ["srtp", "srtcp"])
def test_media_is_authenticated_and_decrypted(dissected, kind):
    entries = _entries(kind)
    assert entries
    for e in entries:
        recs = [r for r in dissected[e["capture"]][0][e["frame"]] if r["kind"] == kind]
        assert recs, (e["capture"], e["frame"], e["description"])
        assert recs[0]["ok"] is True and recs[0]["mki"] == e["mki"]
        plain = bytes.fromhex(recs[0]["plaintext"])
        assert plain == bytes.fromhex(e["rtp" if kind == "srtp" else "rtcp"])
        if e.get("floor_message"):
            assert recs[0]["floor"] == e["floor_message"]


def test_tampered_media_fails_authentication():
    from codec.keyring import Keyring, SrtpKey

    for e in _entries("malformed-srtp"):
        # the malformed capture has no key management for this stream: give its key directly
        ring = Keyring(srtp=[SrtpKey(bytes.fromhex(e["mki"]), bytes.fromhex(e["master_key"]),
                                     bytes.fromhex(e["master_salt"]))])
        session = Session(keyring=ring)
        recs = [r for r in dissect.record_dicts(PCAPS / e["capture"], session)
                if r.get("frame") == e["frame"] and r["kind"] == "srtp"]
        assert recs, e["description"]
        assert recs[0]["ok"] is False and "tag" in recs[0]["error"]["reason"]
