"""pyshark with the mcsec plugin and keylog (`dissectors/pcap/pyshark_helper.py`, issue 18 item 4).

Real pyshark driving the real tshark; the oracle is the generator's manifest (key types, IDs,
verdicts, the SSVs and SRTP master keys it used), independent of the dissector and the plugin.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from dissectors.pcap.pyshark_helper import open_capture

PCAPS = Path(__file__).resolve().parents[3] / "pcaps"
MANIFEST = json.loads((PCAPS / "manifest.json").read_text())
KEYS = [PCAPS / "keyring.toml"]


def _entries(capture, kind="mikey-sakke", key="entries"):
    out = [e for e in MANIFEST[key] if e["capture"] == capture and e["kind"] == kind]
    assert out
    return out


def _values(layer, name):
    f = layer.get_field(name)
    return [] if f is None else [x.show for x in f.all_fields]


def _mikey_by_frame(cap):
    return {int(pkt.number): pkt.get_multiple_layers("mikey") for pkt in cap if "mikey" in pkt}


@pytest.mark.tshark
@pytest.mark.parametrize("capture", ["private-call.pcapng", "group-call.pcapng"])
def test_decrypted_fields_equal_the_manifest(tshark, capture):
    cap = open_capture(PCAPS / capture, keys=KEYS, show_secrets=True, display_filter="mikey",
                       tshark_path=tshark)
    keylog = cap._temporary[0]
    assert os.stat(keylog).st_mode & 0o777 == 0o600
    with cap:
        frames = _mikey_by_frame(cap)
    assert not os.path.exists(keylog)  # the temporary keylog goes with the capture
    for e in _entries(capture):
        want, where = e["expect"], f"frame {e['frame']}"
        layers = [m for m in frames[e["frame"]]
                  if int(m.get_field("mikey.csb_id").show, 16) == want["csb_id"]]
        assert len(layers) == 1, where
        m = layers[0]
        assert m.sign_verified == ("1" if want["verified"] else "0"), where
        assert m.get_field("mikey.3gpp.key_type") == want["key_type"], where
        assert int(m.get_field("mikey.3gpp.key_id").show, 16) == want["key_id"], where
        assert m.sakke_ssv == want["key"], where
        assert _values(m, "mikey.3gpp.srtp_master_key") == [
            cs["master_key"] for cs in want["crypto_sessions"]], where
        assert _values(m, "mikey.3gpp.srtp_master_salt") == [
            cs["master_salt"] for cs in want["crypto_sessions"]], where


@pytest.mark.tshark
def test_secrets_hidden_and_keylog_needed(tshark, tmp_path):
    capture = PCAPS / "private-call.pcapng"
    entries = _entries("private-call.pcapng")
    with open_capture(capture, keys=KEYS, display_filter="mikey", tshark_path=tshark) as cap:
        hidden = _mikey_by_frame(cap)
    with open_capture(capture, display_filter="mikey", tshark_path=tshark) as cap:
        plain = _mikey_by_frame(cap)
    assert sorted(hidden) == sorted(plain)
    for e in entries:
        (m,) = [x for x in hidden[e["frame"]]
                if int(x.get_field("mikey.csb_id").show, 16) == e["expect"]["csb_id"]]
        assert m.sign_verified == "1" and m.sakke_ssv == "<hidden>"
        assert set(_values(m, "mikey.3gpp.srtp_master_key")) == {"<hidden>"}
        for p in plain[e["frame"]]:  # without a keylog the plugin cannot verify nor decrypt
            assert p.get_field("mikey.sign.verified") is None
            assert p.get_field("mikey.sakke.ssv") is None
            assert p.get_field("mikey.csb_id") is not None


@pytest.mark.tshark
def test_an_existing_keylog_and_sip_over_tls(tshark, tmp_path):
    """`mcsec keylog` output given as it is, and SIP over TLS decrypted by tshark with the
    NSS key log: the MIKEY messages inside TLS carry their verdicts too."""
    from dissectors.cli import main

    kl = tmp_path / "sip-tls.mcsec-keylog"
    assert main(["keylog", str(PCAPS / "sip-tls.pcapng"), "--keys", str(KEYS[0]),
                 "--tls-keylog", str(PCAPS / "sip-tls.keylog"), "-o", str(kl)]) == 0
    with open_capture(PCAPS / "sip-tls.pcapng", keylog=kl, tls_keylog=PCAPS / "sip-tls.keylog",
                      display_filter="mikey", tshark_path=tshark) as cap:
        frames = _mikey_by_frame(cap)
    tls = [e for e in MANIFEST["tls_entries"] if e["capture"] == "sip-tls.pcapng"
           and e["kind"] == "mikey-sakke"]
    assert tls
    for e in tls:
        assert e["frame"] in frames, e["frame"]
        assert any(m.sign_verified == "1" for m in frames[e["frame"]]), e["frame"]


def test_json_mode_is_refused():
    with pytest.raises(ValueError):
        open_capture(PCAPS / "private-call.pcapng", use_json=True)


def test_closing_puts_the_process_signal_state_back(tshark, capfd):
    """pyshark's event loop installs a SIGCHLD handler and a signal wakeup fd and leaves them
    behind; closing our capture undoes that, so child processes that exit later cause no
    "Exception ignored when trying to write to the signal wakeup fd" on stderr."""
    import signal
    import subprocess

    def state():
        fd = signal.set_wakeup_fd(-1)
        signal.set_wakeup_fd(fd)
        return signal.getsignal(signal.SIGCHLD), fd

    before = state()
    with open_capture(PCAPS / "private-call.pcapng", display_filter="mikey",
                      tshark_path=tshark) as cap:
        assert sum(1 for _ in cap) > 0
    assert state() == before
    capfd.readouterr()
    for _ in range(300):  # enough exits to fill a socket nobody reads
        subprocess.run(["true"], check=True)
    assert "wakeup fd" not in capfd.readouterr().err
