"""Fuzz campaign against mcsec's own decoders (issue 9 item 4).

    .venv/bin/python benchmarks/fuzz_campaign.py --seed 1 --inputs 100000 --seconds 600
    .venv/bin/python benchmarks/fuzz_campaign.py --targets mikey.raw,pcap --seed 2 --json out.json

Every target is fed deterministic mutants (``--seed``) of the sample inputs in ``pcaps/``; the
documented outcome for any input is a result or the target's typed error:

=============== ======================================================= ==========================
target          what is called                                          allowed exceptions
=============== ======================================================= ==========================
mikey.raw       codec.mikey.decode on byte mutants / random octets;     codec.DecodeError
                what decodes must re-encode to the same octets
mikey.struct    codec.mikey.decode on dissectors.fuzz.mutators.Mutator mutants   codec.DecodeError
                (all 14 mutation classes), stacked with byte mutations
cms.decode      codec.cms.decode on DER-aware mutants / random octets   codec.DecodeError
cms.open        codec.cms.open_layers(der, keyring of pcaps/)           DecodeError, cms.CmsError
mime            codec.mime.parse + find_smime on mutated SIP messages   codec.DecodeError
sip.framer      codec.sip.StreamFramer fed mutated SIP streams in       (none)
                random chunks
sdp             codec.sdp.key_mgmt_attributes (+ mikey.decode of each)  codec.DecodeError
kms             codec.kms.parse(xml, transport key)                     codec.kms.KmsXmlError
pcap            dissectors.pcap.capture.read_frames + flows.flow_events on   (none: CaptureFault
                mutated pcapng / pcap files (io.BytesIO)                records are results)
=============== ======================================================= ==========================

Per input the harness measures wall time (an input over ``--slow-ms`` is re-run once; it counts
as slow only if it is slow again), a watchdog (``--hang-seconds``) turns a hang into a finding,
and every ``--trace-every``-th input runs under tracemalloc to measure its peak allocation.
RSS growth of the process over each target (after a warm-up) shows leaks.  The table printed at
the end is the campaign's record (docs/FUZZING.md).  Inputs that raise anything else are saved
under ``--save-dir`` (one per distinct exception site) for tests/regressions/.
"""

from __future__ import annotations

import argparse
import base64
import gc
import hashlib
import io
import json
import os
import platform
import random
import re
import resource
import signal
import stat
import struct
import sys
import time
import tracemalloc
import traceback
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

PCAPS = ROOT / "pcaps"
INTERESTING8 = (0x00, 0x01, 0x7F, 0x80, 0xFF, 0x02, 0x10, 0x20, 0x40, 0xFE)
INTERESTING16 = (0, 1, 0x7F, 0x80, 0xFF, 0x100, 0x7FFF, 0x8000, 0xFFFF, 0xFFFE)
INTERESTING32 = (0, 1, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, 0xFFFFFFFE, 0x10000, 12, 28, 32)


class Hang(BaseException):
    """Raised by the watchdog: an input ran longer than --hang-seconds."""


# ----------------------------------------------------------------------------------------------
# Corpus: everything from pcaps/ (sample messages, manifest objects, captures, KMS documents)
# ----------------------------------------------------------------------------------------------
@dataclass
class Corpus:
    mikey: list = field(default_factory=list)
    cms: list = field(default_factory=list)
    sip: list = field(default_factory=list)  # complete SIP messages (bytes)
    sip_streams: list = field(default_factory=list)  # TCP SIP byte streams (one direction)
    sdp: list = field(default_factory=list)
    kms: list = field(default_factory=list)
    captures: list = field(default_factory=list)  # (name, bytes)
    rtcp: list = field(default_factory=list)  # plaintext RTCP with MCPTT floor control
    msrp: list = field(default_factory=list)  # plaintext MSRP streams
    trk: bytes = b""
    keyring: object = None


def _pcap_from_frames(frames, linktype) -> bytes:
    """A classic pcap (µs, little endian) of the same frames, so the pcap path is fuzzed too."""
    out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, linktype)]
    for f in frames:
        ts = f.ts_ns or 0
        out.append(struct.pack("<IIII", ts // 10**9, (ts % 10**9) // 1000, len(f.data),
                               f.orig_len) + f.data)
    return b"".join(out)


def load_corpus() -> Corpus:
    from codec import sdp as S
    from codec import sip as SIP
    from dissectors.pcap.capture import CaptureFault, read_frames
    from dissectors.pcap.flows import Datagram, StreamData, flow_events
    from dissectors.keys import load_keys

    c = Corpus()
    manifest = json.loads((PCAPS / "manifest.json").read_text())
    c.trk = bytes.fromhex(manifest["transport_key"])
    c.keyring = load_keys([PCAPS / manifest["keyring"], PCAPS / manifest["pem"]],
                          transport_key=c.trk)
    for e in manifest["entries"]:
        if e.get("mikey"):
            c.mikey.append(bytes.fromhex(e["mikey"]))
        if e.get("cms"):
            c.cms.append(bytes.fromhex(e["cms"]))
        if e.get("floor_message"):
            c.rtcp.append(bytes.fromhex(e["rtcp"]))
    c.msrp += [bytes.fromhex(e["msrp"]) for e in manifest.get("tls_entries", ()) if e.get("msrp")]
    msgs = PCAPS / "messages"
    c.mikey.append(bytes.fromhex((msgs / "mikey-sakke-pck.hex").read_text().split()[0]))
    gmk_sdp = (msgs / "mikey-sakke-gmk.sdp").read_text()
    c.sdp.append(gmk_sdp)
    c.mikey += [k.data for k in S.key_mgmt_attributes(gmk_sdp)]
    for p in sorted((PCAPS / "kms").glob("*.xml")):
        c.kms.append(p.read_bytes())
    for p in sorted(PCAPS.glob("*.pcapng")):
        data = p.read_bytes()
        c.captures.append((p.name, data))
        frames = [r for r in read_frames(io.BytesIO(data)) if not isinstance(r, CaptureFault)]
        if frames and len({f.linktype for f in frames}) == 1:
            c.captures.append((p.stem + ".pcap", _pcap_from_frames(frames, frames[0].linktype)))
        streams: dict = {}
        for ev in flow_events(read_frames(io.BytesIO(data))):
            if isinstance(ev, Datagram) and SIP.looks_like_sip(ev.payload):
                c.sip.append(ev.payload)
            elif isinstance(ev, StreamData):
                streams.setdefault((ev.flow_id, ev.direction), bytearray()).extend(ev.data)
        for s in streams.values():
            if SIP.looks_like_sip(bytes(s[:64])):
                c.sip_streams.append(bytes(s))
                c.sip += [f.data for f in SIP.StreamFramer().feed(bytes(s)) if f.data]
    for m in c.sip:
        if b"v=0" in m:
            body = m.split(b"\r\n\r\n", 1)[-1]
            if b"a=key-mgmt" in body:
                c.sdp.append(body.decode("latin-1"))
    # dedupe, keep order
    c.rtcp.append(b"".join(c.rtcp[:3]))  # a compound packet
    for name in ("mikey", "cms", "sip", "sip_streams", "sdp", "kms", "rtcp", "msrp"):
        setattr(c, name, list(dict.fromkeys(getattr(c, name))))
    return c


# ----------------------------------------------------------------------------------------------
# Mutators
# ----------------------------------------------------------------------------------------------
def byte_mutate(rng: random.Random, data: bytes, others=(), max_ops: int = 6) -> bytes:
    """AFL-style havoc: 1..max_ops of bit flips, interesting values, inserts, deletes, duplicated
    and spliced ranges, truncation."""
    b = bytearray(data)
    for _ in range(rng.randint(1, max_ops)):
        op = rng.randrange(13)
        n = len(b)
        if n == 0:
            b += rng.randbytes(rng.randint(1, 16))
            continue
        i = rng.randrange(n)
        if op == 0:
            b[i] ^= 1 << rng.randrange(8)
        elif op == 1:
            b[i] = rng.choice(INTERESTING8)
        elif op == 2:
            b[i] = rng.randrange(256)
        elif op == 3 and n >= 2:
            b[i:i + 2] = struct.pack(rng.choice((">H", "<H")), rng.choice(INTERESTING16))[:n - i]
        elif op == 4 and n >= 4:
            b[i:i + 4] = struct.pack(rng.choice((">I", "<I")), rng.choice(INTERESTING32))[:n - i]
        elif op == 5:
            b[i:i] = rng.randbytes(rng.choice((1, 2, 4, 16, 64)))
        elif op == 6:
            del b[i:i + rng.choice((1, 2, 4, 16, 64, n))]
        elif op == 7:
            j = rng.randrange(n)
            chunk = b[j:j + rng.choice((1, 4, 16, 64, 256))]
            b[i:i] = chunk * rng.choice((1, 1, 2, 8))
        elif op == 8:
            del b[i:]
        elif op == 9 and others:
            o = rng.choice(others)
            if o:
                j = rng.randrange(len(o))
                b[i:] = o[j:j + rng.randint(1, len(o))]
        elif op == 10:
            b[i] = (b[i] + rng.choice((1, -1, 2, -2, 16, -16))) & 0xFF
        elif op == 11:  # overwrite with a copy of another region
            j = rng.randrange(n)
            k = rng.randint(1, 32)
            b[i:i + k] = b[j:j + k]
        else:
            b[i] = rng.choice(b"\r\n:;=<>/ \"'0123456789-")
    return bytes(b)


def random_bytes(rng: random.Random, max_size: int = 2048) -> bytes:
    return rng.randbytes(rng.choice((0, 1, 2, 4, 10, 16, 64, 256, rng.randint(0, max_size))))


