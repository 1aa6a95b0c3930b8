"""A structure-aware MIKEY mutator (``mcsec fuzz``), built on the scapy layer.

Each mutant is a seed message dissected with :mod:`dissectors.fuzz.scapy_mikey`, changed in one way
that attacks a parser, and rebuilt.  The mutation classes (:data:`CLASSES`):

================== ==============================================================================
length-lie         a length or count field set to 0, ±1, its maximum or a random value
next-payload-loop  a Next Payload naming the payload itself or an earlier payload type
unknown-type       a Next Payload naming an unassigned payload type
count-overflow     #CS or #P larger than the entries that follow
oversized-payload  a variable-length field grown to 256 … maximum octets (its length kept right)
empty-payload      a variable-length field emptied (its length kept right)
invalid-prot-type  a GENERIC-ID or SP Prot type that no registry assigns
invalid-policy     an SP policy parameter of unknown type, wrong value length or lying length
sign-length        the SIGN payload with 0 / 32 / 129 / 4095 signature octets, or a lying length
truncation         the message cut at a payload boundary (or one octet either side)
point-off-curve    the SAKKE point R or the ECCSI PVT moved off its curve
zero-signature     ECCSI r = s = 0
duplicate-payload  one payload repeated
resign             the unmodified message re-signed (the other signed-region convention)
================== ==============================================================================

With signing keys (``signer``), every mutant that still has a SIGN payload is re-signed so that a
target's signature check passes and its parser sees the mutation.  Everything is drawn from one
``random.Random(seed)``: the same seeds, seed number and options give the same mutants.
"""

from __future__ import annotations

import base64
import hashlib
import random
from dataclasses import dataclass

from codec.crypto.p256 import Q
from codec.mikey import registry
from codec.mikey.config import DEFAULT_TLS_PROT_TYPE
from dissectors.fuzz import craft
from dissectors.fuzz import scapy_mikey
from dissectors.fuzz.scapy_mikey import MIKEY

CLASSES = ("length-lie", "next-payload-loop", "unknown-type", "count-overflow",
           "oversized-payload", "empty-payload", "invalid-prot-type", "invalid-policy",
           "sign-length", "truncation", "point-off-curve", "zero-signature", "duplicate-payload",
           "resign")
SIGN_LENGTHS = (0, 32, 129, 4095)
UNASSIGNED_TYPES = [t for t in range(1, 256) if t not in registry.PAYLOAD_TYPES]


@dataclass(frozen=True)
class Mutant:
    index: int
    mutation: str  # one of CLASSES
    detail: str
    seed_index: int
    data: bytes
    resigned: bool = False

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


class NotApplicable(Exception):
    """This mutation does not apply to this seed."""


# ----------------------------------------------------------------------------------------------
def _layers(wire: bytes):
    pkt = MIKEY(wire)
    layers = scapy_mikey.payloads(pkt)
    return pkt, layers


def _present(layer, fname) -> bool:
    fld = layer.get_field(fname)
    return not (hasattr(fld, "_evalcond") and not fld._evalcond(layer))


def _rebuild(layers, tail: bytes = b"") -> bytes:
    """Concatenate layers (each built with its own fields) and the trailing octets."""
    parts = []
    for layer in layers:
        one = layer.copy()
        one.remove_payload()
        parts.append(one)
    pkt = parts[0]
    for p in parts[1:]:
        pkt = pkt / p
    return bytes(pkt) + tail


def _maximum(layer, fname) -> int:
    meta = layer.METAS.get(fname)
    return (1 << meta.bits) - 1 if meta is not None and meta.bits else 255


def _sign_layer(layers):
    return next((x for x in layers if isinstance(x, scapy_mikey.MIKEY_SIGN)), None)


def _insert_before_sign(layers, new):
    idx = next((i for i, x in enumerate(layers) if isinstance(x, scapy_mikey.MIKEY_SIGN)), len(layers))
    if idx > 0 and "next_payload" in layers[idx - 1].JSON_NAMES:
        layers[idx - 1].next_payload = None
    if "next_payload" in new.JSON_NAMES:
        new.next_payload = None
    layers.insert(idx, new)
    return layers


