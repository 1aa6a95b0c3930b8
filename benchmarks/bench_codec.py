"""Decode/encode throughput of the MIKEY codec, and the ratio to tshark on the same messages.

Run with ``make bench``.  The message is a typical MIKEY-SAKKE I_MESSAGE (RFC 6509 §4: HDR, T,
RAND, IDRi, IDRr, SAKKE, SIGN).  Our rates come from timeit (best of several repeats, one core).
tshark's per-message rate is measured on captures of N1 and N2 copies of that message in UDP, as
(N2 - N1) / (t(N2) - t(N1)), which removes tshark's start-up time from the figure.
Targets (issue 3): >= 20,000 decodes/s and >= 20,000 encodes/s.

Then the same on a set of distinct real MIKEY-SAKKE I_MESSAGEs (``--distinct``, default 256: the
signed and encapsulated PCKs and GMKs of ``benchmarks/make_captures.py``, as in the capture
benchmarks), decoded and encoded in turn, so that no one message's path through the codec is
the only one measured.  Target (issue 17): >= 40,000 messages/s each.

Last, every MIKEY message of the bundled samples (``pcaps/messages/`` and the ``a=key-mgmt:mikey``
lines of ``pcaps/*.pcapng``: SAKKE PCK/GMK/CSK, PSK, TICKET, UID forms), decoded, encoded and
rendered to JSON (``codec.mikey.render.to_json``, what the dissector prints per packet).

Rates move with the machine's load: compare before/after in the same minute, or count
instructions (``valgrind --tool=callgrind``), which load does not change.
"""

from __future__ import annotations

import argparse
import base64
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import timeit
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from codec import mikey as m  # noqa: E402

TARGET = 20_000
TARGET_DISTINCT = 40_000  # issue 17


def sakke_i_message() -> bytes:
    hdr = m.HDR(data_type=26, prf_func=1, csb_id=0x0ABC1234, cs_id_map_type=1)
    return m.encode(m.Message(hdr, [
        m.T(ts_type=0, ts_value=0xECB1C2A3_00000000),
        m.RAND(rand=bytes(range(16))),
        m.IDR(id_role=1, id_type=1, id_data=b"sip:alice@mcptt.example.org"),
        m.IDR(id_role=2, id_type=1, id_data=b"sip:bob@mcptt.example.org"),
        m.SAKKE(sakke_params=1, id_scheme=2, sakke_data=b"\x04" + bytes(range(256)) + bytes(16)),
        m.SIGN(s_type=2, signature=bytes(range(129))),
    ]))


def rate(fn, number) -> float:
    best = min(timeit.repeat(fn, number=number, repeat=5))
    return number / best


def tshark_rate(wire: bytes, n1: int, n2: int, args: list[str]) -> float | None:
    tshark = shutil.which("tshark")
    if tshark is None:
        return None
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from tests.conftest import write_udp_pcap

    with tempfile.TemporaryDirectory() as d:
        times = {}
        for n in (n1, n2):
            pcap = Path(d) / f"{n}.pcap"
            write_udp_pcap(pcap, [wire] * n)
            best = float("inf")
            for _ in range(3):
                t0 = time.perf_counter()
                subprocess.run([tshark, "-r", str(pcap), *args], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, check=True,
                               env={**os.environ, "LC_ALL": "C"})
                best = min(best, time.perf_counter() - t0)
            times[n] = best
        return (n2 - n1) / (times[n2] - times[n1])


