"""The benchmark captures of issue 17: three shapes, N packets, deterministic, cached.

    python benchmarks/make_captures.py --shape all --packets 100000     # prints the paths

Shapes (classic pcap, Ethernet/IPv4/UDP, microsecond timestamps):

- ``sip``: every packet a SIP INVITE over UDP 5060 whose SDP offer carries one MIKEY-SAKKE
  I_MESSAGE in ``a=key-mgmt:mikey`` (session level in even calls, media level in odd ones, as
  ``mcsec synth --scenario private-call`` writes them);
- ``raw``: every packet one MIKEY-SAKKE I_MESSAGE alone in a UDP datagram to port 2269
  (RFC 3830 §7 / IANA "mikey" port);
- ``mixed``: one call in ten packets: the SIP INVITE with MIKEY (as ``sip``) then nine SRTP
  packets of that call (RTP header, RFC 3550 §5.1, 160 octets of payload and a 10-octet
  authentication tag, RFC 3711 §3.1) to the offer's media port; so 10% of the packets carry
  MIKEY, 90% are media.

What repeats and what does not: the I_MESSAGEs are ``--distinct`` (default 256) real, signed
(ECCSI) and encapsulated (SAKKE) messages made by the ``mcsec synth`` world of ``--seed``
(default 7: the users and KMS of ``pcaps/keyring.toml``, so a keyed run verifies and decrypts
them; ``--identities uid``: with the users' UIDs in IDRi/IDRr instead of their URIs), cycled
in order: PCKs between alice, bob and carol (empty and GENERIC-ID CS ID maps) and
GMKs from the GMS, each with its own key, key ID, RAND, T and ECCSI signature.  In ``raw`` the
UDP payload therefore repeats every ``--distinct`` packets (the source port does not: one per
packet).  In ``sip`` and ``mixed`` no two SIP messages are equal: every INVITE has its own
caller address (10.x.y.z), Call-ID, tags, branch, SDP session ID and media port; only the
``a=key-mgmt`` value cycles.  Media packets have their own SSRC per call and running
sequence numbers; their payload octets are slices of one fixed pseudo-random buffer.

Files go to ``benchmarks/.cache/`` (git-ignored) named by shape, packets, distinct messages, seed
and generator version; an existing file is reused.  The I_MESSAGE set is cached there too (the
SAKKE/ECCSI work, ~70 ms a message, is the slow part of a first run).
"""

from __future__ import annotations

import argparse
import os
import struct
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

CACHE = Path(__file__).resolve().parent / ".cache"
VERSION = 2  # bump when the octets written change, so that cached files are not reused
SHAPES = ("sip", "raw", "mixed")
DEFAULT_PACKETS = 100_000
DEFAULT_DISTINCT = 256
DEFAULT_SEED = 7  # the seed of pcaps/ (mcsec synth's default): pcaps/keyring.toml has the keys
MIKEY_PORT = 2269  # RFC 3830 §7
SIP_PORT = 5060
MIKEY_EVERY_MIXED = 10  # one INVITE with MIKEY per 10 packets in the mixed shape
IDENTITIES = ("uri", "uid")  # what IDRi/IDRr carry (see i_messages)

_ETH_IPV4 = bytes.fromhex("02005e0000280200 5e0000010800".replace(" ", ""))


# -- packets ------------------------------------------------------------------------------------
def _ip_checksum(header: bytes) -> int:  # RFC 791 §3.1 header checksum
    s = sum(struct.unpack("!10H", header))
    s = (s & 0xFFFF) + (s >> 16)
    return ~((s & 0xFFFF) + (s >> 16)) & 0xFFFF


def udp_frame(src: bytes, dst: bytes, sport: int, dport: int, payload: bytes) -> bytes:
    """Ethernet II / IPv4 (no options, DF) / UDP (checksum 0: not computed, RFC 768)."""
    udp = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0x4000, 64, 17, 0, src, dst)
    ip = ip[:10] + struct.pack("!H", _ip_checksum(ip)) + ip[12:]
    return _ETH_IPV4 + ip + udp