# -- the mutations: each takes (rng, wire) and returns (detail, octets) -------------------------
def m_length_lie(rng, wire):
    pkt, layers = _layers(wire)
    cands = [(i, f) for i, x in enumerate(layers) for f in x.SIZES if _present(x, f)]
    if not cands:
        raise NotApplicable
    i, f = rng.choice(cands)
    layer = layers[i]
    v = layer.getfieldval(f) or 0
    top = _maximum(layer, f)
    lie = rng.choice([x for x in {0, v + 1, max(v - 1, 0), top, rng.randint(0, top)}
                      if x != v and x <= top] or [top])
    layer.setfieldval(f, lie)
    return f"{scapy_mikey.json_name(layer, f)} of {layer.CODEC_NAME}: {v} -> {lie}", bytes(pkt)


def m_next_payload_loop(rng, wire):
    pkt, layers = _layers(wire)
    cands = [i for i, x in enumerate(layers) if "next_payload" in x.JSON_NAMES and i > 0]
    if not cands:
        raise NotApplicable
    i = rng.choice(cands)
    earlier = [x.MIKEY_TYPE for x in layers[1:i + 1]]
    t = rng.choice(earlier)
    layers[i].next_payload = t
    return f"payload {i} ({layers[i].CODEC_NAME}) next payload -> {t}", bytes(pkt)


def m_unknown_type(rng, wire):
    pkt, layers = _layers(wire)
    cands = [i for i, x in enumerate(layers) if "next_payload" in x.JSON_NAMES]
    i = rng.choice(cands)
    t = rng.choice(UNASSIGNED_TYPES)
    layers[i].next_payload = t
    return f"payload {i} ({layers[i].CODEC_NAME}) next payload -> unassigned {t}", bytes(pkt)


def m_count_overflow(rng, wire):
    pkt, layers = _layers(wire)
    hdr = layers[0]
    cands = [("hdr", None)]
    entries = hdr.cs_id_map if isinstance(hdr.cs_id_map, list) else []
    cands += [("p", e) for e in entries if isinstance(e, scapy_mikey.MIKEY_GenericIdEntry)]
    what, entry = rng.choice(cands)
    if what == "hdr":
        n = len(entries) + rng.randint(1, 255 - len(entries)) if len(entries) < 255 else 255
        hdr.cs_count = n
        note = ""
        if hdr.cs_id_map_type == 1:  # the Empty map ignores #CS: make it count
            hdr.cs_id_map_type = rng.choice([0, 2])
            note = f", map type {hdr.cs_id_map_type}"
        return f"#CS -> {n} ({len(entries)} entries{note})", bytes(pkt)
    n = len(entry.generic_id_policies) + rng.randint(1, 127 - len(entry.generic_id_policies))
    entry.generic_id_p_count = n
    return f"#P -> {n}", bytes(pkt)


def _var_fields(layers):
    return [(i, t) for i, x in enumerate(layers) for _f, (t, kind) in x.SIZES.items()
            if kind == "len" and _present(x, t) and isinstance(x.getfieldval(t), bytes)]


def m_oversized(rng, wire):
    pkt, layers = _layers(wire)
    cands = _var_fields(layers)
    if not cands:
        raise NotApplicable
    i, t = rng.choice(cands)
    layer = layers[i]
    length_field = next(f for f, (tt, _k) in layer.SIZES.items() if tt == t)
    top = _maximum(layer, length_field)
    n = min(top, rng.choice([256, 1024, 4096, top]))
    layer.setfieldval(t, rng.randbytes(n))
    layer.setfieldval(length_field, None)
    return (f"{scapy_mikey.json_name(layer, t)} of {layer.CODEC_NAME}: {n} octets",
            _rebuild(layers, scapy_mikey.trailing(pkt)))