def distinct_rates(distinct: int) -> None:
    """Decode and encode messages/s over ``distinct`` different signed I_MESSAGEs."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from make_captures import i_messages

    wires = i_messages(distinct)
    msgs = [m.decode(w) for w in wires]
    assert [m.encode(x) for x in msgs] == wires, "encode(decode(w)) != w"

    def decode_all():
        for w in wires:
            m.decode(w)

    def encode_all():
        for x in msgs:
            m.encode(x)

    repeat = max(1, 5000 // len(wires))
    dec = rate(decode_all, repeat) * len(wires)
    enc = rate(encode_all, repeat) * len(wires)
    sizes = sorted(len(w) for w in wires)
    print(f"{len(wires)} distinct MIKEY-SAKKE I_MESSAGEs (PCK/GMK, {sizes[0]}-{sizes[-1]} octets):")
    for label, r in (("decode", dec), ("encode", enc)):
        print(f"mcsec {label}: {r:>10,.0f} msg/s   target {TARGET_DISTINCT:,}  "
              f"{'OK' if r >= TARGET_DISTINCT else 'BELOW'}")


def sample_messages() -> list[bytes]:
    """The distinct MIKEY messages of the bundled samples (SDP key-mgmt lines, the hex sample)."""
    root = Path(__file__).resolve().parent.parent / "pcaps"
    wires = [bytes.fromhex("".join((root / "messages" / "mikey-sakke-pck.hex").read_text().split()))]
    files = sorted(root.glob("*.pcapng")) + [root / "messages" / "mikey-sakke-gmk.sdp"]
    for f in files:
        for b64 in re.findall(rb"key-mgmt:mikey ([A-Za-z0-9+/=]+)", f.read_bytes()):
            try:
                wires.append(base64.b64decode(b64, validate=True))
            except ValueError:
                continue
    return [w for w in dict.fromkeys(wires) if _decodes(w)]


def _decodes(wire: bytes) -> bool:
    try:
        m.decode(wire)
    except m.DecodeError:
        return False
    return True


def sample_rates() -> None:
    """Decode, encode and to_json messages/s over the bundled sample messages."""
    from codec.mikey import render

    wires = sample_messages()
    if not wires:
        print("no sample messages found under pcaps/")
        return
    msgs = [m.decode(w) for w in wires]
    repeat = max(1, 5000 // len(wires))

    def each(fn, items):
        def run():
            for x in items:
                fn(x)
        return rate(run, repeat) * len(items)

    kinds = sorted({registry_name(x) for x in msgs})
    print(f"{len(wires)} sample MIKEY messages from pcaps/ ({', '.join(kinds)}):")
    for label, r in (("decode", each(m.decode, wires)), ("encode", each(m.encode, msgs)),
                     ("to_json", each(render.to_json, msgs))):
        target = f"target {TARGET_DISTINCT:,}  {'OK' if r >= TARGET_DISTINCT else 'BELOW'}" \
            if label != "to_json" else "(no target)"
        print(f"mcsec {label + ':':8s} {r:>10,.0f} msg/s   {target}")


def registry_name(msg) -> str:
    from codec.mikey import registry

    return registry.DATA_TYPES.get(msg.hdr.data_type, str(msg.hdr.data_type))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n1", type=int, default=1000)
    ap.add_argument("--n2", type=int, default=21000)
    ap.add_argument("--no-tshark", action="store_true")
    ap.add_argument("--distinct", type=int, default=256,
                    help="distinct MIKEY-SAKKE I_MESSAGEs for the second measurement")
    a = ap.parse_args()

    wire = sakke_i_message()
    msg = m.decode(wire)
    assert m.encode(msg) == wire
    m.decode(wire)  # compile schemas outside the timed region
    dec = rate(lambda: m.decode(wire), 5000)
    enc = rate(lambda: m.encode(msg), 5000)
    print(f"message: MIKEY-SAKKE I_MESSAGE, {len(wire)} octets, {len(msg.payloads)} payloads")
    print(f"mcsec decode: {dec:>10,.0f} msg/s   target {TARGET:,}  {'OK' if dec >= TARGET else 'BELOW'}")
    print(f"mcsec encode: {enc:>10,.0f} msg/s   target {TARGET:,}  {'OK' if enc >= TARGET else 'BELOW'}")
    distinct_rates(a.distinct)
    sample_rates()
    if a.no_tshark:
        return 0
    for label, args in [("tshark -T fields -e mikey.csb_id", ["-T", "fields", "-e", "mikey.csb_id"]),
                        ("tshark -V", ["-V"])]:
        t = tshark_rate(wire, a.n1, a.n2, args)
        if t is None:
            print("tshark: not installed, no ratio")
            break
        print(f"{label:34s}: {t:>10,.0f} msg/s   mcsec decode / tshark = {dec / t:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
