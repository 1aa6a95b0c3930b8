"""`mcsec dissect --format json` against `tshark -T json` on a generated SIP+MIKEY capture.

Run with ``make bench`` (or ``python benchmarks/bench_dissect.py [--packets N] [--sakke N]``).

The capture (pcap, Ethernet/IPv4/UDP) replicates the private-call INVITE of
``pcaps/private-call.pcapng`` (MIKEY-SAKKE PCK I_MESSAGE in SDP ``a=key-mgmt:mikey``) once every
``--every`` packets, each call with its own ``c=`` address and ``m=`` port (tshark is quadratic
when every call reuses one media address; it also runs with
``-o sdp.establish_conversation:FALSE``), the other packets being RTP-sized UDP filler to the
call's media port.  Reported, in the same run on the same file:

- packets/s and MIKEY messages/s of both tools, and the ratio mcsec / tshark (target ≥ 1.0);
- peak RSS (``wait4`` rusage of the child) of ``mcsec dissect`` on N and 10·N packets: it must
  not grow with the capture (streaming);
- with ``--keys pcaps/keyring.toml``: the time to verify (ECCSI) and decrypt (SAKKE) ``--sakke``
  I_MESSAGEs (target ≤ 30 s for 10,000 on 2 cores, issue 17; the CPU time of mcsec and its
  workers is shown too, steadier on a loaded machine), with the crypto in worker processes
  (default) and, for comparison, in one process (``--workers 1``).  The I_MESSAGEs are
  ``--sakke`` DISTINCT signed messages (``make_captures.py --shape sip --distinct N``: PCKs and
  GMKs between the users of ``pcaps/keyring.toml``, each with its own key, RAND, T and ECCSI
  signature), so no per-message cache can stand in for the crypto; the identity caches (ECCSI Y,
  SAKKE RSK tables) are warm as in a real capture of one KMS period.  Generated once (~12 ms a
  message) and kept in ``benchmarks/.cache``.  Wall time, and CPU time of mcsec with its
  workers, are printed.
- the same keyed run with UID-form identities (issue 14): ``--sakke`` distinct I_MESSAGEs with
  the users' UIDs in IDRi/IDRr (``make_captures.py --identities uid``) and pcaps/keyring.toml
  without its ``uid`` lines (users known by URI only, as a KMS provisions them), so every
  message also matches its UIDs against the keyring users' computed UIDs (cached per user, KMS
  and key period).  Each keyed run counts the verified signatures and the packets given SRTP
  keys in its JSON output.
"""

from __future__ import annotations

import argparse
import os
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from dissectors.pcap.capture import read_frames  # noqa: E402

sys.path.insert(0, str(ROOT / "benchmarks"))
from make_captures import udp_frame as _packet  # noqa: E402

MCSEC = [str(ROOT / ".venv" / "bin" / "mcsec")] if (ROOT / ".venv/bin/mcsec").exists() else [
    sys.executable, "-m", "dissectors.cli"]


def _invite_payload() -> bytes:
    """The UDP payload of the first session-level MIKEY INVITE of private-call.pcapng."""
    for fr in read_frames(ROOT / "pcaps" / "private-call.pcapng"):
        d = getattr(fr, "data", b"")
        if b"INVITE sip:" in d and b"a=key-mgmt:mikey" in d:
            ihl = (d[14] & 15) * 4
            return d[14 + ihl + 8:]
    raise SystemExit("no INVITE with key-mgmt in pcaps/private-call.pcapng")