def m_empty(rng, wire):
    pkt, layers = _layers(wire)
    cands = [(i, t) for i, t in _var_fields(layers) if layers[i].getfieldval(t)]
    if not cands:
        raise NotApplicable
    i, t = rng.choice(cands)
    layer = layers[i]
    length_field = next(f for f, (tt, _k) in layer.SIZES.items() if tt == t)
    layer.setfieldval(t, b"")
    layer.setfieldval(length_field, None)
    return (f"{scapy_mikey.json_name(layer, t)} of {layer.CODEC_NAME} emptied",
            _rebuild(layers, scapy_mikey.trailing(pkt)))


def _invalid_prot(rng):
    known = set(registry.PROT_TYPES) | {DEFAULT_TLS_PROT_TYPE}
    return rng.choice([x for x in range(256) if x not in known])


def m_invalid_prot_type(rng, wire):
    pkt, layers = _layers(wire)
    hdr = layers[0]
    entries = [e for e in (hdr.cs_id_map if isinstance(hdr.cs_id_map, list) else [])
               if isinstance(e, scapy_mikey.MIKEY_GenericIdEntry)]
    sps = [x for x in layers if isinstance(x, scapy_mikey.MIKEY_SP)]
    v = _invalid_prot(rng)
    if entries and (not sps or rng.random() < 0.5):
        rng.choice(entries).generic_id_prot_type = v
        return f"GENERIC-ID prot type -> {v}", bytes(pkt)
    if sps:
        rng.choice(sps).sp_proto_type = v
        return f"SP prot type -> {v}", bytes(pkt)
    sp = scapy_mikey.MIKEY_SP(sp_proto_type=v, sp_params=[scapy_mikey.MIKEY_SpParam(sp_param_type=1,
                                                                                    sp_patam_value=b"\x10")])
    return f"new SP with prot type {v}", _rebuild(_insert_before_sign(layers, sp),
                                                   scapy_mikey.trailing(pkt))


def m_invalid_policy(rng, wire):
    pkt, layers = _layers(wire)
    kind = rng.choice(["unknown-type", "value-length", "lying-length"])
    if kind == "unknown-type":
        param = scapy_mikey.MIKEY_SpParam(sp_param_type=rng.randint(max(registry.SRTP_POLICY_PARAMS) + 1, 255),
                                          sp_patam_value=rng.randbytes(rng.randint(0, 8)))
    elif kind == "value-length":
        param = scapy_mikey.MIKEY_SpParam(sp_param_type=rng.choice(sorted(registry.SRTP_POLICY_PARAMS)),
                                          sp_patam_value=rng.randbytes(rng.choice([0, 2, 64, 255])))
    else:
        param = scapy_mikey.MIKEY_SpParam(sp_param_type=1, sp_param_len=rng.randint(2, 255),
                                          sp_patam_value=b"\x10")
    sps = [x for x in layers if isinstance(x, scapy_mikey.MIKEY_SP)]
    if sps:
        sp = rng.choice(sps)
        params = sp.sp_params if isinstance(sp.sp_params, list) else []
        sp.sp_params = params + [param]
        sp.sp_param_len = None
        return f"SP policy param: {kind}", _rebuild(layers, scapy_mikey.trailing(pkt))
    sp = scapy_mikey.MIKEY_SP(sp_proto_type=0, sp_params=[param])
    return f"new SP, policy param: {kind}", _rebuild(_insert_before_sign(layers, sp),
                                                      scapy_mikey.trailing(pkt))


def m_sign_length(rng, wire):
    pkt, layers = _layers(wire)
    sign = _sign_layer(layers)
    if sign is None:
        sign = scapy_mikey.MIKEY_SIGN(sign_type=2)
        layers = _insert_before_sign(layers, sign)
    n = rng.choice(SIGN_LENGTHS)
    if rng.random() < 0.5:
        sign.sign_data = (bytes(sign.sign_data) + rng.randbytes(n))[:n]
        sign.sign_len = None
        return f"signature of {n} octets", _rebuild(layers, scapy_mikey.trailing(pkt))
    sign.sign_len = n
    return (f"Signature len lies: {n} ({len(sign.sign_data)} octets)",
            _rebuild(layers, scapy_mikey.trailing(pkt)))


