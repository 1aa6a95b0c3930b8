"""TS 33.180 §E.6 key parameters carried in GEN_EXT type 7, and their protection.

The GEN_EXT data is an MCData *Protected Payload* (TS 33.180 §8.5.4, TS 24.282 §15.2.2) whose
payload is the Key Parameters content, AES-128-GCM encrypted with the DPCK derived from the
distributed key (reference/mcptt-security.md §3.6 and §9, confirmed against a deployed stack):

- key = 128 LSBs of KDF(key, FC 0x53, P0 = DPPK-ID), DPPK-ID = HDR CSB ID;
- AAD = the first 12 octets of the protected payload || IV || DPPK-ID; 16-octet IV.

Older stacks send the key parameters unencrypted (a 17-octet form); both decode, the legacy one
is flagged.  Older still (Streamwide ≤ 1.1.13, reference/mcptt-security.md §3.6) is a single
octet holding the key type + 1 (1 GMK, 2 PCK, 3 CSK, …).  UNCONFIRMED reading: the reference
says only "an unencrypted single-octet form (key type + 1)"; we take it as one octet whose value
is the §E.6.11 key type plus one, and flag it.  Whatever the key parameters say, the purpose tag
of the CSB ID decides the key type (TS 33.180 §5.2.2); a disagreement is a note.  Layouts are construct schemas like every other wire structure.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass, field

import construct as c

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from codec.crypto import mcx
from codec.errors import DecodeError
from codec.constructs import F, VarBytes
from codec.mikey.model import Structure

u8, u16, u32 = c.Int8ub, c.Int16ub, c.Int32ub
u40 = c.BytesInteger(5)

PAYLOAD_ALGORITHMS = {1: "AEAD_AES_128_GCM", 2: "AEAD_AES_256_GCM"}
KEY_TYPE_NAMES = mcx.KEY_TYPES

# TS 24.282 §15.2.2 / TS 33.180 §8.5.4 Protected Payload message (Streamwide layout)
PROTECTED_PAYLOAD = c.Struct(
    F("message_type", u8, "mikey.3gpp.pp.message_type", "Message type", display="hex"),
    F("date_time", u40, "mikey.3gpp.pp.date_time", "Date and time", bits=40),
    F("payload_id", u32, "mikey.3gpp.pp.payload_id", "Payload ID", display="hex"),
    F("payload_seq", u8, "mikey.3gpp.pp.payload_seq", "Payload sequence number"),
    F("algorithm", u8, "mikey.3gpp.pp.algorithm", "Payload algorithm", vals=PAYLOAD_ALGORITHMS),
    F("iv", VarBytes(16), "mikey.3gpp.pp.iv", "IV", display="bytes"),
    F("dppk_id", u32, "mikey.3gpp.pp.dppk_id", "DPPK-ID", display="hex"),
    F("iei", u8, "mikey.3gpp.pp.iei", "Payload IEI"),
    F("payload_len", u16, "mikey.3gpp.pp.payload_len", "Payload length",
      computed=lambda s: len(s.payload)),
    F("payload", VarBytes("payload_len"), "mikey.3gpp.pp.payload", "Payload (ciphertext || tag)",
      display="bytes"),
)

# TS 33.180 Table E.6.1-1 key parameters (plaintext)
KEY_PARAMETERS = c.Struct(
    F("key_type", u8, "mikey.3gpp.kp.key_type", "Key type", vals=KEY_TYPE_NAMES),
    F("status", u32, "mikey.3gpp.kp.status", "Status", display="hex"),
    F("activation_time", u40, "mikey.3gpp.kp.activation_time", "Activation time", bits=40),
    F("expiry_time", u40, "mikey.3gpp.kp.expiry_time", "Expiry time", bits=40),
    F("text_len", u16, "mikey.3gpp.kp.text_len", "Text length", computed=lambda s: len(s.text)),
    F("text", VarBytes("text_len"), "mikey.3gpp.kp.text", "Text", display="text"),
    # MC group IDs (LV-E) only for GMK, MKFC and MuSiK: present when octets remain
    F("group_ids", c.Optional(c.Prefixed(u16, c.GreedyBytes)), "mikey.3gpp.kp.group_ids",
      "MC group IDs", display="bytes"),
)

# TS 24.282 §15.2.14 MC group ID IE inside the group IDs element (after a 1-octet count)
GROUP_ID_IE = c.Struct(
    F("iei", u8, "mikey.3gpp.kp.group.iei", "IEI"),
    F("length", u16, "mikey.3gpp.kp.group.len", "Length", computed=lambda s: len(s.value)),
    F("value", VarBytes("length"), "mikey.3gpp.kp.group.id", "MC group ID", display="text"),
)


class ProtectedPayload(Structure, schema=PROTECTED_PAYLOAD):
    NAME = "ProtectedPayload"
    JSON = "mikey.3gpp.pp"
    NESTED = {}


class KeyParameters(Structure, schema=KEY_PARAMETERS):
    NAME = "KeyParameters"
    JSON = "mikey.3gpp.kp"
    NESTED = {}

    def _default(self, name):
        return None if name == "group_ids" else super()._default(name)

    @property
    def revoked(self) -> bool:
        return not self.status & 0x1  # §E.6.9: bit 1 = key not revoked

    def group_id_list(self) -> list[str]:
        """The MC group IDs: count (1 octet) then group ID IEs."""
        if not self.group_ids:
            return []
        data = self.group_ids
        count, out, stream = data[0], [], io.BytesIO(data[1:])
        for _ in range(count):
            ie = GROUP_ID_IE.parse_stream(stream)
            out.append(ie.value.decode("utf-8", "replace"))
        return out


def group_ids_field(groups: list[str]) -> bytes:
    body = bytes([len(groups)])
    for g in groups:
        v = g.encode()
        body += bytes([1]) + len(v).to_bytes(2, "big") + v
    return body


@dataclass
class KeyParamsResult:
    params: KeyParameters | None = None
    protected: ProtectedPayload | None = None
    legacy: bool = False  # the unencrypted pre-Rel-15 form
    error: str | None = None
    notes: list = field(default_factory=list)
    single_octet_key_type: int | None = None  # the single-octet legacy form's key type

    @property
    def key_type(self) -> int | None:
        """The key type the key parameters state (§E.6.11), whichever form carried it."""
        if self.params is not None:
            return self.params.key_type
        return self.single_octet_key_type


LEGACY_LEN = 17
SINGLE_OCTET_LEN = 1  # Streamwide ≤ 1.1.13: key type + 1 (UNCONFIRMED reading, see above)


def _parse(cls, data: bytes, what: str):
    stream = io.BytesIO(data)
    try:
        obj = cls._from_container(cls.parse_fast(stream))
    except Exception as e:  # noqa: BLE001 - any construct failure is malformed input
        raise DecodeError(what, stream.tell(), str(e).split("\n")[-1]) from None
    if stream.tell() != len(data):
        raise DecodeError(what, stream.tell(), f"{len(data) - stream.tell()} octet(s) left over")
    return obj


def open_key_parameters(data: bytes, key: bytes, csb_id: int) -> KeyParamsResult:
    """Decrypt and decode GEN_EXT type 7 data with the distributed key (GMK, PCK, CSK, …)."""
    if len(data) == SINGLE_OCTET_LEN:
        if data[0] == 0:
            return KeyParamsResult(legacy=True, error="single-octet legacy key parameters hold 0 "
                                                      "(key type + 1 cannot be 0)")
        kt = data[0] - 1
        return KeyParamsResult(legacy=True, single_octet_key_type=kt, notes=[
            f"single-octet legacy key parameters (older layout: key type + 1 = {data[0]}, i.e. "
            f"key type {kt} {KEY_TYPE_NAMES.get(kt, '?')}; UNCONFIRMED reading)"])
    if len(data) == LEGACY_LEN:
        try:
            return KeyParamsResult(_parse(KeyParameters, data, "key_parameters"), legacy=True,
                                   notes=["unencrypted legacy key parameters (pre-Rel-15 form)"])
        except DecodeError as e:
            return KeyParamsResult(error=str(e))
    try:
        pp = _parse(ProtectedPayload, data, "protected_payload")
    except DecodeError as e:
        return KeyParamsResult(error=f"protected payload does not decode: {e}")
    result = KeyParamsResult(protected=pp)
    if pp.dppk_id != csb_id:
        result.notes.append(f"DPPK-ID 0x{pp.dppk_id:08x} differs from the CSB ID 0x{csb_id:08x}")
    if pp.algorithm != 1:
        result.error = f"payload algorithm {pp.algorithm} not supported (1 = AEAD_AES_128_GCM)"
        return result
    aad = data[:12] + pp.iv + pp.dppk_id.to_bytes(4, "big")
    try:
        plain = AESGCM(mcx.dpck(key, pp.dppk_id)).decrypt(pp.iv, pp.payload, aad)
    except InvalidTag:
        result.error = "GCM tag check failed (wrong key or tampered key parameters)"
        return result
    except ValueError as e:
        result.error = f"cannot decrypt: {e}"
        return result
    try:
        result.params = _parse(KeyParameters, plain, "key_parameters")
    except DecodeError as e:
        result.error = f"decrypted key parameters do not decode: {e}"
    return result


def protect_key_parameters(params: KeyParameters, key: bytes, csb_id: int,
                           iv: bytes | None = None, date_time: int = 1) -> bytes:
    """GEN_EXT type 7 data: the key parameters in an AES-128-GCM protected payload."""
    iv = iv if iv is not None else os.urandom(16)
    plain = params.to_bytes()
    header = ProtectedPayload(message_type=0x43, date_time=date_time, payload_id=0, payload_seq=0,
                              algorithm=1, iv=iv, dppk_id=csb_id, iei=0, payload=b"")
    aad = header.to_bytes()[:12] + iv + csb_id.to_bytes(4, "big")
    header.payload = AESGCM(mcx.dpck(key, csb_id)).encrypt(iv, plain, aad)
    return header.to_bytes()