def make_capture(path: Path, n: int, every: int, invite: bytes | None = None) -> int:
    """Write ``n`` packets; returns the number of MIKEY-carrying INVITEs."""
    invite = invite or _invite_payload()
    text = invite
    assert b"c=IN IP4 192.0.2.10" in text
    filler = bytes(12) + bytes(160)
    a, b = bytes([192, 0, 2, 10]), bytes([198, 51, 100, 10])
    calls = 0
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        port = 20000
        for i in range(n):
            if i % every == 0:
                calls += 1
                addr = f"10.{calls % 256:03d}.{(calls >> 8) % 10}.{(calls >> 12) % 10}".encode()
                port = 10000 + (calls * 2) % 50000
                body = text.replace(b"c=IN IP4 192.0.2.10", b"c=IN IP4 " + addr)
                body = body.replace(b"m=audio ", b"m=audio %05d " % port, 1) if b"m=audio " in body else body
                # keep Content-Length right: the m= port change may add octets
                head, _, sdp = body.partition(b"\r\n\r\n")
                import re
                head = re.sub(rb"Content-Length: *\d+", b"Content-Length: %d" % len(sdp), head)
                pkt = _packet(a, b, 5060, 5060, head + b"\r\n\r\n" + sdp)
            else:
                pkt = _packet(a, bytes([10, 1, 2, 3]), 30000, port, filler)
            f.write(struct.pack("<IIII", 1_700_000_000 + i // 1000, (i % 1000) * 1000,
                                len(pkt), len(pkt)))
            f.write(pkt)
    return calls


def _run_child(cmd, stdout=subprocess.DEVNULL):
    """Wall time and resource usage of one child (its waited-for worker processes included),
    output discarded (or written to ``stdout``, an open file)."""
    t = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=stdout, stderr=subprocess.DEVNULL)
    _, status, ru = os.wait4(p.pid, 0)
    dt = time.perf_counter() - t
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"failed: {' '.join(map(str, cmd))}")
    return dt, ru


def run(cmd) -> tuple[float, int]:
    """Wall time and peak RSS (KiB) of one child."""
    dt, ru = _run_child(cmd)
    return dt, ru.ru_maxrss


def run_cpu(cmd) -> tuple[float, float]:
    """Wall time and CPU time (user + sys, its worker processes included) of one child."""
    dt, ru = _run_child(cmd)
    return dt, ru.ru_utime + ru.ru_stime


def run_keyed(cmd, tmp: str) -> tuple[float, float, int, int]:
    """Wall time, CPU time, and the counts of verified signatures and of packets with SRTP
    master keys in the JSON output of one keyed run (so that a run that verified nothing
    cannot pass for a fast one)."""
    out_path = Path(tmp) / "keyed.json"
    with open(out_path, "wb") as out:
        dt, ru = _run_child(cmd, stdout=out)
    verified = keyed = 0
    with open(out_path, "rb") as f:
        for line in f:
            verified += line.count(b'"mikey.sign.verified": true')
            keyed += b'"mikey.3gpp.srtp_master_key"' in line
    out_path.unlink()
    return dt, ru.ru_utime + ru.ru_stime, verified, keyed