# -- DER ---------------------------------------------------------------------------------------
def der_headers(data: bytes, start: int = 0, end: int | None = None, depth: int = 0, out=None):
    """(offset of the tag, offset of the length, length of the length octets) of every TLV."""
    out = [] if out is None else out
    end = len(data) if end is None else end
    i = start
    while i + 2 <= end and depth < 40 and len(out) < 4000:
        tag_at = i
        tag = data[i]
        i += 1
        if tag & 0x1F == 0x1F:
            while i < end and data[i] & 0x80:
                i += 1
            i += 1
        if i >= end:
            break
        len_at = i
        first = data[i]
        if first < 0x80:
            length, nlen = first, 1
        elif first == 0x80:
            break
        else:
            k = first & 0x7F
            if k > 4 or i + 1 + k > end:
                break
            length, nlen = int.from_bytes(data[i + 1:i + 1 + k], "big"), 1 + k
        out.append((tag_at, len_at, nlen))
        body = len_at + nlen
        if body + length > end:
            break
        if tag & 0x20:  # constructed: descend
            der_headers(data, body, body + length, depth + 1, out)
        elif tag in (0x04, 0x03) and length > 2 and data[body + (tag == 0x03)] in (0x30, 0x31):
            der_headers(data, body + (tag == 0x03), body + length, depth + 1, out)  # wrapped DER
        i = body + length
    return out


def der_mutate(rng: random.Random, data: bytes, others=()) -> bytes:
    heads = der_headers(data)
    if not heads or rng.random() < 0.3:
        return byte_mutate(rng, data, others)
    b = bytearray(data)
    tag_at, len_at, nlen = rng.choice(heads)
    cur = int.from_bytes(b[len_at + 1:len_at + nlen], "big") if nlen > 1 else b[len_at]
    op = rng.randrange(9)
    if op == 0:  # a lying length in the same number of octets
        if nlen == 1:
            b[len_at] = rng.choice([0, 0x7F, max(cur - 1, 0), min(cur + 1, 0x7F)])
        else:
            v = rng.choice([0, cur + 1, max(cur - 1, 0), (1 << (8 * (nlen - 1))) - 1])
            b[len_at + 1:len_at + nlen] = (v % (1 << (8 * (nlen - 1)))).to_bytes(nlen - 1, "big")
    elif op == 1:  # indefinite length (BER), or a long-form length that claims everything
        b[len_at:len_at + nlen] = rng.choice([b"\x80", b"\x84\xff\xff\xff\xff", b"\x85",
                                              b"\x88" + b"\xff" * 8, b"\x81\x00"])
    elif op == 2:  # another tag
        b[tag_at] = rng.choice([0x30, 0x31, 0x02, 0x04, 0x05, 0x06, 0x03, 0x0C, 0x17, 0x18,
                                0xA0, 0xA1, 0xA2, 0xA3, 0x80, 0x81, 0x1F, 0xFF, 0x24, 0x00])
    elif op == 3:  # non-minimal long form of the same length
        b[len_at:len_at + nlen] = b"\x82" + cur.to_bytes(2, "big") if cur < 65536 else b"\x80"
    elif op == 4:  # drop the TLV's content
        body = len_at + nlen
        del b[body:body + cur]
    elif op == 5:  # duplicate the TLV
        body = len_at + nlen
        tlv = b[tag_at:body + cur]
        b[tag_at:tag_at] = tlv
    elif op == 6:  # deep nesting
        n = rng.choice([20, 40, 200, 2000])
        body = len_at + nlen
        inner = bytes(b[tag_at:body + cur])
        for _ in range(n):
            inner = b"\x30" + _der_len(len(inner)) + inner
            if len(inner) > 1 << 20:
                break
        b[tag_at:body + cur] = inner
    elif op == 7:  # a huge INTEGER / OID
        b[tag_at:tag_at] = rng.choice([b"\x02\x82\x10\x00" + b"\xff" * 4096,
                                       b"\x06\x82\x01\x00" + b"\x81" * 256,
                                       b"\x06\x00", b"\x02\x00"])
    else:
        return byte_mutate(rng, bytes(b), others, max_ops=2)
    return bytes(b)