def m_truncation(rng, wire):
    _pkt, layers = _layers(wire)
    bounds, pos = [], 0
    for layer in layers:
        one = layer.copy()
        one.remove_payload()
        pos += len(bytes(one))
        bounds.append(pos)
    cut = rng.choice(bounds[:-1] or bounds) + rng.choice([-1, 0, 0, 1])
    cut = max(0, min(cut, len(wire) - 1))
    return f"truncated to {cut} of {len(wire)} octets", wire[:cut]


def _off_curve(point: bytes) -> bytes:
    b = bytearray(point)
    b[-1] ^= 0x01  # y changed, x kept: (x, y+-1) is on the curve with probability ~0
    return bytes(b)


def m_point_off_curve(rng, wire):
    pkt, layers = _layers(wire)
    cands = []
    sakke = next((x for x in layers if isinstance(x, scapy_mikey.MIKEY_SAKKE)), None)
    if sakke is not None and len(sakke.sakke_data) >= 257:
        cands.append("sakke")
    sign = _sign_layer(layers)
    if sign is not None and len(sign.sign_data) == registry.ECCSI_SIGNATURE_LEN:
        cands.append("pvt")
    if not cands:
        raise NotApplicable
    what = rng.choice(cands)
    if what == "sakke":
        d = bytes(sakke.sakke_data)
        sakke.sakke_data = _off_curve(d[:257]) + d[257:]  # RFC 6508 §4.2: R = 04 || x || y
        return "SAKKE R off the curve", bytes(pkt)
    d = bytes(sign.sign_data)
    sign.sign_data = d[:64] + _off_curve(d[64:])
    return "ECCSI PVT off the curve", bytes(pkt)


def m_zero_signature(rng, wire):
    pkt, layers = _layers(wire)
    sign = _sign_layer(layers)
    if sign is None:
        raise NotApplicable
    d = bytes(sign.sign_data)
    sign.sign_data = bytes(64) + d[64:]
    return "r = s = 0", bytes(pkt)


def m_duplicate(rng, wire):
    pkt, layers = _layers(wire)
    cands = [i for i, x in enumerate(layers) if i > 0]
    if not cands:
        raise NotApplicable
    i = rng.choice(cands)
    dup = layers[i].copy()
    dup.remove_payload()
    if "next_payload" in layers[i].JSON_NAMES:
        layers[i].next_payload = layers[i].MIKEY_TYPE
    elif i + 1 == len(layers):  # SIGN twice: the first one says nothing of what follows
        pass
    layers.insert(i + 1, dup)
    return f"payload {i} ({layers[i].CODEC_NAME}) twice", _rebuild(layers, scapy_mikey.trailing(pkt))


def m_resign(rng, wire):
    raise NotApplicable  # handled by the mutator, which holds the keys


MUTATIONS = {
    "length-lie": m_length_lie, "next-payload-loop": m_next_payload_loop,
    "unknown-type": m_unknown_type, "count-overflow": m_count_overflow,
    "oversized-payload": m_oversized, "empty-payload": m_empty,
    "invalid-prot-type": m_invalid_prot_type, "invalid-policy": m_invalid_policy,
    "sign-length": m_sign_length, "truncation": m_truncation, "point-off-curve": m_point_off_curve,
    "zero-signature": m_zero_signature, "duplicate-payload": m_duplicate, "resign": m_resign,
}
assert tuple(MUTATIONS) == CLASSES


