"""MIKEY-SAKKE I_MESSAGEs (RFC 6509) in the TS 33.180 profile: verify, decrypt, derive, build.

:func:`process` takes a decoded message, its octets and a :class:`~codec.keyring.Keyring` and
returns a :class:`SakkeResult`: which signed-region convention verified (or why none did), the SSV
(the GMK / PCK / CSK / MuSiK itself, TS 33.180 §E.1.1), the key type from the purpose tag, GUK-ID
and GMK-ID, the decrypted GEN_EXT type 7 key parameters and each crypto session's SRTP master key,
salt and MKI.  Verification comes first; a message that fails it is decrypted only when the caller
asks (``decrypt_unverified=True``) and the result says so.  Nothing here raises on bad input:
every failure is a field of the result.

:func:`build_i_message` makes real, signed and encapsulated I_MESSAGEs for GMK, PCK and CSK.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass, field
from functools import lru_cache

from codec.crypto import eccsi, mcx, prf, sakke
from codec.keyring import Keyring, KmsKeys, UserKeys
from codec.mikey import keyparams
from codec.mikey import model
from codec.mikey import render
from codec.mikey.message import Message, encode

SAKKE_DATA_TYPE = 26
ROLE_I, ROLE_R, ROLE_KMSI, ROLE_KMSR = 1, 2, 6, 7
ROLE_UID_I, ROLE_UID_R = 8, 9  # Streamwide identity hiding (UNCONFIRMED)
DEFAULT_KEY_PERIOD = 2592000  # 30 days, TS 33.180 §F.2.1.2 example value
REGION_RFC = "rfc3830"  # up to and including the 2-octet SIGN header (RFC 3830 §5.2)
REGION_SHORT = "without_sign_header"  # Alea/Softil: the SIGN header excluded

# TS 33.180 default crypto sessions when the CS ID map is empty (Table E.1.3-1)
DEFAULT_CS_IDS = {"PCK": (0, 1), "GMK": (4,), "CSK": (6,), "MuSiK": (7,)}
# SRTP master key/salt lengths of the AES-GCM default profiles (Tables E.2-1/E.3-1)
DEFAULT_KEY_LEN, DEFAULT_SALT_LEN = 16, 12


@dataclass
class CryptoSession:
    cs_id: int
    mki: bytes
    master_key: bytes
    master_salt: bytes
    use: str = ""
    ssrc: int | None = None  # the stream the map names (SRTP-ID map, GENERIC-ID Session Data)
    roc: int | None = None  # its initial rollover counter (RFC 3830 §6.1.1, RFC 6043 §6.1.1)


@dataclass
class SakkeResult:
    key_type: str | None = None
    key_id: int | None = None  # the key's own ID (GMK-ID for a GMK, else the CSB ID)
    guk_id: int | None = None
    csb_id: int | None = None
    initiator: str | None = None
    responder: str | None = None
    kms_initiator: str | None = None
    kms_responder: str | None = None
    sender_uid: bytes | None = None
    receiver_uid: bytes | None = None
    # URIs of keyring users whose TS 33.180 §F.2.1 UID matched a UID sent in IDRi/IDRr
    sender_uri: str | None = None
    receiver_uri: str | None = None
    period_no: int | None = None
    verified: bool | None = None  # None: not attempted (no key)
    region: str | None = None
    sign_error: str | None = None
    ssv: bytes | None = None
    decrypt_error: str | None = None
    decrypted_unverified: bool = False
    key_params: keyparams.KeyParamsResult | None = None
    key_type_mismatch: int | None = None  # key type the key parameters state, when it disagrees
    crypto_sessions: list = field(default_factory=list)
    notes: list = field(default_factory=list)


# -- helpers -----------------------------------------------------------------------------------
def carries_sakke(msg: Message) -> bool:
    """A MIKEY-SAKKE I_MESSAGE (RFC 6509 §4.1: data type 26), or any message with a SAKKE
    payload: what the SAKKE processing is asked to open."""
    return msg.hdr.data_type == SAKKE_DATA_TYPE or msg.find("SAKKE") is not None


def ntp_seconds(msg: Message) -> int | None:
    t = msg.find("T")
    if t is None:
        return None
    return t.ts_value >> 32 if t.ts_type in (0, 1) else t.ts_value if t.ts_type == 3 else None


def _idr(msg: Message, role: int) -> bytes | None:
    return next((p.id_data for p in msg.find_all("IDR") if p.id_role == role), None)


def _text(b: bytes | None) -> str | None:
    if b is None:
        return None
    try:
        return b.decode("utf-8")
    except UnicodeDecodeError:
        return None


_URI = __import__("re").compile(r"^[A-Za-z][A-Za-z0-9+.-]*:[\x21-\x7e]+$")


def _looks_like_uid(b: bytes | None) -> bool:
    """32 octets that are not a URI: a hashed UID sent in place of the URI (ref. §9)."""
    if b is None or len(b) != 32:
        return False
    text = _text(b)
    return text is None or not _URI.match(text)


def _period(kms: KmsKeys | None) -> tuple[int, int]:
    if kms is None or not kms.user_key_period:
        return DEFAULT_KEY_PERIOD, 0
    return kms.user_key_period, kms.user_key_offset or 0


def candidate_identifiers(id_data: bytes | None, kms_uri: str | None, kms: KmsKeys | None,
                          ntp: int | None, id_scheme: int = 2):
    """(identifier, period number) to try for an identity: the period of T first, then ±1."""
    if id_data is None:
        return []
    if _looks_like_uid(id_data) and id_scheme == 2:
        return [(bytes(id_data), None)]
    uri = _text(id_data)
    if uri is None or ntp is None:
        return []
    if id_scheme == 1:  # RFC 6509 §3.2 monthly identifiers
        t = dt.datetime(1900, 1, 1, tzinfo=dt.timezone.utc) + dt.timedelta(seconds=ntp)
        months = [(t.year, t.month)]
        prev = (t.year - (t.month == 1), 12 if t.month == 1 else t.month - 1)
        return [(mcx.rfc6509_identifier(uri, *ym), None) for ym in months + [prev]]
    if kms_uri is None:
        return []
    period, offset = _period(kms)
    p5 = mcx.key_period_number(ntp, period, offset)
    # TS 33.180 §F.2.1: periods are counted from 0 (a T before the offset has none)
    return [(mcx.uid(uri, kms_uri, period, offset, n), n) for n in (p5, p5 - 1, p5 + 1)
            if n >= 0]


@lru_cache(maxsize=1 << 16)
def cached_uid(user_uri: str, kms_uri: str, period: int, offset: int, period_no: int) -> bytes:
    """TS 33.180 §F.2.1 UID, cached per (user, KMS, period): a capture of many UID-form
    messages hashes each user once per key period, not once per message."""
    return mcx.uid(user_uri, kms_uri, period, offset, period_no)


def resolve_uid(uid: bytes, keys: Keyring, kms_uri: str | None, kms: KmsKeys | None,
                ntp: int | None, need_rsk: bool = False) -> list[tuple[UserKeys, int | None]]:
    """The keyring users whose UID equals ``uid`` sent in an IDR, with the key period number.

    A user entry with a UID matches it directly.  A user known only by URI (as a KMS provisions
    it) gets its UID computed (TS 33.180 §F.2.1) with the message's KMS (``kms_uri``, its
    UserKeyPeriod/UserKeyOffset) for the key period of T, the periods either side and any
    period the entry states.  The computed UIDs are indexed per (KMS, period): a message costs
    a few dictionary look-ups, however many users the keyring holds.
    """
    uid = bytes(uid)
    found: list = []
    seen: set = set()

    def add(u, n):
        if id(u) not in seen and (u.rsk is not None or not need_rsk):
            seen.add(id(u))
            found.append((u, n))

    for u in keys.users:
        if u.uid is not None and u.uid == uid:
            add(u, u.period)
    if kms_uri is None:
        return found
    period, offset = _period(kms)
    near = []
    if ntp is not None:
        p5 = mcx.key_period_number(ntp, period, offset)
        near = [n for n in (p5, p5 - 1, p5 + 1) if n >= 0]
    for n in near:
        for u in _uid_index(keys.users, kms_uri, period, offset, n).get(uid, ()):
            add(u, n)
    for u in keys.users:  # a period the entry states, far from T
        if (u.uid is None and u.uri is not None and u.period is not None and u.period not in near
                and (u.kms is None or u.kms == kms_uri)
                and cached_uid(u.uri, kms_uri, period, offset, u.period) == uid):
            add(u, u.period)
    return found


_UID_INDEX: dict = {}  # (KMS, period length, offset, period no) -> (users list, {UID: [users]})


def _uid_index(users: list, kms_uri: str, period: int, offset: int, n: int) -> dict:
    """{UID: users} of the URI-only users of ``kms_uri`` for key period ``n``; rebuilt when the
    user list grows (the dissector appends keys found in KMS XML)."""
    key = (kms_uri, period, offset, n)
    hit = _UID_INDEX.get(key)
    if hit is not None and hit[0] is users and hit[1] == len(users):
        return hit[2]
    index: dict = {}
    for u in users:
        if u.uid is None and u.uri is not None and (u.kms is None or u.kms == kms_uri):
            index.setdefault(cached_uid(u.uri, kms_uri, period, offset, n), []).append(u)
    if len(_UID_INDEX) >= 256:
        _UID_INDEX.clear()
    _UID_INDEX[key] = (users, len(users), index)
    return index


@lru_cache(maxsize=64)
def _receiver_key(identifier: bytes, z: bytes, rsk: bytes) -> sakke.ReceiverKey:
    return sakke.ReceiverKey(identifier, z, rsk)


def signed_region(wire: bytes, sign_len: int, convention: str) -> bytes:
    end = len(wire) - sign_len
    return wire[:end] if convention == REGION_RFC else wire[:end - 2]


# -- processing --------------------------------------------------------------------------------
def process(msg: Message, wire: bytes, keys: Keyring, *, decrypt_unverified: bool = False) -> SakkeResult:
    """Verify, decrypt and derive everything an I_MESSAGE carries for the keys at hand."""
    res = SakkeResult(csb_id=msg.hdr.csb_id)
    key_id = mcx.KeyId(msg.hdr.csb_id)
    res.key_type = key_id.key_type
    if key_id.unconfirmed:
        res.notes.append(f"purpose tag {key_id.purpose_tag} ({key_id.key_type}) is UNCONFIRMED")
    if msg.hdr.data_type != SAKKE_DATA_TYPE:
        res.notes.append(f"data type {msg.hdr.data_type} is not SAKKE (26)")
    idr_i, idr_r = _idr(msg, ROLE_I) or _idr(msg, ROLE_UID_I), _idr(msg, ROLE_R) or _idr(msg, ROLE_UID_R)
    uid_i, uid_r = _looks_like_uid(idr_i), _looks_like_uid(idr_r)  # UID-form identities
    res.initiator = None if uid_i else _text(idr_i)
    res.responder = None if uid_r else _text(idr_r)
    res.kms_initiator, res.kms_responder = _text(_idr(msg, ROLE_KMSI)), _text(_idr(msg, ROLE_KMSR))
    kms_i = _find_kms(keys, res.kms_initiator)
    kms_r = _find_kms(keys, res.kms_responder or res.kms_initiator)
    sakke_p = msg.find("SAKKE")
    id_scheme = sakke_p.id_scheme if sakke_p is not None else 2
    ntp = ntp_seconds(msg)
    wire = bytes(wire[:len(wire) - len(msg.trailing)]) if msg.trailing else bytes(wire)

    # 1. RFC 6509 §4.3 / TS 33.180 §E.1.2: verify the ECCSI signature
    sign = msg.payloads[-1] if msg.payloads and msg.payloads[-1].NAME == "SIGN" else None
    if sign is None:
        res.verified, res.sign_error = False, "no SIGN payload"
    elif sign.s_type != 2:
        res.verified, res.sign_error = False, f"signature type {sign.s_type} is not ECCSI (2)"
    elif kms_i is None or kms_i.kpak is None:
        res.sign_error = f"no key: KPAK of KMS {res.kms_initiator or '(no IDRkmsi)'}"
    else:
        cands = candidate_identifiers(idr_i, res.kms_initiator or kms_i.uri, kms_i, ntp, id_scheme)
        if not cands:
            res.sign_error = "cannot form the initiator's identifier (no IDRi or no timestamp)"
        res.verified = False if cands else None
        reasons = []
        for ident, pno in cands:
            for conv in (REGION_RFC, REGION_SHORT):
                v = eccsi.verify(signed_region(wire, len(sign.signature), conv), sign.signature,
                                 ident, kms_i.kpak)
                if v.ok:
                    res.verified, res.region, res.sender_uid = True, conv, ident
                    res.period_no = pno
                    break
                reasons.append(v.reason)
            if res.verified:
                break
        if res.verified is False:
            res.sign_error = _first_meaningful(reasons)
        if res.verified and res.region == REGION_SHORT:
            res.notes.append("signature covers the message without the SIGN header "
                             "(Alea/Softil convention), not RFC 3830 §5.2")
    if uid_i:  # name the signer: the keyring user whose UID (TS 33.180 §F.2.1) was sent
        res.sender_uri, pno = _name_uid(res, idr_i, keys, res.kms_initiator or
                                        (kms_i.uri if kms_i else None), kms_i, ntp, "IDRi")
        if res.period_no is None:
            res.period_no = pno

    # 2. RFC 6508 §6.2.2: decapsulate the SSV with our RSK
    if sakke_p is None:
        res.decrypt_error = "no SAKKE payload"
    elif res.verified is not True and not decrypt_unverified:
        res.decrypt_error = ("not decrypted: signature not verified (use --decrypt-unverified)"
                             if res.verified is False else
                             "not decrypted: signature could not be checked (use "
                             "--decrypt-unverified)")
    else:
        _decapsulate(res, sakke_p, idr_r, kms_r, keys, ntp, id_scheme, res.responder)
        if res.ssv is None:
            _sakke_to_self(res, msg, idr_i, kms_i, keys, ntp)
        res.decrypted_unverified = res.ssv is not None and res.verified is not True
    if res.ssv is None:
        return res

    # 3. TS 33.180 §F.1.3: GMK-ID from the GUK-ID with the recipient's user salt; the salt needs
    # the member's URI: IDRr's, or for a UID the URI of the keyring user it belongs to
    if uid_r and res.receiver_uri is None:
        res.receiver_uri, pno = _name_uid(res, idr_r, keys, res.kms_responder or
                                          (kms_r.uri if kms_r else None), kms_r, ntp, "IDRr")
        if res.period_no is None:
            res.period_no = pno
    if res.key_type == "GMK":
        res.guk_id = msg.hdr.csb_id
        member = res.responder or res.receiver_uri
        if member:
            res.key_id = mcx.gmk_id_from_guk_id(msg.hdr.csb_id, res.ssv, member)
        else:
            res.key_id = _gmk_id_from_mki(msg)
            res.notes.append("GMK-ID " + ("taken from the MKI (GMK-ID || GUK-ID) of the CS ID map, "
                                          "not checked: " if res.key_id is not None else
                                          "unknown: ") + "the member's URI is not known "
                             "(IDRr carries no URI and no keyring user's UID matches it)")
    else:
        res.key_id = msg.hdr.csb_id

    # 4. TS 33.180 §E.6: GEN_EXT type 7 key parameters
    for ext in msg.find_all("GEN_EXT"):
        if ext.type == 7:
            res.key_params = keyparams.open_key_parameters(ext.data, res.ssv, msg.hdr.csb_id)
            _key_type_agreement(res, key_id)
            break

    # 5. TS 33.180 §7.4: SRTP master key and salt per crypto session
    try:
        res.crypto_sessions = crypto_sessions(msg, res.ssv, res.key_type, res.key_id)
    except prf.PrfError as e:
        res.notes.append(f"no SRTP keys: {e}")
    return res


def _key_type_agreement(res: SakkeResult, key_id: mcx.KeyId) -> None:
    """The CSB ID's purpose tag decides the key type (TS 33.180 §5.2.2): crypto sessions, CS
    labels and the MKI follow it; key parameters stating another type (§E.6.11) are a note."""
    stated = res.key_params.key_type if res.key_params is not None else None
    if stated is None or stated == key_id.purpose_tag:
        return
    name = mcx.KEY_TYPES.get(stated, "unknown")
    older = (" (the older layout's key type + 1 would explain it)"
             if res.key_params.legacy and stated == key_id.purpose_tag + 1 else "")
    res.key_type_mismatch = stated
    res.notes.append(f"key parameters state key type {stated} ({name}) but the CSB ID "
                     f"0x{key_id.value:08x} has purpose tag {key_id.purpose_tag} ({res.key_type})"
                     f"{older}: the CSB ID's key type is used")


def _name_uid(res, uid, keys, kms_uri, kms, ntp, where):
    """(URI, period number) of the keyring user a UID-form identity belongs to, or (None, None)."""
    matches = resolve_uid(uid, keys, kms_uri, kms, ntp)
    uris = {u.uri for u, _ in matches if u.uri is not None}
    if len(uris) > 1:
        res.notes.append(f"{where}: the UID matches several keyring users ({', '.join(sorted(uris))})")
    if not uris:
        return None, next((n for _, n in matches if n is not None), None)
    uri = sorted(uris)[0]
    return uri, next((n for u, n in matches if u.uri == uri), None)


def _gmk_id_from_mki(msg: Message) -> int | None:
    """TS 33.180 §E.2: the GENERIC-ID SPI of a GMK is GMK-ID || GUK-ID (GUK-ID = CSB ID)."""
    hdr = msg.hdr
    if hdr.cs_id_map_type != 2:
        return None
    for e in hdr.cs_id_map or ():
        spi = bytes(e.spi)
        if len(spi) == 8 and int.from_bytes(spi[4:], "big") == hdr.csb_id:
            return int.from_bytes(spi[:4], "big")
    return None


def _first_meaningful(reasons):
    for r in reasons:
        if "Jx != r" not in r:
            return r
    return reasons[0] if reasons else "signature does not verify"


def _find_kms(keys: Keyring, uri: str | None) -> KmsKeys | None:
    if uri is not None:
        k = keys.kms_by_uri(uri)
        if k is not None:
            return k
    return keys.kms[0] if len(keys.kms) == 1 else None


def _sakke_to_self(res, msg, idr_i, kms_i, keys, ntp):
    """TS 33.180 §E.5: GEN_EXT type 6 holds the key encapsulated to the initiator's own UID."""
    ext = next((e for e in msg.find_all("GEN_EXT") if e.type == 6), None)
    if ext is None:
        return
    import io

    try:
        inner = model.SAKKE._from_container(model.SAKKE.parse_fast(io.BytesIO(ext.data)))
    except Exception:  # noqa: BLE001 - malformed extension data
        res.notes.append("GEN_EXT type 6 does not hold a SAKKE payload")
        return
    saved = res.decrypt_error
    _decapsulate(res, inner, idr_i, kms_i, keys, ntp, inner.id_scheme, res.initiator,
                 to_self=True)
    if res.ssv is not None:
        res.notes.append("key recovered from the SAKKE-to-self extension (GEN_EXT type 6) with "
                         "the initiator's own keys")
    else:
        res.decrypt_error = saved


