"""The generated Wireshark plugin, run in the real tshark, against the codec's own JSON.

Oracle: ``codec.mikey.render.to_json(codec.mikey.decode(octets))`` — every ``mikey.*`` key the
plugin puts in ``tshark -T json`` must carry the same value, payload by payload, and every key of
the codec's JSON must be there (derived ``*_name`` labels excepted); malformed messages must give
an expert info whose text is exactly the codec's ``DecodeError`` text, and never a Lua error.
"""

from __future__ import annotations

import base64
import json
import subprocess

import pytest

from codec import DecodeError, mikey
from dissectors import wireshark
from tests.conftest import write_udp_pcap
from tests.support.wireshark_plugin import (FIELD_TYPES, PLUGIN, PROTO, all_messages, compare,
                                            experts, malformed, mikey_trees, run_tshark, samples,
                                            ticket_messages)


# ----------------------------------------------------------------------------------------------
def test_checked_in_plugin_is_current():
    assert PLUGIN.read_text(encoding="utf-8") == wireshark.generate(), \
        "wireshark/mcsec_mikey.lua is stale: run `mcsec wireshark generate`"


def test_cli_generate_and_install(tmp_path):
    from dissectors.cli import main

    out = tmp_path / "gen" / "plugin.lua"
    assert main(["wireshark", "generate", "-o", str(out)]) == 0
    assert out.read_text(encoding="utf-8") == wireshark.generate()
    assert main(["wireshark", "generate", "-o", str(out), "--tls-prot-type", "250"]) == 0
    assert "local DEFAULT_TLS_PROT_TYPE = 250" in out.read_text(encoding="utf-8")
    dest = tmp_path / "plugins"
    assert main(["wireshark", "install", "--dest", str(dest)]) == 0
    assert (dest / "mcsec_mikey.lua").read_bytes() == PLUGIN.read_bytes()


def test_every_schema_field_has_a_plugin_field():
    from codec.mikey.model import HDR, PAYLOAD_CLASSES, GenericIdEntry, Ipsec4IdEntry, SpParam, \
        SrtpIdEntry
    for cls in [HDR, SrtpIdEntry, GenericIdEntry, Ipsec4IdEntry, SpParam, *PAYLOAD_CLASSES.values()]:
        for name, meta in cls.FIELDS:
            if name in cls.NESTED:
                continue
            assert meta.json in FIELD_TYPES, f"{cls.NAME}.{name} ({meta.json}) not in the plugin"


def test_field_types_agree_with_wireshark_where_names_are_shared(tshark):
    """A Lua field whose name tshark already has must have a compatible type (else it fails)."""
    from tests.conftest import tshark_field_types
    theirs = tshark_field_types(tshark)
    family = lambda t: "uint" if t.startswith("FT_UINT") else t  # noqa: E731
    clash = {k: (v, theirs[k]) for k, v in FIELD_TYPES.items()
             if k in theirs and family(v) != family(theirs[k])}
    assert not clash, clash


@pytest.fixture(scope="module")
def dissected(tshark, tmp_path_factory):
    wires = all_messages()
    pcap = tmp_path_factory.mktemp("ws") / "mikey.pcap"
    write_udp_pcap(pcap, wires)
    return wires, run_tshark(tshark, pcap, f"{PROTO}.show_secrets:TRUE")


def test_every_frame_decodes_like_the_codec(dissected):
    wires, frames = dissected
    assert len(frames) == len(wires)
    failures = []
    for i, (wire, frame) in enumerate(zip(wires, frames)):
        trees = mikey_trees(frame)
        assert len(trees) == 1, f"frame {i + 1}: {len(trees)} MIKEY trees"
        try:
            compare(wire, trees[0], f"frame {i + 1}")
        except AssertionError as e:
            failures.append(str(e))
    assert not failures, "\n\n".join(failures[:5]) + f"\n({len(failures)} frame(s) differ)"


