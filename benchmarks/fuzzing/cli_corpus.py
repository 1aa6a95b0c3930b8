"""The ``cli`` fuzz target's material (issue 15): hostile option values (numbers, hex, text,
seconds, unwritable paths, display filters), the files a case may name, and the JSON and TOML
mutators for manifests, keyrings and records.
"""

from __future__ import annotations

import json
import random
import re
import struct
from dataclasses import dataclass, field

from benchmarks.fuzzing.corpus import PCAPS, Corpus
from benchmarks.fuzzing.mutate import text_mutate

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


def sip_damage(rng: random.Random, data: bytes) -> bytes:
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