def _decapsulate(res, sakke_p, idr_r, kms_r, keys, ntp, id_scheme, owner_uri=None,
                 to_self=False):
    if sakke_p.sakke_params != 1:
        res.decrypt_error = f"SAKKE parameter set {sakke_p.sakke_params} not supported (1)"
        return
    if kms_r is None or kms_r.z is None:
        res.decrypt_error = f"no key: Z of KMS {res.kms_responder or '(no IDRkmsr)'}"
        return
    kms_uri = (res.kms_initiator if to_self else res.kms_responder) or kms_r.uri
    cands = candidate_identifiers(idr_r, kms_uri, kms_r, ntp, id_scheme)
    users = [u for u in keys.users if u.rsk is not None]
    tried = False
    last_error = None
    for ident, pno in cands:
        if pno is None and _looks_like_uid(ident) and id_scheme == 2:
            # a UID in the IDR: the keyring users whose UID it is (URI-only users computed)
            pairs = resolve_uid(ident, keys, kms_uri, kms_r, ntp, need_rsk=True)
        else:
            pairs = [(u, pno) for u in users if _user_matches(u, ident, pno, owner_uri)]
        for u, upno in pairs:
            tried = True
            try:
                rk = _receiver_key(ident, bytes(kms_r.z), bytes(u.rsk))
                res.ssv = rk.decapsulate(bytes(sakke_p.sakke_data))
                res.decrypt_error = None
                res.receiver_uid = ident
                if pno is None and u.uri is not None:  # matched a UID sent in the IDR
                    if to_self:
                        res.sender_uri = res.sender_uri or u.uri
                    else:
                        res.receiver_uri = u.uri  # TS 33.180 §F.1.3 needs it for the GMK-ID
                if res.period_no is None:
                    res.period_no = upno
                return
            except sakke.SakkeError as e:
                last_error = str(e)
    if not tried and len(cands) == 1 and cands[0][1] is None and _looks_like_uid(cands[0][0]):
        period, offset = _period(kms_r)
        p5 = mcx.key_period_number(ntp, period, offset) if ntp is not None else None
        res.decrypt_error = (f"no key: no keyring user of KMS {kms_uri} with an RSK has the UID "
                             f"{cands[0][0].hex()[:16]}… (computed for key periods "
                             + ("-" if p5 is None else f"{p5 - 1}, {p5}, {p5 + 1}")
                             + " and the periods the entries state)")
    elif not tried:
        res.decrypt_error = (f"no key: RSK of {res.responder or 'the responder'} for the key "
                             f"period of the message (tried periods "
                             f"{', '.join(str(p) for _, p in cands if p is not None) or '-'})")
    else:
        res.decrypt_error = f"SAKKE decapsulation failed: {last_error}"


