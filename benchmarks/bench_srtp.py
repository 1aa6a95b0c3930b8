"""SRTP unprotect speed: which implementation the dissector uses (issue 14 item 4).

Candidates, on the same packets in the same run (AES-CM-128/HMAC-SHA1-80, 160-octet payloads as
G.711 20 ms, one stream, libsrtp protecting):

1. libsrtp through pylibsrtp's Session.unprotect (a fresh inbound session per run of packets, as
   pylibsrtp's API has no way to set a ROC or to accept the same packet twice);
2. codec.srtp.Context as built: cryptography's AES in ECB making the counter-mode keystream
   with one context per session key, pre-keyed hashlib HMAC-SHA1 copied per packet;
3. the straightforward form: a new cryptography AES-CTR cipher per packet, hmac.digest one-shot.

Also timed for scale: `mcsec dissect` of pcaps/psk-call.pcapng per packet, and codec.srtp with
AES-256-CM/HMAC-SHA1-32 and NULL cipher (which pylibsrtp's profiles do not offer).
Prints µs/packet and ratios to libsrtp.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import pylibsrtp  # noqa: E402
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes  # noqa: E402

from codec import srtp  # noqa: E402

N = 2000
SSRC = 0x1234ABCD


def per_packet(fn, packets, repeats=7) -> float:
    """Median over ``repeats`` runs of the time per packet (µs)."""
    fn(packets[:50])  # warm up
    samples = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn(packets)
        samples.append((time.perf_counter() - t0) / len(packets) * 1e6)
    return statistics.median(samples)


def main() -> int:
    key, salt = os.urandom(16), os.urandom(14)
    plain = [srtp.rtp_packet(SSRC, i, 160 * i, os.urandom(160)) for i in range(N)]
    tx = pylibsrtp.Session(pylibsrtp.Policy(
        key=key + salt, ssrc_type=pylibsrtp.Policy.SSRC_ANY_OUTBOUND,
        srtp_profile=pylibsrtp.Policy.SRTP_PROFILE_AES128_CM_SHA1_80))
    packets = [tx.protect(p) for p in plain]

    def libsrtp(pkts):
        rx = pylibsrtp.Session(pylibsrtp.Policy(
            key=key + salt, ssrc_type=pylibsrtp.Policy.SSRC_ANY_INBOUND,
            srtp_profile=pylibsrtp.Policy.SRTP_PROFILE_AES128_CM_SHA1_80))
        for p in pkts:
            rx.unprotect(p)

    ctx = srtp.Context(srtp.select_transform(1, 1, 16, 14, 10), key, salt)

    from codec import rtp

    headers = {id(p): rtp.RtpHeader(p) for p in packets}

    def ours(pkts):  # as the dissector calls it: the RTP header parsed once, by the caller
        for p in pkts:
            ctx.unprotect_rtp(p, 0, headers[id(p)])

    def header(pkts):
        for p in pkts:
            rtp.RtpHeader(p)

    ek = srtp.kdf(key, salt, 0, 16)
    ak = srtp.kdf(key, salt, 1, 20)
    ks = int.from_bytes(srtp.kdf(key, salt, 2, 14), "big")

    def naive(pkts):
        for p in pkts:
            seq = int.from_bytes(p[2:4], "big")
            body, tag = p[:-10], p[-10:]
            if not hmac.compare_digest(hmac.digest(ak, body + bytes(4), "sha1")[:10], tag):
                raise ValueError("tag")
            iv = ((ks << 16) ^ (SSRC << 64) ^ (seq << 16)).to_bytes(16, "big")
            c = Cipher(algorithms.AES(ek), modes.CTR(iv)).encryptor()
            c.update(body[12:]) + c.finalize()

    for p, q in zip(packets[:20], plain[:20]):
        assert ctx.unprotect_rtp(p) == q
    t_lib = per_packet(libsrtp, packets)
    t_ours = per_packet(ours, packets)
    t_naive = per_packet(naive, packets)
    t_hdr = per_packet(header, packets)
    print(f"SRTP unprotect, AES-CM-128/HMAC-SHA1-80, {N} packets of 160 octets:")
    print(f"  libsrtp (pylibsrtp)                     {t_lib:7.2f} µs/packet  1.00x")
    print(f"  codec.srtp (ECB keystream, HMAC copy)    {t_ours:7.2f} µs/packet  "
          f"{t_ours / t_lib:.2f}x")
    print(f"  cryptography CTR per packet, hmac.digest {t_naive:7.2f} µs/packet  "
          f"{t_naive / t_lib:.2f}x")
    print(f"  (RTP header parse, construct schema     {t_hdr:7.2f} µs/packet, done once by the "
          f"dissector for every candidate key)")

    # the keystream alone, both ways interleaved (the choice in codec.srtp._ctr)
    keys = ctx.session_keys(False, 0)
    body = os.urandom(160)

    def ks_ecb(pkts):
        for _ in pkts:
            ctx._ctr(keys, SSRC, 5, body)

    def ks_ctr(pkts):
        iv = ((keys.salt << 16) ^ (SSRC << 64) ^ (5 << 16)).to_bytes(16, "big")
        for _ in pkts:
            c = Cipher(algorithms.AES(keys.key), modes.CTR(iv)).encryptor()
            c.update(body) + c.finalize()

    ecb, ctr = [], []
    for _ in range(5):
        ecb.append(per_packet(ks_ecb, packets, 1))
        ctr.append(per_packet(ks_ctr, packets, 1))
    print(f"  keystream: one ECB context per key {statistics.median(ecb):.2f} µs, a CTR cipher "
          f"per packet {statistics.median(ctr):.2f} µs")

    for name, t in (("AES-CM-256/HMAC-SHA1-32", srtp.select_transform(1, 1, 32, 14, 4)),
                    ("NULL/HMAC-SHA1-80", srtp.select_transform(0, 1, 16, 14, 10))):
        k = os.urandom(t.key_len)
        c = srtp.Context(t, k, salt)
        prot = [c.protect_rtp(p) for p in plain]
        hdrs = {id(p): rtp.RtpHeader(p) for p in prot}
        us = per_packet(lambda pkts, c=c: [c.unprotect_rtp(p, 0, hdrs[id(p)]) for p in pkts],
                        prot)
        print(f"  codec.srtp {name:<28} {us:7.2f} µs/packet  (no pylibsrtp profile)")

    from dissectors.pcap import dissect
    from codec.keyring import from_toml
    from dissectors.pcap.session import Session

    cap = ROOT / "pcaps" / "psk-call.pcapng"
    ring = from_toml((ROOT / "pcaps" / "keyring.toml").read_text(), "keyring.toml")
    runs = []
    for _ in range(5):
        t0 = time.perf_counter()
        recs = list(dissect.record_dicts(cap, Session(keyring=ring)))
        runs.append(time.perf_counter() - t0)
    frames = max(r["frame"] for r in recs if "frame" in r)
    print(f"  mcsec dissect psk-call.pcapng (keys): {statistics.median(runs) / frames * 1e6:.0f} "
          f"µs/frame over {frames} frames (start-up and MIKEY included)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