def test_the_views_that_wireshark_lacks_are_there(dissected):
    wires, frames = dissected
    text = json.dumps(frames)
    for key in ("mikey.generic_id.srtp.seq", "mikey.ipsec4_id.src_addr", "mikey.ticket.payloads",
                "mikey.thdr.data_len", "mikey.ticket.initiator_data_len", "mikey.tp.payloads",
                "mikey.ticket.tp_payloads", "mikey.randr.rand_role", "mikey.tr.ntp",
                "mikey.id.data_hex", "mikey.chash.hash", "mikey.key.kv.spi", "mikey.sp.aead_tag_len",
                "mikey.decode_error", "mikey.hdr_padding", "mikey.trailing", "mikey.dh.kv.from"):
        assert f'"{key}"' in text, key


def test_secrets_hidden_by_default(tshark, tmp_path):
    wire = ticket_messages()[-1]  # PSK I_MESSAGE with a NULL KEMAC: keys on the wire in clear
    pcap = tmp_path / "null-kemac.pcap"
    write_udp_pcap(pcap, [wire])
    frame = run_tshark(tshark, pcap)[0]
    tree = mikey_trees(frame)[0]
    compare(wire, tree, "hidden", show_secrets=False)
    text = json.dumps(tree)
    assert "6b:6b:6b:6b" not in text and "mikey.key.data.len" in text
    verbose = subprocess.run([tshark, "-X", f"lua_script:{PLUGIN}", "-r", str(pcap), "-V"],
                             capture_output=True, text=True, check=True).stdout
    assert "Key: <hidden> (16 octets" in verbose and "6b6b6b6b" not in verbose
    assert "Key data: <hidden>" in verbose  # the NULL KEMAC's Encr data


def test_malformed_messages_give_expert_info_not_lua_errors(tshark, tmp_path):
    wires = malformed()
    expected = []
    for w in wires:
        with pytest.raises(DecodeError) as e:
            mikey.decode(w)
        expected.append(str(e.value))
    pcap = tmp_path / "malformed.pcap"
    write_udp_pcap(pcap, wires)
    frames = run_tshark(tshark, pcap)
    assert len(frames) == len(wires)
    for i, (frame, want) in enumerate(zip(frames, expected)):
        trees = mikey_trees(frame)
        assert len(trees) == 1
        got = [msg for kind, msg in experts(trees[0]) if kind == "mikey.expert.malformed"]
        assert got == [want], f"frame {i + 1}: {got} != {want!r}"


# ----------------------------------------------------------------------------------------------
def sip_invite(sdp: str) -> bytes:
    return ("INVITE sip:bob@example.org SIP/2.0\r\n"
            "Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK776asdhds\r\n"
            "From: <sip:alice@example.org>;tag=1928301774\r\nTo: <sip:bob@example.org>\r\n"
            "Call-ID: a84b4c76e66710@192.0.2.1\r\nCSeq: 314159 INVITE\r\n"
            "Contact: <sip:alice@192.0.2.1>\r\nContent-Type: application/sdp\r\n"
            f"Content-Length: {len(sdp)}\r\n\r\n{sdp}").encode()


def test_sip_sdp_session_and_media_level_key_mgmt(tshark, tmp_path):
    gmk, pck = samples()[:2]
    transfer = ticket_messages()[2]
    b64 = lambda w: base64.b64encode(w).decode()  # noqa: E731
    sdp = ("v=0\r\no=alice 2890844526 2890842807 IN IP4 192.0.2.1\r\ns=-\r\n"
           "c=IN IP4 192.0.2.1\r\nt=0 0\r\n"
           f"a=key-mgmt:mikey {b64(gmk)}\r\n"
           "m=audio 49170 RTP/SAVP 96\r\na=rtpmap:96 AMR-WB/16000\r\n"
           f"a=key-mgmt:mikey {b64(pck)}\r\n"
           "m=application 49180 udp MCPTT\r\n"
           f"a=key-mgmt:mikey {b64(transfer)}\r\n")
    pcap = tmp_path / "sip.pcap"
    write_udp_pcap(pcap, [sip_invite(sdp)], port=5060)
    frame = run_tshark(tshark, pcap, f"{PROTO}.show_secrets:TRUE")[0]
    assert "sip" in frame and "sdp" in json.dumps(frame)
    trees = mikey_trees(frame)
    assert len(trees) == 3, "session-level and both media-level MIKEY messages"
    for wire, tree, where in zip([gmk, pck, transfer], trees, ["session", "media 1", "media 2"]):
        compare(wire, tree, where)