def _user_matches(u: UserKeys, ident: bytes, pno, responder_uri) -> bool:
    if u.uid is not None:
        return u.uid == ident
    if u.uri is not None and responder_uri is not None and u.uri == responder_uri:
        return u.period is None or pno is None or u.period == pno
    return False


def crypto_sessions(msg: Message, key: bytes, key_type: str | None, key_id: int | None):
    """Each crypto session's SRTP master key, salt and MKI (RFC 3830 §4.1.3, TS 33.180 §7.4)."""
    rand_p = msg.find("RAND")
    rand = rand_p.rand if rand_p is not None else b""
    csb = msg.hdr.csb_id
    key_len, salt_len = _srtp_lengths(msg)
    out = []
    hdr = msg.hdr
    if hdr.cs_id_map_type == 2 and hdr.cs_id_map:
        entries = []
        for e in hdr.cs_id_map:
            sd = render.srtp_session_data(e)
            entries.append((e.cs_id, bytes(e.spi), sd.ssrc if sd else None, sd.roc if sd else None))
    elif hdr.cs_id_map_type == 0 and hdr.cs_id_map:  # RFC 3830 §6.1.1: CS i is entry i, no MKI
        entries = [(i + 1, b"", e.ssrc, e.roc) for i, e in enumerate(hdr.cs_id_map)]
    else:
        mki = _default_mki(key_type, key_id, csb)
        entries = [(cs, mki, None, None) for cs in DEFAULT_CS_IDS.get(key_type, ())]
    for cs_id, mki, ssrc, roc in entries:
        mk, ms = prf.srtp_master(key, cs_id, csb, rand, key_len, salt_len, hdr.prf_func)
        out.append(CryptoSession(cs_id, mki, mk, ms, mcx.CS_IDS.get(cs_id, ""), ssrc, roc))
    return out


