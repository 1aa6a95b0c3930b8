"""Regenerate the sample MIKEY-SAKKE messages and their keyring (run from the repository root).

    .venv/bin/python pcaps/messages/generate.py

A test KMS (fixed secrets, so the keyring is stable) provisions the GMS, alice and bob for the key
period of the message time; the GMS sends bob a GMK with protected key parameters, alice calls bob
with a PCK.  Every message is real: signed (ECCSI) and encapsulated (SAKKE).
"""

from __future__ import annotations

import base64
from pathlib import Path

from codec.crypto import mcx
from codec.keyring import Keyring
from codec.kms import Kms
from codec.mikey import keyparams as KP
from codec.mikey import sakke as MS

HERE = Path(__file__).resolve().parent
NTP_TIME = 3_970_000_000  # 2025-10-21T01:46:40Z


def main():
    kms = Kms("kms.example.org", ksak=0x5A4B3C2D1E0F, z_s=0x0F1E2D3C4B5A69788796)
    period = kms.period_no(NTP_TIME)
    users = {u: kms.issue(f"sip:{u}@mcptt.example.org", period) for u in ("gms", "alice", "bob")}
    party = {u: MS.Party(k.uri, kms.uri, k.uid, kms.kpak, kms.z, k.ssk, k.pvt)
             for u, k in users.items()}
    gmk = bytes.fromhex("00112233445566778899aabbccddeeff")
    params = KP.KeyParameters(key_type=0, status=1, activation_time=0, expiry_time=0,
                              text=b"Fire brigade group key",
                              group_ids=KP.group_ids_field(["sip:fire@mcptt.example.org"]))
    gmk_msg = MS.build_i_message("GMK", gmk, mcx.make_key_id("GMK", 0x0ABC123), party["gms"],
                                 party["bob"], ntp_time=NTP_TIME << 32, rand=bytes(range(16)),
                                 key_params=params, iv=bytes(range(16, 32)))
    pck_msg = MS.build_i_message("PCK", bytes.fromhex("ffeeddccbbaa99887766554433221100"),
                                 mcx.make_key_id("PCK", 0x0123456), party["alice"], party["bob"],
                                 ntp_time=NTP_TIME << 32, rand=bytes(range(32, 48)),
                                 map_style="empty")
    sdp = ("v=0\r\no=gms 2890844526 2890842807 IN IP4 198.51.100.10\r\ns=-\r\n"
           "c=IN IP4 198.51.100.10\r\nt=0 0\r\n"
           f"a=key-mgmt:mikey {base64.b64encode(gmk_msg).decode()}\r\n"
           "m=audio 49170 RTP/SAVP 96\r\na=rtpmap:96 AMR-WB/16000\r\n")
    (HERE / "mikey-sakke-gmk.sdp").write_text(sdp, newline="")
    (HERE / "mikey-sakke-pck.hex").write_text(pck_msg.hex() + "\n")
    ring = Keyring(kms=[kms.public()], users=[users["bob"]])
    (HERE / "bob.keyring.toml").write_text(
        "# Test keys of the sample messages (a test KMS; never real key material).\n"
        + ring.to_toml())


if __name__ == "__main__":
    main()
