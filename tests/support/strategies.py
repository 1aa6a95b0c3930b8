"""Hypothesis strategies for valid MIKEY messages, built through the public API.

Simple fields are drawn from the schema metadata (integer widths, byte strings); fields whose size
depends on another field (MAC by MAC alg, DH value by group, TS value by TS type, KV data by KV) are
drawn together with their selector.
"""

from __future__ import annotations

from hypothesis import strategies as st

from codec import mikey
from codec.mikey import registry

SMALL = 24  # keep byte strings short: the codec's behaviour does not depend on their size


def _bytes(max_size=SMALL):
    return st.binary(max_size=max_size)


def _generic(cls, skip=(), **fixed):
    """Strategy for ``cls`` from its schema metadata; ``fixed`` overrides fields."""
    fields = {}
    for name, meta in cls.FIELDS:
        if name in fixed or name in skip or name in cls.COMPUTED or name in cls.OPTIONAL:
            continue
        if name in cls.NESTED or name in cls.PACKED:
            continue
        if meta.display in ("bytes", "text"):
            fields[name] = _bytes()
        elif meta.bits:
            fields[name] = st.integers(0, (1 << meta.bits) - 1)
    fields.update(fixed)
    return st.builds(cls, **fields)


@st.composite
def kv_fields(draw):
    kv = draw(st.sampled_from([0, 1, 2]))
    d = {"kv": kv}
    if kv == 1:
        d["spi"] = draw(_bytes(8))
    elif kv == 2:
        d["vf"] = draw(_bytes(8))
        d["vt"] = draw(_bytes(8))
    return d


@st.composite
def sized(draw, selector, lengths):
    key = draw(st.sampled_from(sorted(lengths)))
    return key, draw(st.binary(min_size=lengths[key], max_size=lengths[key]))


@st.composite
def ts_fields(draw):
    ts_type = draw(st.sampled_from(sorted(registry.TS_VALUE_LENGTHS)))
    return ts_type, draw(st.integers(0, (1 << (8 * registry.TS_VALUE_LENGTHS[ts_type])) - 1))


@st.composite
def kemac(draw):
    mac_alg, mac = draw(sized("mac_alg", registry.MAC_LENGTHS))
    return mikey.KEMAC(encr_alg=draw(st.integers(0, 255)), encr_data=draw(_bytes(64)),
                       mac_alg=mac_alg, mac=mac)


@st.composite
def dh(draw):
    group, value = draw(sized("dh_group", registry.DH_VALUE_LENGTHS))
    return mikey.DH(dh_group=group, dh_value=value, reserved=draw(st.integers(0, 15)),
                    **draw(kv_fields()))


@st.composite
def key_data(draw):
    ktype = draw(st.integers(0, 15))
    d = dict(type=ktype, key_data=draw(_bytes(32)), **draw(kv_fields()))
    if ktype in registry.KEY_TYPES_WITH_SALT:
        d["salt"] = draw(_bytes(14))
    return mikey.KEY_DATA(**d)


@st.composite
def t_payload(draw, cls=mikey.T):
    ts_type, value = draw(ts_fields())
    extra = {"ts_role": draw(st.integers(0, 255))} if cls is mikey.TR else {}
    return cls(ts_type=ts_type, ts_value=value, **extra)


@st.composite
def chash(draw):
    f, h = draw(sized("hash_func", registry.HASH_LENGTHS))
    return mikey.CHASH(hash_func=f, hash=h)


@st.composite
def v_payload(draw):
    a, d = draw(sized("auth_alg", registry.MAC_LENGTHS))
    return mikey.V(auth_alg=a, ver_data=d)


sp_param = st.builds(mikey.SpParam, type=st.integers(0, 255), value=_bytes(4))


@st.composite
def sp(draw):
    prot = draw(st.sampled_from([0, 0, mikey.DEFAULT_TLS_PROT_TYPE, 7, 99]))
    params = draw(st.lists(sp_param, max_size=5))
    return mikey.SP(policy_no=draw(st.integers(0, 255)), prot_type=prot, policy_params=params)


generic_entry = st.builds(
    mikey.GenericIdEntry, cs_id=st.integers(0, 255), prot_type=st.integers(0, 255),
    s=st.integers(0, 1), policies=st.lists(st.integers(0, 255), max_size=4),
    session_data=_bytes(12), spi=_bytes(8))
srtp_entry = st.builds(mikey.SrtpIdEntry, policy_no=st.integers(0, 255),
                       ssrc=st.integers(0, 2**32 - 1), roc=st.integers(0, 2**32 - 1))
ipsec4_entry = st.builds(mikey.Ipsec4IdEntry, policy_no=st.integers(0, 255),
                         spi=st.integers(0, 2**32 - 1), src_addr=st.integers(0, 2**32 - 1),
                         dst_addr=st.integers(0, 2**32 - 1))


@st.composite
def hdr(draw):
    map_type = draw(st.sampled_from([0, 1, 2, 7]))
    entries = {0: st.lists(srtp_entry, max_size=3), 1: st.just([]),
               2: st.lists(generic_entry, max_size=3), 7: st.lists(ipsec4_entry, max_size=2)}
    return mikey.HDR(version=draw(st.integers(0, 255)), data_type=draw(st.integers(0, 255)),
                     v=draw(st.integers(0, 1)), prf_func=draw(st.integers(0, 127)),
                     csb_id=draw(st.integers(0, 2**32 - 1)), cs_id_map_type=map_type,
                     cs_id_map=draw(entries[map_type]))


PAYLOADS = {
    "KEMAC": kemac(),
    "PKE": _generic(mikey.PKE),
    "DH": dh(),
    "T": t_payload(),
    "ID": _generic(mikey.ID),
    "CERT": _generic(mikey.CERT),
    "CHASH": chash(),
    "V": v_payload(),
    "SP": sp(),
    "RAND": _generic(mikey.RAND),
    "ERR": _generic(mikey.ERR, reserved=st.binary(min_size=2, max_size=2)),
    "TR": t_payload(mikey.TR),
    "IDR": _generic(mikey.IDR),
    "RANDR": _generic(mikey.RANDR),
    "TP": _generic(mikey.TP),
    "TICKET": _generic(mikey.TICKET),
    "KEY_DATA": key_data(),
    "GEN_EXT": _generic(mikey.GEN_EXT),
    "SAKKE": _generic(mikey.SAKKE),
}
SIGN = _generic(mikey.SIGN)


@st.composite
def messages(draw):
    payloads = draw(st.lists(st.one_of(*PAYLOADS.values()), max_size=8))
    if draw(st.booleans()):
        payloads.append(draw(SIGN))
    return mikey.Message(draw(hdr()), payloads)