def _default_mki(key_type, key_id, csb) -> bytes:
    if key_type == "GMK" and key_id is not None:
        return key_id.to_bytes(4, "big") + csb.to_bytes(4, "big")  # GMK-ID || GUK-ID
    return csb.to_bytes(4, "big")


def _srtp_lengths(msg: Message):
    key_len, salt_len = DEFAULT_KEY_LEN, DEFAULT_SALT_LEN
    for sp in msg.find_all("SP"):
        if sp.prot_type == 0 and isinstance(sp.policy_params, list):
            for prm in sp.policy_params:
                if prm.type == 1 and len(prm.value) == 1:
                    key_len = prm.value[0]
                elif prm.type == 4 and len(prm.value) == 1:
                    salt_len = prm.value[0]
    return key_len, salt_len


# -- building ----------------------------------------------------------------------------------
@dataclass
class Party:
    """One end of an I_MESSAGE: its identity and the keys it has."""

    uri: str
    kms_uri: str
    identifier: bytes  # UID for the key period (or RFC 6509 identifier)
    kpak: bytes | None = None  # its KMS's ECCSI public key
    z: bytes | None = None  # its KMS's SAKKE public key
    ssk: bytes | None = None
    pvt: bytes | None = None


def _identity_idrs(identities: str, initiator: Party, responder: Party) -> list:
    if identities == "uri":
        return [model.IDR(id_role=ROLE_I, id_type=1, id_data=initiator.uri.encode()),
                model.IDR(id_role=ROLE_R, id_type=1, id_data=responder.uri.encode())]
    if identities == "uid":
        return [model.IDR(id_role=ROLE_I, id_type=2, id_data=initiator.identifier),
                model.IDR(id_role=ROLE_R, id_type=2, id_data=responder.identifier)]
    if identities == "uid-roles":
        return [model.IDR(id_role=ROLE_UID_I, id_type=1, id_data=initiator.identifier),
                model.IDR(id_role=ROLE_UID_R, id_type=1, id_data=responder.identifier)]
    raise ValueError(f"identities: 'uri', 'uid' or 'uid-roles', not {identities!r}")