# ----------------------------------------------------------------------------------------------
class Mutator:
    """Deterministic mutants of ``seeds`` (MIKEY octets) for ``seed``.

    ``classes`` restricts the mutation classes (default: all; taken in turn so every class
    appears); ``signer`` (an :class:`~dissectors.fuzz.craft.Identity` with SSK and PVT) re-signs every
    mutant that keeps a SIGN payload, in ``region``.
    """

    def __init__(self, seeds, seed: int = 0, classes=CLASSES, signer=None,
                 region: str = "rfc3830"):
        self.seeds = [bytes(s) for s in seeds]
        if not self.seeds:
            raise ValueError("no seed messages")
        unknown = set(classes) - set(CLASSES)
        if unknown:
            raise ValueError(f"unknown mutation class(es) {sorted(unknown)}")
        self.classes = tuple(classes)
        self.rng = random.Random(seed)
        self.signer = signer
        self.region = region

    def _j(self):
        return self.rng.randrange(1, Q)

    def _resign(self, data, region):
        try:
            return craft.resign_as(data, self.signer, region, j=self._j())
        except ValueError:
            return None

    def mutants(self, count: int):
        for index in range(count):
            seed_index = self.rng.randrange(len(self.seeds))
            wire = self.seeds[seed_index]
            order = self.classes[index % len(self.classes):] + self.classes[:index %
                                                                             len(self.classes)]
            for name in order:
                try:
                    if name == "resign":
                        if self.signer is None:
                            raise NotApplicable
                        other = "without_sign_header" if self.region == "rfc3830" else "rfc3830"
                        data = self._resign(wire, self.rng.choice([self.region, other]))
                        if data is None:
                            raise NotApplicable
                        yield Mutant(index, name, "re-signed", seed_index, data, True)
                        break
                    detail, data = MUTATIONS[name](self.rng, wire)
                except NotApplicable:
                    continue
                resigned = False
                if self.signer is not None and name not in ("truncation",):
                    again = self._resign(data, self.region)
                    if again is not None:
                        data, resigned = again, True
                yield Mutant(index, name, detail, seed_index, data, resigned)
                break


# ----------------------------------------------------------------------------------------------
# Output forms
def sdp_line(data: bytes) -> str:
    return f"a=key-mgmt:mikey {base64.b64encode(data).decode()}"


def sip_invite(data: bytes, index: int = 0, target: str = "sip:bob@mcptt.example.org",
               source: str = "sip:alice@mcptt.example.org", host: str = "127.0.0.1") -> bytes:
    """A SIP INVITE whose SDP carries the mutant (RFC 4567 key-mgmt, session level)."""
    sdp = ("v=0\r\no=mcsec 1 1 IN IP4 {h}\r\ns=-\r\nc=IN IP4 {h}\r\nt=0 0\r\n{k}\r\n"
           "m=audio 49170 RTP/SAVP 96\r\na=rtpmap:96 AMR-WB/16000\r\n").format(h=host,
                                                                             k=sdp_line(data))
    head = (f"INVITE {target} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP {host}:5060;branch=z9hG4bK-mcsec-fuzz-{index}\r\n"
            f"Max-Forwards: 70\r\nFrom: <{source}>;tag=fuzz{index}\r\nTo: <{target}>\r\n"
            f"Call-ID: mcsec-fuzz-{index}@{host}\r\nCSeq: 1 INVITE\r\n"
            f"Contact: <{source}>\r\nContent-Type: application/sdp\r\n"
            f"Content-Length: {len(sdp.encode())}\r\n\r\n")
    return head.encode() + sdp.encode()


MAX_UDP_PAYLOAD = 65507  # IPv4: 65535 - 20 (IP) - 8 (UDP)


def pcap_frames(mutants, port: int = scapy_mikey.MIKEY_PORT):
    """One Ethernet/IPv4/UDP frame per mutant; a mutant larger than one UDP datagram
    (``MAX_UDP_PAYLOAD``) cannot be one and is left out (the caller reports how many)."""
    from scapy.layers.inet import IP, UDP
    from scapy.layers.l2 import Ether
    from scapy.packet import Raw

    frames = []
    for m in mutants:
        if len(m.data) > MAX_UDP_PAYLOAD:
            continue
        f = (Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")
             / IP(src="192.0.2.1", dst="192.0.2.2") / UDP(sport=port, dport=port) / Raw(m.data))
        f.time = 1_700_000_000 + m.index
        frames.append(f)
    return frames