def _der_len(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    k = (n.bit_length() + 7) // 8
    return bytes([0x80 | k]) + n.to_bytes(k, "big")


# -- text (SIP, SDP, XML) ----------------------------------------------------------------------
def text_mutate(rng: random.Random, data: bytes, others=()) -> bytes:
    if rng.random() < 0.45:
        return byte_mutate(rng, data, others)
    lines = data.split(b"\n")
    for _ in range(rng.randint(1, 3)):
        if not lines:
            lines = [b""]
        i = rng.randrange(len(lines))
        op = rng.randrange(12)
        if op == 0:
            del lines[i]
        elif op == 1:
            lines.insert(i, lines[rng.randrange(len(lines))])
        elif op == 2:  # numbers lie
            lines[i] = re.sub(rb"\d+", lambda m: rng.choice(
                [b"0", b"-1", b"99999999999999999999", b"4294967296", str(
                    int(m.group()) + rng.choice((-1, 1, 100))).encode()]), lines[i], count=1)
        elif op == 3:  # a very long line
            lines[i] = lines[i] + rng.choice([b"A", b";", b" ", b"=", b"<a>"]) * rng.choice(
                (100, 5000, 70000))
        elif op == 4:
            lines[i] = lines[i].replace(b":", b"", 1)
        elif op == 5:
            lines[i] = lines[i].rstrip(b"\r")
        elif op == 6:  # boundary and parameters games
            lines[i] = re.sub(rb'boundary="?[^";\r]*"?', rng.choice(
                [b"boundary=", b'boundary=""', b"boundary=x", b'boundary="' + b"-" * 80 + b'"']),
                lines[i])
        elif op == 7:  # base64 damage
            lines[i] = re.sub(rb"[A-Za-z0-9+/]{8,}={0,2}", lambda m: rng.choice(
                [m.group()[:-1], m.group() + b"=", m.group().replace(b"A", b"*", 1), b"",
                 base64.b64encode(rng.randbytes(rng.randint(0, 300)))]), lines[i], count=1)
        elif op == 8:
            lines[i:i] = [rng.choice([b"Content-Type: multipart/mixed; boundary=zz",
                                      b"Content-Length: 0", b"l: 100000000",
                                      b"Content-Type: application/pkcs7-mime; smime-type=x",
                                      b"Content-Transfer-Encoding: base64", b"--zz", b"--zz--",
                                      b"a=key-mgmt:mikey AAAA", b"m=audio 0 RTP/SAVP 0",
                                      b"\r", b"", b" folded", b"\t"])]
        elif op == 9:
            cut = rng.randrange(len(lines) + 1)
            lines = lines[:cut]
        elif op == 10:  # XML structure games
            lines[i] = re.sub(rb"<(/?)([A-Za-z:]+)", lambda m: rng.choice(
                [b"<" + m.group(1) + m.group(2) + b"X", b"<" + m.group(1) + m.group(2),
                 b"<!-- -->", b"<" + m.group(1) + m.group(2) + b' a="&#0;"']), lines[i], count=1)
        else:
            lines[i] = byte_mutate(rng, lines[i], max_ops=2)
    return b"\n".join(lines)


XML_ATTACKS = (
    b'<?xml version="1.0"?><!DOCTYPE a [<!ENTITY e "x">]><a>&e;</a>',
    b'<?xml version="1.0"?><!DOCTYPE a [<!ENTITY % p SYSTEM "file:///etc/passwd"> %p;]><a/>',
    b'<?xml version="1.0"?><!DOCTYPE a SYSTEM "http://127.0.0.1/x.dtd"><a/>',
    b"<a>" * 5000 + b"</a>" * 5000,
    b'<KmsResponse xmlns="urn:3gpp:ns:mcsecKMSInterface:1.0"/>',
    b'<x:KmsResponse xmlns:x="urn:3gpp:ns:mcsecKMSInterface:1.0"><x:KmsMessage/></x:KmsResponse>',
)


def xml_mutate(rng: random.Random, data: bytes, others=()) -> bytes:
    r = rng.random()
    if r < 0.04:
        return rng.choice(XML_ATTACKS)
    if r < 0.35:  # damage the text of one element (keys, numbers, base64, URIs)
        spans = [m.span(1) for m in re.finditer(rb">([^<]+)<", data)]
        if spans:
            a, z = rng.choice(spans)
            repl = rng.choice([b"", b"00", b"zz", data[a:z][:-2], data[a:z] + b"00",
                               data[a:z].lower(), b"-1", b"99999999999999999999999",
                               rng.randbytes(8).hex().encode(), b"&amp;", b"\xff\xfe",
                               base64.b64encode(rng.randbytes(rng.choice((0, 32, 65, 257, 300))))])
            return data[:a] + repl + data[z:]
    if r < 0.45:  # an xsi:type that asks for unwrapping, with garbage
        return data.replace(b'xsi:type="KeyContentType"', rng.choice(
            [b'xsi:type="EncKeyContentType"', b'xsi:type="Other"', b""]), rng.randint(1, 3))
    return text_mutate(rng, data, others)


def pcap_mutate(rng: random.Random, data: bytes, others=()) -> bytes:
    """Mostly small changes (a big one only exercises the first error): block lengths, EPB
    lengths, link/IP/TCP header octets; sometimes block surgery or truncation."""
    b = bytearray(data)
    blocks = []
    if data[:4] == b"\x0a\x0d\x0d\x0a":
        i = 0
        while i + 12 <= len(b) and len(blocks) < 10000:
            n = struct.unpack_from("<I", b, i + 4)[0]
            if n < 12 or n % 4:
                break
            blocks.append((i, n))
            i += n
    op = rng.randrange(10)
    if blocks and op == 0:  # block length lies
        i, n = rng.choice(blocks)
        where = rng.choice([i + 4, i + n - 4])
        struct.pack_into("<I", b, where, rng.choice([0, 12, n + 4, n - 4, n + 1, 0xFFFFFFFF,
                                                     16 << 20, n * 2]))
    elif blocks and op == 1:  # EPB captured / original length lies
        epbs = [(i, n) for i, n in blocks if struct.unpack_from("<I", b, i)[0] == 6]
        if epbs:
            i, n = rng.choice(epbs)
            struct.pack_into("<I", b, i + rng.choice([20, 24]),
                             rng.choice([0, 1, n, 0xFFFFFFFF, 65535, 262145]))
    elif blocks and op == 2:  # block surgery: drop, duplicate, swap
        i, n = rng.choice(blocks)
        blk = bytes(b[i:i + n])
        k = rng.randrange(3)
        if k == 0:
            del b[i:i + n]
        elif k == 1:
            b[i:i] = blk * rng.choice((1, 2, 50))
        else:
            j, m = rng.choice(blocks)
            b[i:i + n] = bytes(b[j:j + m])
    elif op == 3:
        del b[rng.randrange(len(b) + 1):]
    elif op in (4, 5, 6):  # a few octets inside one frame's headers
        i, n = rng.choice(blocks) if blocks else (0, len(b))
        for _ in range(rng.randint(1, 4)):
            k = i + 28 + rng.randrange(min(max(n - 28, 1), 80))
            if k < len(b):
                b[k] = rng.choice(INTERESTING8) if rng.random() < 0.5 else rng.randrange(256)
    else:
        return byte_mutate(rng, bytes(b), others, max_ops=3)
    return bytes(b)


# ----------------------------------------------------------------------------------------------
# Targets
# ----------------------------------------------------------------------------------------------
class Invariant(Exception):
    """A target returned, but broke a documented property (reported like an exception).
    ``kind`` (optional) keeps different properties apart as different finding sites."""

    def __init__(self, message: str, kind: str | None = None):
        super().__init__(message)
        self.kind = kind


@dataclass
class Target:
    name: str
    allowed: tuple
    run: object  # callable(data)
    generate: object  # callable(rng) -> data
    seeds: list = field(default_factory=list)  # unmutated inputs (warm-up)
    known: object = None  # callable(data) -> True for inputs that trigger a recorded finding
    slow_ms: float | None = None  # this target's time bound, when longer than --slow-ms
    hang_seconds: float | None = None  # this target's watchdog, when longer than --hang-seconds
    clock: object = time.perf_counter_ns  # what the time bound measures
    ext: str = "bin"  # file name extension of saved inputs


def make_targets(corpus: Corpus, seed: int, struct_pool: int = 2000) -> dict:
    from codec import DecodeError
    from codec import cms, kms, mime, mikey, sdp, sip
    from dissectors.pcap.capture import read_frames
    from dissectors.pcap.flows import flow_events

    def mikey_run(data):
        try:
            msg = mikey.decode(data)
        except DecodeError as e:
            if not (isinstance(e.path, str) and 0 <= e.offset <= len(data)):
                raise Invariant(f"DecodeError with path {e.path!r} offset {e.offset} "
                                f"(input of {len(data)} octets)") from None
            raise
        if mikey.encode(msg) != data:
            raise Invariant("decoded message does not re-encode to the same octets")

    def mikey_raw_gen(rng):
        if rng.random() < 0.1:
            return random_bytes(rng)
        return byte_mutate(rng, rng.choice(corpus.mikey), corpus.mikey)

    pool: list = []

    def mikey_struct_gen(rng):
        if not pool:
            from dissectors.fuzz import mutators as F
            for m in F.Mutator(corpus.mikey, seed=seed).mutants(struct_pool):
                pool.append(m.data)
        base = rng.choice(pool)
        return base if rng.random() < 0.5 else byte_mutate(rng, base, pool, max_ops=2)

    def cms_gen(rng):
        if rng.random() < 0.05:
            return random_bytes(rng)
        if rng.random() < 0.05:
            return b"\x30" + random_bytes(rng, 64)
        return der_mutate(rng, rng.choice(corpus.cms), corpus.cms)

    def cms_open(data):
        cms.open_layers(data, corpus.keyring)

    def mime_run(data):
        ent = mime.parse(data)
        for part in mime.find_smime(ent):
            assert isinstance(part.der, bytes)

    def sip_gen(rng):
        return text_mutate(rng, rng.choice(corpus.sip), corpus.sip)

    def framer_gen(rng):
        base = rng.choice(corpus.sip_streams + corpus.sip)
        return text_mutate(rng, base, corpus.sip) if rng.random() < 0.9 else random_bytes(rng)

    def framer_run(data):
        # deterministic chunking derived from the input itself
        # deterministic chunking derived from the input itself.  Tiny segments only for small
        # inputs: the framer rescans its buffer on every feed, so 1-octet segments of a 64 KiB
        # header cost O(n^2) by design (each feed is bounded; docs/FUZZING.md).
        r = random.Random(hashlib.blake2b(data, digest_size=8).digest())
        fr = sip.StreamFramer()
        total, i = 0, 0
        sizes = (1, 7, 100, 536, 1460, len(data)) if len(data) <= 4096 else (536, 1460, len(data))
        while i < len(data):
            n = r.choice(sizes)
            for f in fr.feed(data[i:i + n]):
                total += len(f.data)
            i += n
        if total + len(fr.buffer) + fr.dropped > len(data):
            raise Invariant("framer delivered more octets than it was fed")

    def sdp_gen(rng):
        return text_mutate(rng, rng.choice(corpus.sdp).encode("latin-1"), [])

    def sdp_run(data):
        for km in sdp.key_mgmt_attributes(data.decode("latin-1")):
            try:
                mikey.decode(km.data)
            except DecodeError:
                pass

    def kms_gen(rng):
        return xml_mutate(rng, rng.choice(corpus.kms), corpus.kms)

    def kms_run(data):
        kms.parse(data, transport_key=corpus.trk, source="fuzz")

    caps = [d for _n, d in corpus.captures]

    def pcap_gen(rng):
        return pcap_mutate(rng, rng.choice(caps), caps)

    def pcap_run(data):
        reader = read_frames(io.BytesIO(data))
        for _ev in flow_events(reader):
            pass

    def floor_gen(rng):
        return byte_mutate(rng, rng.choice(corpus.rtcp), corpus.rtcp)

    def floor_run(data):
        from codec import floor
        for offset, msg in floor.floor_messages(data):
            if isinstance(msg, DecodeError) and not 0 <= msg.offset <= len(data):
                raise Invariant(f"floor DecodeError offset {msg.offset} outside the input")
        floor.decode_app(data)

    def msrp_gen(rng):
        return text_mutate(rng, rng.choice(corpus.msrp), corpus.msrp)

    def msrp_run(data):
        from codec import msrp
        got, rest, _errors = msrp.split_messages(data)
        if sum(len(o) for _, o in got) + len(rest) > len(data):
            raise Invariant("MSRP framing delivered more octets than it was given")
        for _, octets in got:
            msrp.decode(octets)

    return {
        "mikey.raw": Target("mikey.raw", (DecodeError,), mikey_run, mikey_raw_gen, corpus.mikey),
        "mikey.struct": Target("mikey.struct", (DecodeError,), mikey_run, mikey_struct_gen,
                               corpus.mikey),
        "cms.decode": Target("cms.decode", (DecodeError,), cms.decode, cms_gen, corpus.cms),
        "cms.open": Target("cms.open", (DecodeError, cms.CmsError), cms_open, cms_gen,
                           corpus.cms),
        "mime": Target("mime", (DecodeError,), mime_run, sip_gen, corpus.sip),
        "sip.framer": Target("sip.framer", (), framer_run, framer_gen, corpus.sip_streams),
        "sdp": Target("sdp", (DecodeError,), sdp_run, sdp_gen,
                      [x.encode("latin-1") for x in corpus.sdp]),
        "kms": Target("kms", (kms.KmsXmlError,), kms_run, kms_gen, corpus.kms),
        "pcap": Target("pcap", (), pcap_run, pcap_gen, caps),
        "floor": Target("floor", (DecodeError,), floor_run, floor_gen, corpus.rtcp),
        "msrp": Target("msrp", (DecodeError,), msrp_run, msrp_gen, corpus.msrp),
    }


TARGETS = ("mikey.raw", "mikey.struct", "cms.decode", "cms.open", "mime", "sip.framer", "sdp",
           "kms", "pcap", "floor", "msrp")


# ----------------------------------------------------------------------------------------------
# The command line end to end (issue 15): every command x every output mode x mutated inputs
# ----------------------------------------------------------------------------------------------
# One input of the `cli` target is a *case*: an argv for `dissectors.cli.main`, the files it
# names (written to a fresh directory first) and what standard input holds, serialised as JSON
# (so run_target hashes, times and saves it like any other input).  In argv, "{D}" is the case's
# directory and "{P}" is pcaps/ (read only: nothing is ever written there).
CLI_EXITS = (0, 1, 2, 3)
# The time bound of one CLI input is CPU time of this process: a dissection of a SIP-over-TLS
# capture waits for up to four tshark runs (~0.5-1 s each, more on a busy machine), which are
# not mcsec's own work; the wall-clock watchdog (CLI_HANG_SECONDS) still catches what waits.
CLI_SLOW_MS = 3000.0
CLI_HANG_SECONDS = 30.0
HOSTILE_INTS = ("0", "-1", "-5", "1", "2", "255", "256", "65535", "65536", "4294967296",
                "18446744073709551616", "9" * 40, "-" + "9" * 40, "1e3", "0x10", "", " 7", "x",
                "\u0661\u0662", "+3", "1_000")
HOSTILE_HEX = ("", "zz", "0", "abc", "0x00", " 00", "00" * 16, "g" * 32, "\u00e9\u00e9",
               "00" * 70000, "-1", "0" * 31, "\udcff")
HOSTILE_TEXT = ("", " ", "\x7f", "a" * 70000, "\udcff", "sip:\u00e9@x", "-", "--", "%s%n",
                "sip:" + "a" * 65536 + "@x", "\n", "=", "\u202e")
# -o targets that cannot be written (root can write almost anything, so: places that are not
# regular files in a directory that exists)
UNWRITABLE = ("{D}/no/such/dir/out", "{D}", "/dev/full", "/proc/version", "", "{D}/nodir/",
              "/proc/self/nonexistent/x")
HOSTILE_SECONDS = ("0", "-1", "nan", "inf", "-inf", "1e400", "1e-400", "x", "", "0.5", "86400",
                   "9" * 40)
DISPLAY_FILTERS = (  # dissect -Y: tshark 4.0 syntax (dissectors/pcap/display_filter.py)
    'mikey', 'sip.Method == "INVITE"', 'frame.number > 3 && mikey.hdr.v == 1', '!(sip)',
    'mikey.hdr.data_type in {26, 27}', 'mikey.rand.data[0:2] == aa:bb', 'cms',
    'sip.CSeq.method contains "REG"', 'sip.Method matches "^(IN|RE)"', 'udp.port in {5060..5070}',
    'ip.addr == 10.0.0.1', 'frame.time_epoch >= 0', 'srtp.ok == 1', 'sdp.version == 0',
    'mikey.sign.verified == 1 or cms.smime_type', "sip.Method[0] == 'I'", 'tcp.port != 5060')
HOSTILE_FILTERS = (
    "(" * 500 + "sip" + ")" * 500, "!" * 5000 + "sip", '"unterminated', "==", "", "a" * 70000,
    'sip.Method matches "(a+)+$"', 'sip.Method matches "["', "frame.number == " + "9" * 5000,
    "frame.number in {1..99999999999999999999}", "mikey.rand.data[99999999999:] == 00", '"\\x',
    "'", "\udcff", "sip" + " and sip" * 3000, "frame.number[0:-1] == 1", "frame.number == 0x",
    "frame.number == 0b2", "sip.Method == \"\\777\"", "{1..2}", "sip in {}", "a.b.c.d.e" * 1000)
PCAPNG_SHB, PCAPNG_EPB = 0x0A0D0D0A, 6


@dataclass
class CliCorpus:
    c: Corpus
    trk: str = ""
    mikey_pool: list = field(default_factory=list)
    json_docs: list = field(default_factory=list)  # `decode --format json` of the MIKEY seeds
    smime_sip: list = field(default_factory=list)  # SIP MESSAGEs with an S/MIME body
    certs: list = field(default_factory=list)
    keys: list = field(default_factory=list)
    slices: list = field(default_factory=list)  # (pcapng head blocks, [blocks after them])
    full: list = field(default_factory=list)  # every capture file (pcapng and pcap)
    tls_slices: list = field(default_factory=list)  # the same of the SIP-over-TLS captures
    tls_full: list = field(default_factory=list)  # (their dissection runs tshark: ~0.5 s)
    keyring: bytes = b""
    kek_ids: list = field(default_factory=list)
    users: list = field(default_factory=list)
    scenarios: tuple = ()
    mutations: tuple = ()


def _pcapng_blocks(data: bytes) -> list:
    out, i = [], 0
    while i + 12 <= len(data):
        n = struct.unpack_from("<I", data, i + 4)[0]
        if n < 12 or n % 4 or i + n > len(data):
            break
        out.append(data[i:i + n])
        i += n
    return out


def load_cli_corpus(corpus: Corpus, seed: int = 1, pool: int = 300) -> CliCorpus:
    from codec import mikey
    from codec.mikey import render
    from dissectors.fuzz import mutators as FZ
    from dissectors.synth import SCENARIOS

    manifest = json.loads((PCAPS / "manifest.json").read_text())
    cc = CliCorpus(corpus, trk=manifest["transport_key"], scenarios=tuple(SCENARIOS),
                   mutations=tuple(FZ.CLASSES))
    cc.mikey_pool = [m.data for m in FZ.Mutator(corpus.mikey, seed=seed).mutants(pool)]
    for m in corpus.mikey:
        try:
            cc.json_docs.append(json.dumps(render.to_json(mikey.decode(m)), indent=2).encode())
        except Exception:  # noqa: BLE001 - a seed that does not decode is no JSON seed
            pass
    cc.smime_sip = [m for m in corpus.sip if b"pkcs7" in m.lower()]
    pem = (PCAPS / manifest["pem"]).read_bytes()
    for m in re.finditer(rb"-----BEGIN ([A-Z ]+)-----.*?-----END \1-----\n?", pem, re.S):
        (cc.certs if m.group(1) == b"CERTIFICATE" else cc.keys).append(m.group())
    cc.keyring = (PCAPS / manifest["keyring"]).read_bytes()
    cc.kek_ids = re.findall(r'\[\[kek\]\]\nid = "([0-9a-f]+)"', cc.keyring.decode())
    cc.users = re.findall(r'uri = "(sip:[^"]+)"', cc.keyring.decode())
    for name, data in corpus.captures:
        tls = "tls" in name
        (cc.tls_full if tls else cc.full).append(data)
        blocks = _pcapng_blocks(data) if name.endswith(".pcapng") else []
        k = next((i for i, b in enumerate(blocks)
                  if struct.unpack_from("<I", b)[0] == PCAPNG_EPB), None)
        if k:
            (cc.tls_slices if tls else cc.slices).append((blocks[:k], blocks[k:]))
    return cc


def _sip_damage(rng: random.Random, data: bytes) -> bytes:
    """Same-length damage inside a SIP message of a capture (lengths and checksums still
    match, so the damage reaches the SIP parser and the renderers): header punctuation."""
    hits = [m.start() for m in re.finditer(rb"SIP/2\.0", data)]
    if not hits:
        return data
    b = bytearray(data)
    at = rng.choice(hits)
    region = range(at, min(len(b), at + 800))
    for _ in range(rng.randint(1, 4)):
        i = rng.choice(region)
        b[i] = rng.choice(b" :;,<>=\"\r\n\x00\xff\t[]@")
    return bytes(b)


def json_mutate(rng: random.Random, text: bytes, others=()) -> bytes:
    r = rng.random()
    if r < 0.04:  # deep nesting
        n = rng.choice((50, 500, 5000, 100000))
        o, c = rng.choice((("[", "]"), ('{"a":', "}")))
        return (o * n + "1" + c * n).encode()
    if r < 0.12:  # a number that lies: huge, negative, long
        nums = list(re.finditer(rb"(?<![\w.\"])\d+", text))
        if nums:
            m = rng.choice(nums)
            return text[:m.start()] + rng.choice(
                (b"9" * rng.choice((20, 400, 4301, 5000)), b"-1", b"-0", b"1e999", b"0.5",
                 b"18446744073709551616", b"NaN", b"Infinity")) + text[m.end():]
    if r < 0.65:
        try:
            doc = json.loads(text)
        except (ValueError, RecursionError):
            return text_mutate(rng, text, others)
        nodes = []

        def walk(x, parent, key):
            nodes.append((parent, key, x))
            if len(nodes) > 3000:
                return
            if isinstance(x, dict):
                for k, v in x.items():
                    walk(v, x, k)
            elif isinstance(x, list):
                for i, v in enumerate(x):
                    walk(v, x, i)

        walk(doc, None, None)
        for _ in range(rng.randint(1, 3)):
            parent, key, x = rng.choice(nodes)
            if parent is None or (isinstance(parent, list) and key >= len(parent)) or (
                    isinstance(parent, dict) and key not in parent):
                continue  # an earlier operation removed it
            op = rng.randrange(6)
            if op <= 2:
                parent[key] = rng.choice((None, -1, 0, 2 ** 64, 2 ** 200, -2 ** 70, "zz", "",
                                          [], {}, True, 1.5, "\u0000", "ff" * 70000, "0x10",
                                          [None], {"": None}, rng.choice(nodes)[2], "00" * 3))
            elif op == 3:
                if isinstance(parent, dict):
                    del parent[key]
                else:
                    parent.pop(key)
            elif op == 4 and isinstance(parent, list):
                parent.insert(key, x)
            elif isinstance(parent, dict):
                parent[rng.choice(("unknown", "mikey.zz", key + "x" if isinstance(key, str)
                                   else "k"))] = x
        try:
            return json.dumps(doc, indent=rng.choice((None, 1))).encode()
        except (ValueError, RecursionError):
            return text
    return text_mutate(rng, text, others)


def toml_mutate(rng: random.Random, text: bytes, others=()) -> bytes:
    r = rng.random()
    if r < 0.05:
        n = rng.choice((100, 1000, 50000))
        return text + rng.choice((b"\nx = " + b"[" * n + b"]" * n + b"\n",
                                  b"\n" + b"[a]\n" * 3, b"\nx = " + b"{a=" * n + b"1" + b"}" * n))
    if r < 0.2:  # one value replaced by a hostile one
        vals = list(re.finditer(rb'= ("[^"\n]*"|\d+)', text))
        if vals:
            m = rng.choice(vals)
            repl = rng.choice((b'"zz"', b'""', b"-1", b"18446744073709551616", b"9" * 40, b"0",
                               b'"' + b"a" * rng.choice((70000, 100000)) + b'"',
                               b'"' + b"ab" * 50000 + b'"', b"[]", b"{}", b"true", b"1.5",
                               b'"sip:' + b"a" * 65536 + b'"', b'"\\u0000"', b'"\xff"'))
            return text[:m.start(1)] + repl + text[m.end(1):]
    return text_mutate(rng, text, others)


class _Case:
    def __init__(self):
        self.argv: list = []
        self.files: dict = {}
        self.stdin = b""
        self.links: dict = {}  # name -> name of the file it points to (made after the files)
        self.secret: list = []  # names of secret files the command writes (checked after it)

    def file(self, data: bytes, ext: str = "") -> str:
        name = f"f{len(self.files)}{ext}"
        self.files[name] = data
        return "{D}/" + name

    def encode(self) -> bytes:
        doc = {"argv": self.argv, "stdin": base64.b64encode(self.stdin).decode(),
               "files": {k: base64.b64encode(v).decode() for k, v in self.files.items()}}
        if self.links or self.secret:
            doc.update(links=self.links, secret=self.secret)
        return json.dumps(doc, ensure_ascii=True).encode()


def decode_case(data: bytes) -> dict:
    doc = json.loads(data)
    return {"argv": list(doc["argv"]), "stdin": base64.b64decode(doc.get("stdin", "")),
            "files": {k: base64.b64decode(v) for k, v in doc.get("files", {}).items()},
            "links": doc.get("links", {}), "secret": doc.get("secret", [])}


def cli_case(rng: random.Random, cc: CliCorpus) -> bytes:
    """One CLI case: a command (weighted by cost), its options, its (mutated) inputs."""
    c = _Case()
    r = rng.random
    ch = rng.choice

    def chance(p):
        return r() < p

    def mikey_blob():
        x = r()
        if x < 0.25:
            return ch(cc.c.mikey)
        if x < 0.6:
            return byte_mutate(rng, ch(cc.c.mikey), cc.c.mikey)
        if x < 0.9:
            return ch(cc.mikey_pool)
        return random_bytes(rng, 512)

    def mikey_input():
        blob, form = mikey_blob(), ch(("raw", "hex", "base64", "sdp", "sip"))
        if form == "hex":
            data = blob.hex().encode() + ch((b"", b"\n", b" \n"))
        elif form == "base64":
            data = base64.b64encode(blob) + b"\n"
        elif form in ("sdp", "sip"):
            sdp = ch(cc.c.sdp).encode("latin-1")
            data = re.sub(rb"(a=key-mgmt:mikey )[A-Za-z0-9+/=]+",
                          lambda m: m.group(1) + base64.b64encode(blob), sdp, count=1)
            if form == "sip":
                data = ch([m for m in cc.c.sip if b"a=key-mgmt" in m] or [data])
        else:
            data = blob
        if chance(0.2):
            data = text_mutate(rng, data, ())
        return data, form

    def keys_opts(required=False):
        out = []
        for _ in range(1 if required else ch((0, 0, 1, 1, 2))):
            x = r()
            if x < 0.45:
                out += ["--keys", "{P}/keyring.toml"]
            elif x < 0.55:
                out += ["--keys", "{P}/messages/bob.keyring.toml"]
            elif x < 0.65:
                out += ["--keys", "{P}/smime-keys.pem"]
            elif x < 0.75:
                out += ["--keys", "{P}/kms/" + ch(("alice.keyprov.xml", "bob.keyprov.xml",
                                                   "kms-init.xml", "gms.keyprov.xml"))]
            elif x < 0.85:
                out += ["--keys", c.file(toml_mutate(rng, cc.keyring), ".toml")]
            elif x < 0.92:
                out += ["--keys", c.file(xml_mutate(rng, ch(cc.c.kms), cc.c.kms), ".xml")]
            else:
                out += ["--keys", ch(("{D}/missing.toml", "{D}", "/dev/null",
                                      c.file(random_bytes(rng, 256))))]
        return out

    def trk():
        if chance(0.5):
            return []
        return ["--trk", cc.trk if chance(0.6) else ch(HOSTILE_HEX)]

    def hostile_int(normal: str, p: float = 0.3):
        return ch(HOSTILE_INTS) if chance(p) else normal

    def out_path(default="-", name="out", secret=False):
        x = r()
        if x < 0.45:
            return default
        if x < 0.85:
            if secret:  # issue 15: written 0600, never through a symbolic link
                c.secret.append(name)
                y = r()
                if y < 0.2:  # an existing file of mode 0644 (files are written 0644)
                    c.files[name] = b"old content\n"
                elif y < 0.4:  # a symbolic link to another file, which must stay untouched
                    c.files["victim"] = b"victim\n"
                    c.links[name] = "victim"
            return "{D}/" + name
        return ch(UNWRITABLE)

    def capture():
        x = r()
        tls = chance(0.03)  # TLS captures make tshark runs (~0.5 s each): rarely
        if x < 0.75 and cc.slices:  # a window of a few frames: cheap, and damage goes deep
            head, rest = ch(cc.tls_slices if tls and cc.tls_slices else cc.slices)
            i = rng.randrange(len(rest))
            data = b"".join(head + rest[i:i + ch((1, 2, 3, 5, 10, 30))])
            y = r()
            if y < 0.3:
                data = _sip_damage(rng, data)
            elif y < 0.75:
                data = pcap_mutate(rng, data, ())
            return c.file(data, ".pcapng")
        if x < 0.93:
            data = ch(cc.tls_full if tls and cc.tls_full else cc.full)
            return c.file(pcap_mutate(rng, data, ()) if chance(0.7) else _sip_damage(rng, data),
                          ".pcap")
        if x < 0.97 and cc.slices:  # standard input (dissectors/pcap/live.py spools it)
            head, rest = ch(cc.slices)
            i = rng.randrange(len(rest))
            c.stdin = b"".join(head + rest[i:i + ch((1, 3, 10))])
            if chance(0.5):
                c.stdin = pcap_mutate(rng, c.stdin, ())
            return "-"
        return ch(("{D}/missing.pcap", "{D}", "/dev/null", c.file(random_bytes(rng)),
                   c.file(b""), "-"))

    def cms_input():
        x = r()
        if x < 0.5:
            der = der_mutate(rng, ch(cc.c.cms), cc.c.cms) if chance(0.8) else ch(cc.c.cms)
            form = ch(("der", "der", "pem", "base64"))
            if form == "pem":
                return c.file(b"-----BEGIN CMS-----\n" + base64.encodebytes(der)
                              + b"-----END CMS-----\n"), form
            if form == "base64":
                return c.file(base64.encodebytes(der)), form
            return c.file(der), form
        if x < 0.85 and cc.smime_sip:
            return c.file(text_mutate(rng, ch(cc.smime_sip), cc.smime_sip)), "smime"
        if x < 0.93:
            c.stdin = der_mutate(rng, ch(cc.c.cms), cc.c.cms)
            return "-", "der"
        return ch(("{D}/missing", "{D}", c.file(b""), c.file(random_bytes(rng)))), "auto"

    cmd = r()
    a = c.argv
    if cmd < 0.18:  # decode: text and JSON, with and without keys
        data, form = mikey_input()
        if chance(0.15):
            c.stdin = data
            a += ["decode", "-"] if chance(0.5) else ["decode"]
        else:
            a += ["decode", c.file(data)]
        if chance(0.5):
            a += ["--in", ch(("auto", "raw", "hex", "base64", "sdp")) if chance(0.3) else
                  {"sip": "sdp"}.get(form, form)]
        a += ["--format", ch(("text", "json"))]
        a += ["--strict"] * chance(0.2) + ["--show-secrets"] * chance(0.3)
        a += ["--decrypt-unverified"] * chance(0.2)
        a += keys_opts() + trk()
        if chance(0.2):
            a += ["--replay-cache-size", hostile_int("1024", 0.7)]
        if chance(0.1):
            a += ["--tls-prot-type", hostile_int("240", 0.7)]
    elif cmd < 0.26:  # encode --from-json
        text = json_mutate(rng, ch(cc.json_docs), cc.json_docs) if chance(0.9) \
            else ch(cc.json_docs)
        if chance(0.15):
            c.stdin = text
            a += ["encode", "--from-json", "-"]
        else:
            a += ["encode", "--from-json", c.file(text, ".json") if chance(0.95)
                  else ch(("{D}/missing.json", "{D}"))]
        a += ["--out", ch(("raw", "hex", "base64"))] if chance(0.6) else []
        if chance(0.1):
            a += ["--tls-prot-type", hostile_int("240", 0.7)]
    elif cmd < 0.28:  # fields
        a += ["fields"] + (["--format", ch(("tsv", "markdown", "csv"))] if chance(0.7) else [])
    elif cmd < 0.33:  # uid
        a += ["uid", "--uri", ch(cc.users) if chance(0.6) else ch(HOSTILE_TEXT),
              "--kms-uri", "kms.example.org" if chance(0.7) else ch(HOSTILE_TEXT),
              "--key-period", hostile_int("2592000", 0.5)]
        if chance(0.3):
            a += ["--key-period-offset", hostile_int("0", 0.6)]
        if chance(0.5):
            a += ["--period-no", hostile_int("1531", 0.5)]
        else:
            a += ["--time", ch(("2026-12-07T10:00:00Z", "2026-12-07", "3974000000", "0",
                                "2026-13-45", "-1", "9" * 40, "", "2026-12-07T10:00:00+99:00",
                                "9999-12-31T23:59:59", "0001-01-01", "1e9", "now"))]
        a += ["-v"] * chance(0.5)
    elif cmd < 0.41:  # keyring import: TOML, KMS XML, PEM, mutated
        files = []
        for _ in range(ch((1, 1, 2, 3))):
            x = r()
            if x < 0.4:
                files.append(c.file(toml_mutate(rng, cc.keyring), ".toml"))
            elif x < 0.75:
                files.append(c.file(xml_mutate(rng, ch(cc.c.kms), cc.c.kms), ".xml"))
            elif x < 0.85:
                files.append("{P}/kms/" + ch(("alice.keyprov.xml", "kms-init.xml",
                                              "mcptt-server.keyprov.xml")))
            elif x < 0.92:
                files.append("{P}/smime-keys.pem" if chance(0.5)
                             else c.file(byte_mutate(rng, ch(cc.keys + cc.certs)), ".pem"))
            else:
                files.append(ch(("{D}/missing", "{D}", c.file(b""))))
        a += ["keyring", "import", *files, "-o", out_path("-", "ring.toml", secret=True)] + trk()
    elif cmd < 0.64:  # dissect: every output mode
        a += ["dissect", capture()]
        fmt = ch(("text", "text", "json", "jsonl-records"))
        a += ["--format", fmt] if fmt != "text" or chance(0.3) else []
        a += ["--brief"] * chance(0.3) + ["--stats"] * chance(0.3)
        if chance(0.4):
            a += ["--filter", ch(("any", "mikey", "cms", "srtp", "all"))]
        a += ["--no-progress"] * chance(0.5) + ["--show-secrets"] * chance(0.3)
        a += ["--decrypt-unverified"] * chance(0.2)
        a += keys_opts() + trk()
        if chance(0.15):
            a += ["--replay-cache-size", hostile_int("1024", 0.7)]
        if chance(0.1):
            a += ["--max-clock-skew", ch(HOSTILE_SECONDS)]
        if chance(0.15):
            y = r()
            expr = ch(DISPLAY_FILTERS) if y < 0.5 else ch(HOSTILE_FILTERS) if y < 0.7 else \
                " ".join(ch(DISPLAY_FILTERS) for _ in range(2))
            if y >= 0.7:
                ex = list(expr)
                for _ in range(rng.randint(1, 3)):
                    i = rng.randrange(len(ex) + 1)
                    if chance(0.5) and i < len(ex):
                        del ex[i]
                    else:
                        ex.insert(i, ch("()!=<>\"'{}[]:.,&|~ \\0x-"))
                expr = "".join(ex)
            a += ["-Y", expr]
        x = r()  # in-process workers would fork this process: mostly inline
        a += ["--workers", "1"] if x < 0.9 else ["--workers", ch(("0", "-1", "x", "1.5"))] \
            if x < 0.98 else ["--workers", "2"]
        if chance(0.05):
            a += ["--tls-keylog", ch(("{P}/sip-tls.keylog", "{D}/missing",
                                      c.file(text_mutate(rng, (PCAPS / "sip-tls.keylog")
                                                         .read_bytes()))))]
    elif cmd < 0.68:  # export: the capture rewritten with SRTP decrypted, secrets and verdicts
        a += ["export", capture(), "-o", out_path("-", "out.pcapng", secret=True)]
        a += keys_opts() + trk()
        a += ["--keep-sdp"] * chance(0.3) + ["--decrypt-unverified"] * chance(0.2)
        a += ["-q"] * chance(0.5)
        if chance(0.1):
            a += ["--replay-cache-size", hostile_int("1024", 0.7)]
        if chance(0.1):
            a += ["--max-clock-skew", ch(HOSTILE_SECONDS)]
        a += ["--workers", "1" if chance(0.95) else ch(("0", "-1", "x"))]
        if chance(0.05):
            a += ["--tls-keylog", ch(("{P}/sip-tls.keylog", "{D}/missing"))]
    elif cmd < 0.73:  # keylog
        a += ["keylog", capture()] + keys_opts(required=True) + trk()
        a += ["-o", out_path("-", "keys.log", secret=True)]
        if chance(0.1):
            a += ["--tls-keylog", ch(("{P}/sip-tls.keylog", "{D}/missing"))]
    elif cmd < 0.78:  # psk-smime
        ins = [c.file(text_mutate(rng, ch(cc.smime_sip), cc.smime_sip) if chance(0.8)
                      else ch(cc.smime_sip)) for _ in range(ch((1, 1, 2)))] \
            if cc.smime_sip else ["{D}/missing"]
        a += ["psk-smime", *ins] + keys_opts()
        a += ["--out", out_path("-", "content")] if chance(0.4) else []
        a += ["--format", ch(("text", "json"))] if chance(0.6) else []
        if chance(0.15):
            a += ["--replay-cache-size", hostile_int("1024", 0.7)]
    elif cmd < 0.92:  # cms show / decrypt / verify / open
        path, form = cms_input()
        a += ["cms", ch(("show", "decrypt", "verify", "open")), path]
        if chance(0.4):
            a += ["--in", form if chance(0.6) else ch(("auto", "der", "pem", "base64", "smime"))]
        if chance(0.7):
            a += ["--keys", "{P}/smime-keys.pem"]
        if chance(0.4):
            a += ["--keys", "{P}/keyring.toml"]
        a += keys_opts() if chance(0.2) else []
        a += ["--format", ch(("text", "json"))] + ["--show-secrets"] * chance(0.3)
        if chance(0.1):
            a += ["--content", ch((c.file(random_bytes(rng)), "{D}/missing"))]
        if chance(0.3):
            a += ["--out", out_path("-", "content")]
        if chance(0.2):
            a += ["--max-size", hostile_int("1000000", 0.7)]
        a += ["--any-signer"] * chance(0.2)
    elif cmd < 0.955:  # cms build
        kind = ch(("sign", "envelope", "auth-envelope", "compress", "encrypt-then-sign",
                   "sign-then-encrypt"))
        content = random_bytes(rng, 4096) if chance(0.5) else ch(cc.c.sip)
        if chance(0.1):
            c.stdin = content
            a += ["cms", "build", kind, "--in", "-"]
        else:
            a += ["cms", "build", kind, "--in", c.file(content) if chance(0.95) else "{D}/missing"]
        a += ["--out", out_path("-", "built")] if chance(0.5) else []
        a += ["--outform", ch(("der", "pem", "smime"))] if chance(0.6) else []
        if chance(0.5):
            a += ["--keys", "{P}/keyring.toml", "--kek-id",
                  ch(cc.kek_ids) if chance(0.7) and cc.kek_ids else ch(HOSTILE_HEX)]
        for _ in range(ch((0, 1, 1, 2))):
            a += ["--recip", c.file(ch(cc.certs + cc.keys) if chance(0.85)
                                    else byte_mutate(rng, ch(cc.certs)))]
        a += ["--oaep"] * chance(0.2)
        if chance(0.6):
            i = rng.randrange(len(cc.certs))
            a += ["--signer", c.file(cc.certs[i] if chance(0.9) else byte_mutate(rng, cc.certs[i])),
                  "--signer-key", c.file(cc.keys[min(i, len(cc.keys) - 1)] if chance(0.85)
                                         else ch(cc.keys + cc.certs))]
        a += ["--digest", ch(("sha1", "sha256", "sha384", "sha512", "md5"))] if chance(0.3) else []
        a += ["--pss"] * chance(0.2) + ["--detached"] * chance(0.2)
        if chance(0.4):
            a += ["--cipher", ch(("aes-128-cbc", "aes-256-cbc", "aes-128-gcm", "aes-256-gcm",
                                  "des", "", "aes-128"))]
        a += ["--inner", ch(("cms", "mime"))] if chance(0.3) else []
        a += ["--mime-wrap"] * chance(0.2)
    elif cmd < 0.97:  # fuzz
        a += ["fuzz"]
        if chance(0.6):
            data, _form = mikey_input()
            a += [c.file(data, ".hex")]
        a += ["--seed", hostile_int("0", 0.4)] if chance(0.5) else []
        a += ["-n", ch(("0", "-1", "1", "3", "x", "5"))]
        if chance(0.3):
            a += ["--mutation", ch(cc.mutations) if chance(0.8) else "nope"]
        fmt = ch(("hex", "raw", "sdp", "sip", "pcap"))
        a += ["--format", fmt]
        if chance(0.4):
            a += ["--out-dir", "{D}/mutants" if chance(0.7) else ch(UNWRITABLE)]
        elif chance(0.6):
            a += ["-o", out_path("-", "mutants")]
        if chance(0.2):
            a += ["--keys", "{P}/keyring.toml" if chance(0.8) else "{D}/missing",
                  "--signer", ch(cc.users) if chance(0.7) else ch(HOSTILE_TEXT)]
        if chance(0.05):
            a += ["--send", ch(("127.0.0.1:9", "127.0.0.1:99999", "127.0.0.1", ":9",
                                "127.0.0.1:-1", "[::1]:9", "127.0.0.1:x"))]
        a += ["--region", ch(("rfc3830", "without_sign_header"))] if chance(0.2) else []
        a += ["-v"] * chance(0.3)
    elif cmd < 0.98:  # wireshark generate / install
        if chance(0.6):
            a += ["wireshark", "generate", "-o", out_path("-", "mcsec.lua")]
            if chance(0.4):
                a += ["--tls-prot-type", hostile_int("240", 0.7)]
        elif chance(0.8):
            a += ["wireshark", "install", "--dest", "{D}/plugins" if chance(0.7)
                  else ch(UNWRITABLE)]
            if chance(0.4):
                a += ["--plugin", ch((c.file(random_bytes(rng)), "{D}/missing", "{D}"))]
        else:
            a += ["wireshark"]
    elif cmd < 0.984:  # synth (costly: a few hundred ms)
        a += ["synth", "{D}/synth" if chance(0.8) else ch(UNWRITABLE), "-q",
              "--calls", ch(("1", "0", "-1", "x")),
              "--scenario", ch(cc.scenarios) if chance(0.9) else "nope"]
        a += ["--seed", hostile_int("7", 0.5)] if chance(0.5) else []
    else:  # argv garbage: unknown commands and options, --help, missing values
        toks = ["decode", "encode", "dissect", "keylog", "cms", "keyring", "import", "uid",
                "fuzz", "wireshark", "fields", "psk-smime", "--help", "-h", "--keys",
                "--format", "json", "-o", "-", "--", "--trk", "--in", "show", "open", "build",
                "--version", "--workers", "1", "{D}/x", *HOSTILE_TEXT[:4]]  # nothing in {P}: -o
        a += [ch(toks) for _ in range(rng.randint(0, 6))]
    if chance(0.08) and a:  # argv damage: drop, repeat or replace one argument
        i = rng.randrange(len(a))
        op = rng.randrange(3)
        if op == 0:
            del a[i]
        elif op == 1:
            a.insert(i, a[i])
        elif i == 0 or a[i - 1] not in ("-n", "--count", "--calls"):  # (a huge count is
            a[i] = ch(HOSTILE_TEXT + HOSTILE_INTS)  # work the user asked for, not a hang)
    return c.encode()


class CliRunner:
    """Runs one case through ``dissectors.cli.main(argv)`` in this process: standard streams
    redirected (stdout encodes strictly as UTF-8, stderr with backslashreplace, as Python's own
    streams do), SystemExit caught, the working directory a scratch directory (so a relative
    path a hostile argv names is written there).  The parser is built once and reused (building
    it costs ~10 ms, more than most commands).  Raises what escapes main; raises Invariant for an
    exit status outside {0, 1, 2, 3} or a traceback printed on stderr."""

    def __init__(self, main=None, workdir: Path | None = None):
        import tempfile

        from dissectors.cli import app as cli

        self.cli = cli
        self.main = main or cli.main
        self.parser = None
        if workdir is None:  # a scratch directory of our own: removed when the process ends
            import atexit
            import shutil

            workdir = tempfile.mkdtemp(prefix="mcsec-cli-fuzz-")
            atexit.register(shutil.rmtree, workdir, True)
        self.root = Path(workdir)
        self.root.mkdir(parents=True, exist_ok=True)
        self.last = None  # (status, stdout, stderr) of the last case

    def __call__(self, data: bytes):
        import shutil

        case = decode_case(data)
        d = self.root / "c"
        if d.exists():
            shutil.rmtree(d, ignore_errors=True)
        d.mkdir()
        for name, blob in case["files"].items():
            (d / name).write_bytes(blob)
            (d / name).chmod(0o644)
        for name, target in case["links"].items():
            os.symlink(d / target, d / name)
        argv = [x.replace("{D}", str(d)).replace("{P}", str(PCAPS)) for x in case["argv"]]
        out, err = io.BytesIO(), io.BytesIO()
        streams = (sys.stdin, sys.stdout, sys.stderr)
        (d / ".stdin").write_bytes(case["stdin"])  # a real file: some commands want fileno()
        wrappers = (open(d / ".stdin", encoding="utf-8"),
                    io.TextIOWrapper(out, encoding="utf-8", write_through=True),
                    io.TextIOWrapper(err, encoding="utf-8", errors="backslashreplace",
                                     write_through=True))
        sys.stdin, sys.stdout, sys.stderr = wrappers
        cwd = os.getcwd()
        build = self.cli.build_parser
        if self.parser is None:
            self.parser = build()
        self.cli.build_parser = lambda: self.parser
        os.chdir(d)
        try:
            try:
                status = self.main(argv)
            except SystemExit as e:
                status = e.code
        finally:
            os.chdir(cwd)
            self.cli.build_parser = build
            for w in wrappers[1:]:
                try:
                    w.flush()
                except (OSError, ValueError):
                    pass
            stdout, stderr = out.getvalue(), err.getvalue()  # before the wrappers close them
            wrappers[0].close()
            sys.stdin, sys.stdout, sys.stderr = streams
        self.last = (status, stdout, stderr)
        if status is None:
            status = 0
        elif isinstance(status, str):  # SystemExit("message"): printed, exit status 1
            status = 1
        if isinstance(status, bool) or status not in CLI_EXITS:
            raise Invariant(f"exit status {status!r} (argv {_short(case['argv'])})",
                            kind=f"exit status {status!r}"[:40])
        if b"Traceback (most recent call last)" in stderr:
            tail = stderr.decode("utf-8", "replace").strip().splitlines()[-1][:200]
            raise Invariant(f"traceback on stderr: {tail} (argv {_short(case['argv'])})",
                            kind="traceback on stderr: " + tail.split(":")[0][:40])
        for name, target in case["links"].items():
            if (d / target).read_bytes() != case["files"][target]:
                raise Invariant(f"{argv[0]} wrote through the symbolic link {name} (argv "
                                f"{_short(case['argv'])})", kind=f"{argv[0]}: wrote through "
                                                                 f"a symlink")
        for name in case["secret"]:
            if "{D}/" + name not in case["argv"]:
                continue  # argv damage sent the output elsewhere
            st = os.lstat(d / name) if os.path.lexists(d / name) else None
            if status == 0 and st is not None and (stat.S_ISLNK(st.st_mode)
                                                   or stat.S_IMODE(st.st_mode) & 0o077):
                raise Invariant(f"{argv[0]} left the secret file {name} with mode "
                                f"{stat.filemode(st.st_mode)} (argv {_short(case['argv'])})",
                                kind=f"{argv[0]}: secret file readable by others")
        return status


def _short(argv, n: int = 60) -> str:
    return " ".join(x if len(x) <= n else x[:n] + f"…({len(x)})" for x in argv)


def make_cli_targets(corpus: Corpus, seed: int = 1, pool: int = 300) -> dict:
    state: dict = {}

    def cc():
        if "cc" not in state:
            state["cc"] = load_cli_corpus(corpus, seed, pool)
        return state["cc"]

    def run(data):
        if "runner" not in state:
            state["runner"] = CliRunner()
        state["runner"](data)

    def gen(rng):
        return cli_case(rng, cc())

    seeds = [_Case() for _ in range(3)]
    seeds[0].argv = ["fields"]
    seeds[1].argv = ["decode", "{P}/messages/mikey-sakke-gmk.sdp", "--keys",
                     "{P}/messages/bob.keyring.toml"]
    seeds[2].argv = ["dissect", "{P}/malformed.pcapng", "--workers", "1", "--keys",
                     "{P}/keyring.toml"]
    return {"cli": Target("cli", (), run, gen, [s.encode() for s in seeds], slow_ms=CLI_SLOW_MS,
                          hang_seconds=CLI_HANG_SECONDS, clock=time.process_time_ns,
                          ext="json")}


CLI_TARGETS = ("cli",)
ALL_TARGETS = TARGETS + CLI_TARGETS


def replay_cli(paths) -> int:
    """Run saved CLI cases (out/fuzz-findings/cli__*.json, tests/regressions/cli/) and show what
    each does; exit 1 if any still fails."""
    runner = CliRunner()
    bad = 0
    for p in paths:
        data = Path(p).read_bytes()
        argv = _short(decode_case(data)["argv"])
        t0 = time.perf_counter()
        try:
            status = runner(data)
            print(f"ok   {p}: exit {status} in {(time.perf_counter() - t0) * 1000:.0f} ms: {argv}")
        except Exception as e:  # noqa: BLE001
            bad += 1
            print(f"FAIL {p}: {_site(e)}: {type(e).__name__}: {str(e)[:200]}: {argv}")
    return 1 if bad else 0


# ----------------------------------------------------------------------------------------------
# The campaign
# ----------------------------------------------------------------------------------------------
@dataclass
class Result:
    target: str
    inputs: int = 0
    typed_errors: int = 0
    unexpected: int = 0
    hangs: int = 0
    slow: int = 0  # over slow_ms twice
    known: int = 0  # inputs that trigger an already recorded finding: generated, not run
    max_ms: float = 0.0  # slowest input (first run)
    max_ms_confirmed: float = 0.0  # slowest input, min of two runs when it was re-run
    mean_us: float = 0.0
    peak_kib: float = 0.0  # tracemalloc peak of one input (sampled inputs)
    traced: int = 0
    rss_growth_kib: int = 0
    seconds: float = 0.0
    max_input: int = 0
    crashes: dict = field(default_factory=dict)  # site -> {type, message, sha256, count, file}
    slow_inputs: list = field(default_factory=list)


def _rss_kib() -> int:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * (os.sysconf("SC_PAGE_SIZE") // 1024)
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _site(exc: BaseException) -> str:
    if isinstance(exc, Invariant) and exc.kind:
        return f"Invariant[{exc.kind}]"
    tb = traceback.extract_tb(exc.__traceback__)
    ours = [fr for fr in tb if str(ROOT) in fr.filename and "fuzz_campaign" not in fr.filename]
    mcsec = [fr for fr in ours if "/.venv/" not in fr.filename]  # our frame, not a dependency's
    fr = (mcsec or ours or tb or [None])[-1]
    where = f"{Path(fr.filename).relative_to(ROOT) if str(ROOT) in fr.filename else fr.filename}:{fr.lineno}" if fr else "?"
    return f"{type(exc).__name__}@{where}"


def _on_alarm(signum, frame):
    raise Hang()


def run_target(t: Target, seed: int, inputs: int, seconds: float, *, slow_ms: float = 100.0,
               hang_seconds: float = 10.0, trace_every: int = 500, save_dir: Path | None = None,
               warmup: int = 200, progress=None) -> Result:
    rng = random.Random(f"{seed}:{t.name}")
    res = Result(t.name)
    if t.slow_ms:
        slow_ms = max(slow_ms, t.slow_ms)
    if t.hang_seconds and hang_seconds > 0:
        hang_seconds = max(hang_seconds, t.hang_seconds)
    clock = t.clock
    use_alarm = hang_seconds > 0 and hasattr(signal, "setitimer")
    if use_alarm:
        old = signal.signal(signal.SIGALRM, _on_alarm)
    for seed_input in t.seeds:  # warm up: lazy compilation and caches are not what we time
        try:
            t.run(seed_input)
        except Exception:  # noqa: BLE001
            pass
    total_ns = 0
    start = time.monotonic()
    rss0 = None
    try:
        while res.inputs < inputs and time.monotonic() - start < seconds:
            data = t.generate(rng)
            if t.known is not None and t.known(data):
                res.known += 1  # counted, not run: see docs/FUZZING.md
                continue
            res.inputs += 1
            res.max_input = max(res.max_input, len(data))
            traced = trace_every and res.inputs % trace_every == 0
            if traced:
                tracemalloc.start()
                tracemalloc.reset_peak()
            if use_alarm:
                signal.setitimer(signal.ITIMER_REAL, hang_seconds)
            t0 = clock()
            exc = None
            try:
                t.run(data)
            except t.allowed:
                res.typed_errors += 1
            except Hang as e:
                exc = e
            except Exception as e:  # noqa: BLE001 - this is what we are looking for
                exc = e
            finally:
                dt = clock() - t0
                if use_alarm:
                    signal.setitimer(signal.ITIMER_REAL, 0)
                if traced:
                    res.peak_kib = max(res.peak_kib, tracemalloc.get_traced_memory()[1] / 1024)
                    tracemalloc.stop()
                    res.traced += 1
            total_ns += dt
            ms = dt / 1e6
            res.max_ms = max(res.max_ms, ms)
            if ms > slow_ms and exc is None:
                if ms < 10 * slow_ms:  # re-run once: GC pauses and scheduling are noise
                    t1 = clock()
                    try:
                        t.run(data)
                    except Exception:  # noqa: BLE001
                        pass
                    ms = min(ms, (clock() - t1) / 1e6)
                if ms > slow_ms:
                    res.slow += 1
                    if len(res.slow_inputs) < 5:
                        res.slow_inputs.append({"ms": round(ms, 1), "len": len(data),
                                                "sha256": hashlib.sha256(data).hexdigest()})
                        if save_dir:
                            save_dir.mkdir(parents=True, exist_ok=True)
                            (save_dir / f"{t.name}__slow__{hashlib.sha256(data).hexdigest()[:12]}.{t.ext}").write_bytes(data)
            res.max_ms_confirmed = max(res.max_ms_confirmed, ms)
            if exc is not None:
                if isinstance(exc, Hang):
                    res.hangs += 1
                    site = "Hang"
                else:
                    res.unexpected += 1
                    site = _site(exc)
                rec = res.crashes.get(site)
                if rec is None:
                    sha = hashlib.sha256(data).hexdigest()
                    rec = {"type": type(exc).__name__, "message": str(exc)[:300], "sha256": sha,
                           "count": 0, "len": len(data)}
                    if save_dir:
                        save_dir.mkdir(parents=True, exist_ok=True)
                        p = save_dir / f"{t.name}__{sha[:12]}.{t.ext}"
                        p.write_bytes(data)
                        rec["file"] = str(p)
                    res.crashes[site] = rec
                rec["count"] += 1
            if res.inputs == warmup:
                gc.collect()
                rss0 = _rss_kib()
            if progress and res.inputs % 20000 == 0:
                progress(res)
    finally:
        if use_alarm:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, old)
    gc.collect()
    if rss0 is not None:
        res.rss_growth_kib = _rss_kib() - rss0
    res.seconds = time.monotonic() - start
    res.mean_us = total_ns / max(res.inputs, 1) / 1000
    return res


def table(results) -> str:
    head = ("target", "inputs", "known F (not run)", "typed err", "unexpected", "hangs", "slow>100ms", "max ms",
            "max ms (re-run)", "mean µs", "peak KiB/input", "RSS growth KiB", "s")
    rows = [head]
    for r in results:
        rows.append((r.target, f"{r.inputs:,}", f"{r.known:,}", f"{r.typed_errors:,}", str(r.unexpected),
                     str(r.hangs), str(r.slow), f"{r.max_ms:.1f}", f"{r.max_ms_confirmed:.1f}",
                     f"{r.mean_us:.0f}", f"{r.peak_kib:,.0f}", f"{r.rss_growth_kib:,}",
                     f"{r.seconds:.0f}"))
    tot = sum(r.inputs for r in results)
    rows.append(("TOTAL", f"{tot:,}", f"{sum(r.known for r in results):,}", f"{sum(r.typed_errors for r in results):,}",
                 str(sum(r.unexpected for r in results)), str(sum(r.hangs for r in results)),
                 str(sum(r.slow for r in results)), f"{max((r.max_ms for r in results), default=0):.1f}",
                 f"{max((r.max_ms_confirmed for r in results), default=0):.1f}", "",
                 f"{max((r.peak_kib for r in results), default=0):,.0f}",
                 f"{max((r.rss_growth_kib for r in results), default=0):,}",
                 f"{sum(r.seconds for r in results):.0f}"))
    w = [max(len(row[i]) for row in rows) for i in range(len(head))]
    lines = ["| " + " | ".join(c.ljust(w[i]) for i, c in enumerate(row)) + " |" for row in rows]
    lines.insert(1, "|" + "|".join("-" * (x + 2) for x in w) + "|")
    return "\n".join(lines)


def campaign(targets=TARGETS, seed: int = 1, inputs: int = 10_000, seconds: float = 60.0,
             save_dir: Path | None = None, slow_ms: float = 100.0, hang_seconds: float = 10.0,
             trace_every: int = 500, struct_pool: int = 2000, progress=None) -> list:
    """Run the campaign; ``seconds`` is the whole budget, split evenly over ``targets``."""
    corpus = load_corpus()
    all_targets = make_targets(corpus, seed, struct_pool)
    if any(name in CLI_TARGETS for name in targets):
        all_targets.update(make_cli_targets(corpus, seed, min(struct_pool, 300)))
    results = []
    share = seconds / max(len(targets), 1)
    for name in targets:
        results.append(run_target(all_targets[name], seed, inputs, share, slow_ms=slow_ms,
                                  hang_seconds=hang_seconds, trace_every=trace_every,
                                  save_dir=save_dir, progress=progress))
    return results


def atheris_mikey(seconds: int, workdir: Path) -> int:
    """Coverage-guided fuzzing of codec.mikey.decode with atheris/libFuzzer, when atheris is
    installed (``pip install atheris``; not a dependency of mcsec).  The seed corpus is the MIKEY
    messages of pcaps/; libFuzzer keeps what it finds new in ``workdir``/corpus."""
    try:
        import atheris
    except ImportError:
        print("atheris is not installed: pip install atheris", file=sys.stderr)
        return 2
    corpus_dir = workdir / "corpus"
    corpus_dir.mkdir(parents=True, exist_ok=True)
    for m in load_corpus().mikey:
        (corpus_dir / hashlib.sha256(m).hexdigest()[:16]).write_bytes(m)
    with atheris.instrument_imports():
        import codec.mikey.message  # noqa: F401
        import codec.mikey.model  # noqa: F401
        import construct  # noqa: F401
    from codec import DecodeError
    from codec import mikey

    def one(data: bytes):
        try:
            msg = mikey.decode(data)
        except DecodeError:
            return
        if mikey.encode(msg) != data:
            raise Invariant("decoded message does not re-encode to the same octets")

    atheris.Setup([sys.argv[0], f"-max_total_time={seconds}", "-timeout=1",
                   "-rss_limit_mb=2048", "-print_final_stats=1",
                   f"-artifact_prefix={workdir}/", str(corpus_dir)], one)
    atheris.Fuzz()
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--inputs", type=int, default=200_000, help="at most this many per target")
    ap.add_argument("--seconds", type=float, default=1800.0,
                    help="time budget of the whole run, split evenly over the targets")
    ap.add_argument("--targets", default=",".join(ALL_TARGETS),
                    help="comma-separated; default all: " + ",".join(ALL_TARGETS))
    ap.add_argument("--slow-ms", type=float, default=100.0)
    ap.add_argument("--hang-seconds", type=float, default=10.0)
    ap.add_argument("--trace-every", type=int, default=500,
                    help="run every Nth input under tracemalloc (0: never)")
    ap.add_argument("--struct-pool", type=int, default=2000,
                    help="dissectors.fuzz.mutators mutants generated for mikey.struct")
    ap.add_argument("--save-dir", type=Path, default=Path("fuzz-findings"),
                    help="where inputs that raise unexpected exceptions are written")
    ap.add_argument("--json", type=Path, help="also write the results as JSON")
    ap.add_argument("--quiet", action="store_true")
    ap.add_argument("--atheris", type=int, metavar="SECONDS",
                    help="instead: coverage-guided fuzzing of codec.mikey.decode with atheris")
    ap.add_argument("--atheris-dir", type=Path, default=Path("out/atheris"))
    ap.add_argument("--memory-limit-mb", type=int, default=4096,
                    help="address-space limit of this process (RLIMIT_AS; 0: none): an input "
                         "that needs more fails with MemoryError, a finding, instead of "
                         "calling the OOM killer onto the machine (default 4096)")
    ap.add_argument("--replay", nargs="+", type=Path, metavar="CASE",
                    help="instead: run saved cli cases (JSON) and report what each does")
    a = ap.parse_args(argv)
    if a.memory_limit_mb > 0:
        limit = a.memory_limit_mb << 20
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    if a.atheris:
        return atheris_mikey(a.atheris, a.atheris_dir)
    if a.replay:
        return replay_cli(a.replay)
    names = [x.strip() for x in a.targets.split(",") if x.strip()]
    bad = [x for x in names if x not in ALL_TARGETS]
    if bad:
        ap.error(f"unknown target(s) {bad}; choose from {', '.join(ALL_TARGETS)}")

    def progress(r):
        if not a.quiet:
            print(f"  {r.target}: {r.inputs:,} inputs, {r.unexpected} unexpected", flush=True,
                  file=sys.stderr)

    started = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    results = campaign(names, a.seed, a.inputs, a.seconds, a.save_dir, a.slow_ms,
                       a.hang_seconds, a.trace_every, a.struct_pool, progress)
    print(f"mcsec fuzz campaign: seed {a.seed}, started {started}, python "
          f"{platform.python_version()}, {platform.machine()} {os.cpu_count()} CPU(s)")
    print(table(results))
    for r in results:
        for site, rec in r.crashes.items():
            print(f"{r.target}: {site} x{rec['count']}: {rec['type']}: {rec['message']} "
                  f"(input {rec['sha256'][:12]}, {rec['len']} octets{', ' + rec['file'] if rec.get('file') else ''})")
        for s in r.slow_inputs:
            print(f"{r.target}: slow input {s}")
    if a.json:
        a.json.write_text(json.dumps({"seed": a.seed, "started": started,
                                      "machine": platform.platform(),
                                      "results": [r.__dict__ for r in results]}, indent=1))
    return 1 if any(r.unexpected or r.hangs or r.slow for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