def build_i_message(key_type: str, key: bytes, key_id: int, initiator: Party, responder: Party,
                    *, ntp_time: int, rand: bytes | None = None, map_style: str = "generic",
                    key_params: keyparams.KeyParameters | None = None, region: str = REGION_RFC,
                    prf_func: int = 1, id_scheme: int = 2, sp: model.SP | None = None,
                    iv: bytes | None = None, sakke_to_self: bool = False,
                    j: int | None = None, srtp_ids: list[tuple[int, int]] = (),
                    identities: str = "uri", key_params_data: bytes | None = None) -> bytes:
    """A signed, encapsulated MIKEY-SAKKE I_MESSAGE carrying ``key`` (TS 33.180 §E.2–§E.4).

    ``key_id`` is the key's ID (GMK-ID, PCK-ID, CSK-ID); for a GMK the HDR carries the
    recipient's GUK-ID.  ``map_style``: "generic" (GENERIC-ID, one CS entry), "empty", or
    "srtp-id" (RFC 3830 §6.1.1: one CS per (SSRC, ROC) of ``srtp_ids``, policy 0, no MKI).
    ``ntp_time`` is the 64-bit NTP timestamp for T (seconds in the high 32 bits).
    ``identities``: "uri" (IDRi/IDRr carry the URIs, TS 33.180 §E.1.2), "uid" (they carry the
    32-octet UIDs as byte strings) or "uid-roles" (UIDs in IDR roles 8/9 with ID type 1, as
    Streamwide's identity hiding writes them; UNCONFIRMED roles).  ``key_params_data``: GEN_EXT
    type 7 data written as is (e.g. a legacy layout) instead of protected ``key_params``.
    """
    if len(key) != sakke.SSV_LEN:
        raise ValueError("TS 33.180 keys are 16 octets")
    rand = rand if rand is not None else os.urandom(16)
    if key_type == "GMK":
        csb_id = mcx.guk_id(key_id, key, responder.uri)
        spi = key_id.to_bytes(4, "big") + csb_id.to_bytes(4, "big")
    else:
        csb_id, spi = key_id, key_id.to_bytes(4, "big")
    if map_style == "generic":
        cs = DEFAULT_CS_IDS[key_type][0]
        hdr = model.HDR(data_type=SAKKE_DATA_TYPE, v=0, prf_func=prf_func, csb_id=csb_id,
                        cs_id_map_type=2,
                        cs_id_map=[model.GenericIdEntry(cs_id=cs, prot_type=0, s=0, policies=[0],
                                                        spi=spi)])
    elif map_style == "srtp-id":
        hdr = model.HDR(data_type=SAKKE_DATA_TYPE, v=0, prf_func=prf_func, csb_id=csb_id,
                        cs_id_map_type=0,
                        cs_id_map=[model.SrtpIdEntry(policy_no=0, ssrc=ssrc, roc=roc)
                                   for ssrc, roc in srtp_ids])
    else:
        hdr = model.HDR(data_type=SAKKE_DATA_TYPE, v=0, prf_func=prf_func, csb_id=csb_id,
                        cs_id_map_type=1)
    payloads = [
        model.T(ts_type=0, ts_value=ntp_time),
        model.RAND(rand=rand),
        *_identity_idrs(identities, initiator, responder),
        model.IDR(id_role=ROLE_KMSI, id_type=1, id_data=initiator.kms_uri.encode()),
        model.IDR(id_role=ROLE_KMSR, id_type=1, id_data=responder.kms_uri.encode()),
    ]
    if sp is not None:
        payloads.append(sp)
    payloads.append(model.SAKKE(sakke_params=1, id_scheme=id_scheme,
                                sakke_data=sakke.encapsulate(key, responder.identifier, responder.z)))
    if sakke_to_self:  # TS 33.180 §E.5
        inner = model.SAKKE(next_payload=0, sakke_params=1, id_scheme=id_scheme,
                            sakke_data=sakke.encapsulate(key, initiator.identifier, initiator.z))
        payloads.append(model.GEN_EXT(type=6, data=inner.to_bytes()))
    if key_params is not None:
        payloads.append(model.GEN_EXT(type=7,
                                      data=keyparams.protect_key_parameters(key_params, key, csb_id,
                                                                          iv=iv)))
    elif key_params_data is not None:
        payloads.append(model.GEN_EXT(type=7, data=key_params_data))
    sign = model.SIGN(s_type=2, signature=bytes(eccsi.SIGNATURE_LEN))
    payloads.append(sign)
    msg = Message(hdr, payloads)
    unsigned = encode(msg)
    region_bytes = signed_region(unsigned, eccsi.SIGNATURE_LEN, region)
    sign.signature = eccsi.sign(region_bytes, initiator.identifier, initiator.ssk, initiator.pvt,
                                initiator.kpak, j=j)  # j: fixed ephemeral for reproducible output
    return encode(msg)