def uri_only_keyring(path: Path) -> Path:
    """pcaps/keyring.toml without its users' UIDs: users known by URI, KMS and period only,
    as a KMS provisions them (TS 33.180 §F.2.1: the receiver computes the UIDs)."""
    text = (ROOT / "pcaps" / "keyring.toml").read_text()
    path.write_text("".join(line for line in text.splitlines(keepends=True)
                            if not line.startswith("uid = ")))
    return path


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--packets", type=int, default=100_000)
    ap.add_argument("--every", type=int, default=10, help="one INVITE+MIKEY per this many packets")
    ap.add_argument("--sakke", type=int, default=10_000, help="I_MESSAGEs for the keyed run")
    ap.add_argument("--no-large", action="store_true", help="skip the 10x RSS run")
    ap.add_argument("--no-inline", action="store_true", help="skip the keyed --workers 1 run")
    ap.add_argument("--no-uid", action="store_true", help="skip the keyed UID-form run")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        small = Path(tmp) / "small.pcap"
        calls = make_capture(small, args.packets, args.every)
        print(f"capture: {args.packets} packets, {calls} INVITEs with MIKEY-SAKKE, "
              f"{small.stat().st_size / 1e6:.1f} MB")
        t_m, rss_m = run(MCSEC + ["dissect", str(small), "--format", "json", "--no-progress"])
        t_t, rss_t = run(["tshark", "-r", str(small), "-T", "json", "-n",
                          "-o", "sdp.establish_conversation:FALSE"])
        print(f"mcsec dissect --format json: {t_m:6.2f} s  {args.packets / t_m:9.0f} pkt/s  "
              f"{calls / t_m:8.0f} MIKEY/s  peak RSS {rss_m / 1024:.0f} MiB")
        print(f"tshark -T json             : {t_t:6.2f} s  {args.packets / t_t:9.0f} pkt/s  "
              f"{calls / t_t:8.0f} MIKEY/s  peak RSS {rss_t / 1024:.0f} MiB")
        print(f"ratio mcsec / tshark (messages/s): {t_t / t_m:.2f}x (target >= 1.0)")
        if not args.no_large:
            large = Path(tmp) / "large.pcap"
            make_capture(large, args.packets * 10, args.every)
            small.unlink()
            t_l, rss_l = run(MCSEC + ["dissect", str(large), "--format", "json", "--no-progress"])
            large.unlink()
            print(f"peak RSS mcsec: {args.packets} pkts {rss_m / 1024:.0f} MiB, "
                  f"{args.packets * 10} pkts {rss_l / 1024:.0f} MiB ({t_l:.1f} s)")
        import make_captures

        # every packet a SIP INVITE with its own signed MIKEY-SAKKE I_MESSAGE (cached)
        keyed = make_captures.make_capture("sip", args.sakke, distinct=args.sakke)
        keyed_cmd = MCSEC + ["dissect", str(keyed), "--format", "json", "--no-progress",
                             "--keys", str(ROOT / "pcaps" / "keyring.toml")]
        t_k, cpu_k, ver_k, key_k = run_keyed(keyed_cmd, tmp)
        print(f"with keys: {args.sakke} MIKEY-SAKKE I_MESSAGEs verified and decrypted in "
              f"{t_k:.1f} s ({args.sakke / t_k:.0f}/s; target 10,000 in <= 30 s on "
              f"{os.cpu_count()} cores, worker processes); CPU {cpu_k:.1f} s, "
              f"{cpu_k / args.sakke * 1e3:.2f} ms per message; {ver_k} signatures verified, "
              f"{key_k} packets with SRTP keys")
        if not args.no_inline:
            t_1, cpu_1, _, _ = run_keyed(keyed_cmd + ["--workers", "1"], tmp)
            print(f"  the same in one process (--workers 1): {t_1:.1f} s, CPU {cpu_1:.1f} s "
                  f"({cpu_1 / args.sakke * 1e3:.2f} ms per message); workers speed-up "
                  f"{t_1 / t_k:.2f}x")
        if not args.no_uid:
            # the same number of distinct messages with the users' UIDs in IDRi/IDRr, and a
            # keyring that knows the users by URI only (issue 14): each message's UIDs are
            # matched against the UIDs computed for the keyring's users (cached per user, KMS
            # and key period)
            uid_cap = make_captures.make_capture("sip", args.sakke, distinct=args.sakke,
                                                 identities="uid")
            ring = uri_only_keyring(Path(tmp) / "uri-only.keyring.toml")
            t_u, cpu_u, ver_u, key_u = run_keyed(
                MCSEC + ["dissect", str(uid_cap), "--format", "json", "--no-progress",
                         "--keys", str(ring)], tmp)
            print(f"with keys, UID-form identities and a URI-only keyring: {args.sakke} "
                  f"distinct I_MESSAGEs in {t_u:.1f} s ({args.sakke / t_u:.0f}/s; target "
                  f"<= 30 s); CPU {cpu_u:.1f} s; {ver_u} signatures verified, {key_u} packets "
                  f"with SRTP keys")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
