"""The in-process targets of the fuzz campaign (the table in ``benchmarks/fuzz_campaign.py``):
what each calls, which typed errors it may raise and which invariants it must keep (a MIKEY
message that decodes re-encodes to the same octets, a DecodeError carries a path and an offset
inside the input).
"""

from __future__ import annotations

import hashlib
import io
import random
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.fuzzing.corpus import ROOT, Corpus
from benchmarks.fuzzing.mutate import (byte_mutate, der_mutate, pcap_mutate, random_bytes,
                                       text_mutate, xml_mutate)


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


HARNESS = str(Path(__file__).resolve().parent) + "/"  # benchmarks/fuzzing/


def finding_site(exc: BaseException) -> str:
    """Where an exception arose, as ``Type@path:line`` of the last mcsec frame (what tells two
    findings apart), or ``Invariant[kind]``."""
    if isinstance(exc, Invariant) and exc.kind:
        return f"Invariant[{exc.kind}]"
    tb = traceback.extract_tb(exc.__traceback__)
    ours = [fr for fr in tb if str(ROOT) in fr.filename and "fuzz_campaign" not in fr.filename
            and not fr.filename.startswith(HARNESS)]  # the harness's frames are not the site
    mcsec = [fr for fr in ours if "/.venv/" not in fr.filename]  # our frame, not a dependency's
    fr = (mcsec or ours or tb or [None])[-1]
    where = f"{Path(fr.filename).relative_to(ROOT) if str(ROOT) in fr.filename else fr.filename}:{fr.lineno}" if fr else "?"
    return f"{type(exc).__name__}@{where}"
