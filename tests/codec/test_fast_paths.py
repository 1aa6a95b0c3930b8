"""The generated fast parse/build functions (codec.struct_codegen.struct_parser / struct_builder)
against construct's own compiled parse/build of the same schemas, the independent oracle.

For every MIKEY structure class: octets cut from real messages and mutated at random must parse
to the same object and end offset (or fail on both sides), and built back — as decoded and with
fields set to odd values (lies, None, out-of-range, wrong types) — give the same octets, or make
the fast build fail so that construct's build decides (issue 17).
"""

from __future__ import annotations

import base64
import io
import random
import re
from pathlib import Path

import pytest

from codec import mikey
from codec.mikey import model
from codec.mikey.model import _BUILD_CONTEXT

CLASSES = [model.HDR, *model.PAYLOAD_CLASSES.values(), model.SrtpIdEntry, model.GenericIdEntry,
           model.Ipsec4IdEntry, model.SpParam, model.THDR]
ODD_VALUES = [None, 0, 1, 2, 7, 255, 256, 70000, -1, True, b"", b"\x01\x02", bytearray(b"ab"), [],
              [1, 2], [300], "x", 2 ** 40, 1.5]


def _construct_parse(cls, data, pos):
    stream = io.BytesIO(data)
    stream.seek(pos)
    try:
        return cls._from_container(cls.parse_fast(stream)), stream.tell()
    except Exception:  # noqa: BLE001 - any failure is "does not parse"
        return None


def _fast_parse(cls, data, pos):
    try:
        return cls._fast_parse(data, pos)
    except Exception:  # noqa: BLE001
        return None


def _state(obj):
    if isinstance(obj, model.Structure):
        d = obj.__dict__
        return (type(obj).__name__, list(d), [(k, _state(v)) for k, v in d.items() if k != "_autoset"],
                sorted(obj._auto))
    if isinstance(obj, list):
        return type(obj).__name__, [_state(x) for x in obj]
    return type(obj).__name__, obj


def _construct_build(obj, next_payload):
    try:
        stream = io.BytesIO()
        obj.compiled().buildfunc(obj._build_dict(next_payload), stream, _BUILD_CONTEXT)
        return stream.getvalue()
    except Exception:  # noqa: BLE001
        return None


def _fast_build(obj, next_payload):
    d = obj.__dict__
    try:
        auto = obj._auto
        return obj._fast_build(obj, obj._sub_values() if obj._HAS_SUBS else d, auto, next_payload)
    except Exception:  # noqa: BLE001
        return None


@pytest.fixture(scope="module")
def samples():
    """Octet strings starting at every structure (and CS ID map entry) of real messages: the
    MIKEY-SAKKE samples (PCK, GMK with a GENERIC-ID map), a PSK message with SP and KEMAC, the
    RFC 6043 ticket exchange."""
    from dissectors.fuzz import craft

    messages = Path(__file__).resolve().parents[2] / "pcaps" / "messages"
    sdp = (messages / "mikey-sakke-gmk.sdp").read_bytes()
    wires = [bytes.fromhex("".join((messages / "mikey-sakke-pck.hex").read_text().split())),
             base64.b64decode(re.search(rb"key-mgmt:mikey ([A-Za-z0-9+/=]+)", sdp).group(1)),
             craft.psk_i_message(bytes(16))]
    rnd = craft.ticket_round(psk_initiator=bytes(16), psk_responder=bytes(16), tpk=bytes(16),
                             mpk=bytes(16), tgk=bytes(16), t_value=0xE8F1C2A3_00000000)
    wires += [bytes(v) for v in rnd.messages.values()]
    assert len({mikey.decode(x).hdr.data_type for x in wires[:3]}) == 2  # SAKKE and PSK
    out = {}  # structure class -> octets starting at one of its kind
    for wire in wires:
        msg = mikey.decode(wire)
        for s, off in zip([msg.hdr, *msg.payloads], msg.offsets):
            out.setdefault(type(s), []).append(wire[off:])
            for name in getattr(s, "NESTED", {}):
                for e in s.__dict__[name]:
                    out.setdefault(type(e), []).append(e.to_bytes())
    out[model.SpParam] = [bytes([1, 1, 16]), bytes([13, 0]), bytes([2, 2, 0, 20])]  # RFC 3830 §6.10
    out[model.Ipsec4IdEntry] = [bytes(range(1, 14))]
    return out


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_fast_paths_agree_with_construct(cls, samples):
    cls._prepare_fast()
    assert cls._fast_parse is not None and cls._fast_build is not None, "no fast path generated"
    rng = random.Random(cls.__name__)
    parsed = 0
    for i in range(600):
        own = samples.get(cls)
        pool = own if own and rng.random() < 0.8 else [x for xs in samples.values() for x in xs]
        data = bytearray(rng.choice(pool))
        for _ in range(rng.choice([0, 0, 1, 2, 3])):
            if data:
                data[rng.randrange(len(data))] = rng.choice([0, 1, 2, 3, 255, rng.randrange(256)])
        if rng.random() < 0.2:
            data = data[:rng.randrange(len(data) + 1)]
        data = bytes(data)
        pos = rng.choice([0, 0, 0, 1])
        want, got = _construct_parse(cls, data, pos), _fast_parse(cls, data, pos)
        assert (want is None) == (got is None), (data[pos:pos + 40].hex(), want, got)
        if want is None:
            continue
        parsed += 1
        assert want[1] == got[1] and _state(want[0]) == _state(got[0])
        for trial in range(3):
            obj = got[0].copy()
            if trial:
                for name in rng.sample(obj.FIELD_NAMES, min(2, len(obj.FIELD_NAMES))):
                    setattr(obj, name, rng.choice(ODD_VALUES))
            np_ = rng.choice([None, 0, 5, 300])
            fast = _fast_build(obj, np_)
            if fast is not None:  # a fast failure only means construct's build decides
                assert fast == _construct_build(obj, np_), (obj, np_)
            elif trial == 0:  # as decoded: the fast build fails only where construct's does
                assert _construct_build(obj, np_) is None, (obj, np_)
    assert parsed >= 20, f"only {parsed} inputs parsed: the test exercises too little"