class PcapWriter:
    """Classic pcap (microsecond timestamps, LINKTYPE_ETHERNET), written as it goes."""

    def __init__(self, f, start_unix: int):
        self.f, self.start_us, self.count = f, start_unix * 1_000_000, 0
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1))

    def write(self, frame: bytes, at_us: int) -> None:
        t = self.start_us + at_us
        self.f.write(struct.pack("<IIII", t // 1_000_000, t % 1_000_000, len(frame), len(frame)))
        self.f.write(frame)
        self.count += 1


# -- the I_MESSAGEs -----------------------------------------------------------------------------
def i_messages(distinct: int = DEFAULT_DISTINCT, seed: int = DEFAULT_SEED,
               cache: Path | None = CACHE, identities: str = "uri") -> list[bytes]:
    """``distinct`` signed MIKEY-SAKKE I_MESSAGEs (TS 33.180 §E.2–§E.4) of the synth world of
    ``seed``; every random value (key, key ID, RAND, ECCSI j) is drawn from the seeded Rng.
    ``identities``: "uri" (IDRi/IDRr carry the users' URIs) or "uid" (their 32-octet UIDs,
    TS 33.180 §F.2.1, as real MCPTT clients send them: the receiver must find the user whose
    computed UID matches, issue 14)."""
    if identities not in IDENTITIES:
        raise ValueError(f"identities: {identities!r} is not one of {IDENTITIES}")
    tag = "" if identities == "uri" else f"-{identities}"
    path = cache / f"imessages-m{distinct}-s{seed}{tag}-v{VERSION}.bin" if cache else None
    if path is not None and path.exists():
        data, out, pos = path.read_bytes(), [], 0
        while pos < len(data):
            (n,) = struct.unpack_from("!I", data, pos)
            out.append(data[pos + 4:pos + 4 + n])
            pos += 4 + n
        return out
    from codec.crypto import mcx
    from codec.crypto.p256 import Q as P256_Q
    from codec.mikey import sakke as mikey_sakke
    from dissectors.synth.rng import Rng
    from dissectors.synth.world import build_world

    world = build_world(seed)
    rng = Rng(seed, "benchmarks/i-messages")
    users = ["alice", "bob", "carol"]
    pairs = [(a, b) for a in users for b in users if a != b]
    out = []
    for i in range(distinct):
        if i % 3 == 2:  # a group key from the GMS to one member (TS 33.180 §5.7)
            key_type, ini, res, style = "GMK", "gms", users[(i // 3) % 3], "generic"
        else:  # a private call key (TS 33.180 §7.3), both CS ID map styles
            key_type, (ini, res) = "PCK", pairs[i % len(pairs)]
            style = "empty" if i % 2 == 0 else "generic"
        p_ini, p_res = world.people[ini], world.people[res]
        out.append(mikey_sakke.build_i_message(
            key_type, rng.bytes(16), mcx.make_key_id(key_type, rng.randbelow(1 << 28)),
            p_ini.party(world), p_res.party(world),
            ntp_time=(world.ntp + 60 * i) << 32, rand=rng.bytes(16), map_style=style,
            j=rng.randbelow(P256_Q - 1) + 1, identities=identities))
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(b"".join(struct.pack("!I", len(w)) + w for w in out))
        os.replace(tmp, path)
    return out


# -- SIP INVITEs --------------------------------------------------------------------------------
def _caller_ip(call: int) -> bytes:
    """10.b.c.d, d in 1..254: one address per call for 16 million calls."""
    rest, d = divmod(call, 254)
    return bytes([10, (rest >> 8) & 0xFF, rest & 0xFF, d + 1])


def invite(call: int, key_mgmt_line: str, rng, world) -> tuple[bytes, bytes, int]:
    """(caller IPv4, SIP INVITE, offered media port) of call number ``call``: alice's private
    call INVITE of ``mcsec synth`` with its own caller host and values."""
    from dissectors.synth import sip as synth_sip
    from dissectors.synth.net import Host

    ip = _caller_ip(call)
    caller = Host("ue", "02:00:5e:00:00:01", ".".join(map(str, ip)))
    server = world.people["mcptt-server"].host
    port = 16384 + 2 * (call % 16000)  # RTP on even ports, RTCP the next (RFC 3550 §11)
    media_level = call % 2 == 1
    media = [synth_sip.audio_media(port, [key_mgmt_line] if media_level else [])]
    offer = synth_sip.sdp(caller, 1000 + call, media, [] if media_level else [key_mgmt_line],
                          user="alice")
    dialog = synth_sip.Dialog(rng, caller, server, world.people["alice"].uri,
                              world.people["bob"].uri)
    msg = dialog.request("INVITE", offer, "application/sdp", headers=[
        ("P-Preferred-Service", "urn:urn-7:3gpp-service.ims.icsi.mcptt")])
    return ip, msg, port


# -- the shapes ---------------------------------------------------------------------------------
def capture_path(shape: str, packets: int, distinct: int = DEFAULT_DISTINCT,
                 seed: int = DEFAULT_SEED, cache: Path = CACHE, identities: str = "uri") -> Path:
    tag = "" if identities == "uri" else f"-{identities}"
    return cache / f"{shape}-n{packets}-m{distinct}-s{seed}{tag}-v{VERSION}.pcap"


def mikey_packets(shape: str, packets: int) -> int:
    """How many packets of a capture carry a MIKEY message."""
    if shape == "mixed":
        return (packets + MIKEY_EVERY_MIXED - 1) // MIKEY_EVERY_MIXED
    return packets


def make_capture(shape: str, packets: int = DEFAULT_PACKETS, distinct: int = DEFAULT_DISTINCT,
                 seed: int = DEFAULT_SEED, cache: Path = CACHE, out: Path | None = None,
                 identities: str = "uri") -> Path:
    """Write (or find in the cache) one capture; returns its path."""
    if shape not in SHAPES:
        raise ValueError(f"unknown shape {shape!r}: choose from {SHAPES}")
    path = out or capture_path(shape, packets, distinct, seed, cache, identities)
    if path.exists() and out is None:
        return path
    import base64

    from dissectors.synth.rng import Rng
    from dissectors.synth.world import build_world

    messages = i_messages(distinct, seed, cache, identities)
    world = build_world(seed)
    rng = Rng(seed, f"benchmarks/{shape}")
    server_ip = bytes(map(int, world.people["mcptt-server"].host.ip.split(".")))
    callee_ip = bytes(map(int, world.people["bob"].host.ip.split(".")))
    lines = ["a=key-mgmt:mikey " + base64.b64encode(w).decode() for w in messages]
    media = rng.bytes(4096)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        pcap = PcapWriter(f, world.start_unix)
        if shape == "raw":
            for i in range(packets):
                sport = 49152 + i % 16384  # dynamic ports (RFC 6335 §6): 2269 decides
                pcap.write(udp_frame(_caller_ip(i), server_ip, sport, MIKEY_PORT,
                                     messages[i % distinct]), i * 1000)
        elif shape == "sip":
            for i in range(packets):
                ip, msg, _ = invite(i, lines[i % distinct], rng, world)
                pcap.write(udp_frame(ip, server_ip, SIP_PORT, SIP_PORT, msg), i * 1000)
        else:
            call = port = ssrc = seq = 0
            caller = b""
            for i in range(packets):
                if i % MIKEY_EVERY_MIXED == 0:
                    caller, msg, port = invite(call, lines[call % distinct], rng, world)
                    pcap.write(udp_frame(caller, server_ip, SIP_PORT, SIP_PORT, msg), i * 2000)
                    ssrc, seq = rng.u32(), rng.randbelow(30000)
                    call += 1
                    continue
                seq += 1
                rtp = struct.pack("!BBHII", 0x80, 96, seq & 0xFFFF, (seq * 320) & 0xFFFFFFFF,
                                  ssrc)
                off = (i * 173) % (len(media) - 170)
                pcap.write(udp_frame(callee_ip, caller, 50170, port,
                                     rtp + media[off:off + 170]), i * 2000)
    os.replace(tmp, path)
    return path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--shape", choices=(*SHAPES, "all"), default="all")
    ap.add_argument("--packets", type=int, default=DEFAULT_PACKETS)
    ap.add_argument("--distinct", type=int, default=DEFAULT_DISTINCT,
                    help="distinct I_MESSAGEs, cycled (default %(default)s)")
    ap.add_argument("--seed", type=int, default=DEFAULT_SEED)
    ap.add_argument("--identities", choices=IDENTITIES, default="uri",
                    help="what IDRi/IDRr carry: the users' URIs or their UIDs (default %(default)s)")
    ap.add_argument("--cache", type=Path, default=CACHE, help="directory (default %(default)s)")
    ap.add_argument("-o", "--out", type=Path, help="write one shape to this file instead")
    a = ap.parse_args(argv)
    if a.packets < 1 or a.distinct < 1:
        ap.error("--packets and --distinct must be at least 1")
    shapes = SHAPES if a.shape == "all" else (a.shape,)
    if a.out and len(shapes) > 1:
        ap.error("-o needs one --shape")
    for shape in shapes:
        print(make_capture(shape, a.packets, a.distinct, a.seed, a.cache, a.out, a.identities))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
