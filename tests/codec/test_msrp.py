"""MSRP (RFC 4975) over TLS-PSK: the seed 004 MSRP session of pcaps/sip-tls*.pcapng, opened with
the TLS-PSK that `mcsec dissect` derives from the TRANSFER_INIT, framed and decoded.

Oracles: the generator's manifest (the plaintext MSRP SEND and its text), and tshark's MSRP
dissector on that plaintext sent as plain TCP (tshark 4.0 cannot dissect MSRP inside TLS).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from codec import msrp
from codec.errors import DecodeError
from dissectors.pcap import dissect
from dissectors.keys import load_keys
from dissectors.pcap.session import Session

PCAPS = Path(__file__).resolve().parents[2] / "pcaps"
MANIFEST = json.loads((PCAPS / "manifest.json").read_text())
ENTRY = next(e for e in MANIFEST["tls_entries"] if e["kind"] == "msrp-tls-psk")
KEYLOG = PCAPS / "sip-tls.keylog"


def _msrp_records(capture, show_secrets=True, keys=True, **kw):
    ring = load_keys([PCAPS / "keyring.toml"]) if keys else None
    session = Session(keyring=ring, show_secrets=show_secrets)
    recs = list(dissect.record_dicts(PCAPS / capture, session, **kw))
    return [r for r in recs if r["kind"] == "msrp"], recs


def _tshark_msrp(tshark, tmp_path, octets: bytes) -> dict:
    from scapy.layers.inet import IP, TCP
    from scapy.layers.l2 import Ether
    from scapy.packet import Raw
    from scapy.utils import wrpcap

    pcap = tmp_path / "msrp.pcap"
    wrpcap(str(pcap), [Ether() / IP(src="192.0.2.10", dst="198.51.100.10")
                       / TCP(sport=50620, dport=ENTRY["port"], flags="PA", seq=1000) / Raw(octets)])
    out = subprocess.run([tshark, "-r", str(pcap), "-d", f"tcp.port=={ENTRY['port']},msrp",
                          "-T", "json", "--no-duplicate-keys"], capture_output=True, text=True,
                         check=True)
    return json.loads(out.stdout)[0]["_source"]["layers"]["msrp"]


def _flatten(node, out):
    for k, v in node.items():
        if isinstance(v, dict):
            _flatten(v, out)
        elif not k.endswith("_tree"):
            out[k] = v
    return out


@pytest.mark.parametrize("workers", [1, 2])
@pytest.mark.parametrize("capture,kw", [("sip-tls.pcapng", {"tls_keylog": KEYLOG}),
                                        ("sip-tls-dsb.pcapng", {})])
def test_msrp_over_tls_psk_is_decrypted_and_decoded(tshark, tmp_path, capture, kw, workers):
    """The PSK is learnt (frame of the TRANSFER_INIT) before the MSRP stream starts: the run
    starts when that stream appears, whether the analysis lags behind (workers) or not."""
    msgs, recs = _msrp_records(capture, workers=workers, **kw)
    assert [r["frame"] for r in msgs][0] == ENTRY["frame"]
    send = msgs[0]
    assert send["transport"] == "tls-psk" and "TLS-PSK" in send["decrypted"]
    m = send["msrp"]
    assert m["msrp.method"] == "SEND" and m["msrp.transaction.id"] == ENTRY["msrp_transaction_id"]
    assert m["msrp.data"] == bytes.fromhex(ENTRY["content"]).decode()
    # every other field as tshark's MSRP dissector reads the generator's plaintext
    theirs = _flatten(_tshark_msrp(tshark, tmp_path, bytes.fromhex(ENTRY["msrp"])), {})
    compared = 0
    for key, value in m.items():
        if key == "msrp.data":  # tshark's msrp.data runs on into the end-line
            assert theirs[key].startswith(value + "\r\n-------")
            continue
        assert theirs.get(key) == value, (key, value, theirs.get(key))
        compared += 1
    assert compared >= 9
    # the 200 OK answering it, on the same connection the other way
    ok = next(r for r in msgs if r["msrp"].get("msrp.status.code") == 200)
    assert ok["msrp"]["msrp.transaction.id"] == ENTRY["msrp_transaction_id"]
    assert (ok["src"], ok["sport"]) == (send["dst"], send["dport"])
    assert not [r for r in recs if r["kind"] == "note"]


def test_msrp_text_is_hidden_without_show_secrets():
    msgs, _ = _msrp_records("sip-tls.pcapng", show_secrets=False, tls_keylog=KEYLOG)
    text = bytes.fromhex(ENTRY["content"])
    assert msgs[0]["msrp"]["msrp.data"] == f"<{len(text)} octets; --show-secrets>"


def test_without_keys_the_tls_psk_stream_is_a_note():
    msgs, recs = _msrp_records("sip-tls.pcapng", keys=False, tls_keylog=KEYLOG)
    assert msgs == []
    notes = [r for r in recs if r["kind"] == "note"]
    assert len(notes) == 1 and str(ENTRY["port"]) in notes[0]["message"]


# -- the codec ---------------------------------------------------------------------------------
SEND = (b"MSRP a786hjs2 SEND\r\nTo-Path: msrp://bob.example.com:8888/9di4eae923wzd;tcp\r\n"
        b"From-Path: msrp://alicepc.example.com:7777/iau39soe2843z;tcp\r\nMessage-ID: 87652491\r\n"
        b"Byte-Range: 1-25/25\r\nContent-Type: text/plain\r\n\r\nHey Bob, are you there?\r\n"
        b"-------a786hjs2$\r\n")  # RFC 4975 §7.3 example (the 25 octets include no CRLF)
OK = (b"MSRP a786hjs2 200 OK\r\nTo-Path: msrp://alicepc.example.com:7777/iau39soe2843z;tcp\r\n"
      b"From-Path: msrp://bob.example.com:8888/9di4eae923wzd;tcp\r\n-------a786hjs2$\r\n")


def test_rfc_4975_example_and_framing_across_chunks():
    stream = SEND + OK
    for cut in range(1, len(stream)):
        got, rest, errors = msrp.split_messages(stream[:cut])
        more, rest2, errors2 = msrp.split_messages(rest + stream[cut:])
        assert [o for _, o in got + more] == [SEND, OK] and rest2 == b"" and not errors + errors2
    s = msrp.decode(SEND)
    assert s["msrp.data"] == b"Hey Bob, are you there?" and s["msrp.byte.range"] == "1-25/25"
    assert s["msrp.cnt.flg"] == "$" and s["msrp.end.line"] == "-------a786hjs2$"
    o = msrp.decode(OK)
    assert o["msrp.status.code"] == 200 and "msrp.data" not in o


def test_malformed_msrp_is_reported():
    with pytest.raises(DecodeError) as ei:
        msrp.decode(SEND.replace(b"a786hjs2$", b"a786hjs2!"))
    assert ei.value.path == "msrp.cnt.flg"
    got, rest, errors = msrp.split_messages(b"garbage that is not msrp at all, long enough to "
                                            b"be judged now\r\n" + OK)
    assert [o for _, o in got] == [OK] and errors and errors[0].path == "msrp"
