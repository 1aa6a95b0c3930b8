"""The keyring: every key the project can use, merged from TOML, KMS XML and PEM/DER inputs.

I/O-free: callers hand in the *contents* of files (``dissectors.keys.load_keys`` reads them).
The TOML format is a public interface (README "Keyring")::

    [[kms]]                       # a KMS certificate's public values (TS 33.180 Annex D)
    uri = "kms.example.org"
    kpak = "04…"                  # hex, ECCSI public authentication key (65 octets)
    z = "04…"                     # hex, SAKKE public key Z_T (257 octets)
    user_key_period = 2592000     # seconds, optional
    user_key_offset = 0           # seconds, optional

    [[user]]
    uri = "sip:alice@example.org" # or uid
    uid = "…"                     # hex, optional
    kms = "kms.example.org"
    rsk = "04…"                   # hex, optional (SAKKE receiver secret key)
    ssk = "…"                     # hex, optional (ECCSI secret signing key)
    pvt = "04…"                   # hex, optional (ECCSI public validation token)
    period = 1388                 # optional: the key period number these keys belong to

    [[kek]]                       # symmetric keys: CMS KEK recipients, PSKs
    id = "…"                      # hex key identifier
    key = "…"                     # hex

    [[psk]]                       # MIKEY pre-shared keys (RFC 3830 / RFC 6043)
    identity = "sip:alice@example.org"   # or csb_id = "12345678" (hex)
    key = "…"

    [[srtp]]                      # SRTP master keys known from elsewhere (matched by MKI)
    mki = "…"
    key = "…"                     # master key
    salt = "…"                    # master salt (12 octets: AES-GCM profile)

Secrets never appear in ``repr`` or ``str`` of these objects.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from typing import Any

from codec.errors import DecodeError, McsecError


class KeyringError(McsecError, ValueError):
    """A keyring document that cannot be used (bad TOML, bad hex, missing field)."""


MAX_UINT64 = (1 << 64) - 1  # periods, offsets and period numbers: 64-bit seconds / counters
MAX_KDF_PARAM = 0xFFFF  # TS 33.220 Annex B.2: URIs are KDF parameters with a 2-octet length
MAX_KEY_OCTETS = 1024  # no key, point or identifier (UID, RFC 6509 id) is longer (SAKKE: 257)


def _secret_repr(cls):
    """repr without secret fields."""
    secret = getattr(cls, "SECRET_FIELDS", ())

    def __repr__(self):
        parts = []
        for f in self.__dataclass_fields__:
            v = getattr(self, f)
            if f in secret and v:
                v = "<hidden>"
            elif isinstance(v, bytes):
                v = v.hex()
            parts.append(f"{f}={v!r}")
        return f"{type(self).__name__}({', '.join(parts)})"

    cls.__repr__ = __repr__
    cls.__str__ = __repr__
    return cls


@_secret_repr
@dataclass
class KmsKeys:
    uri: str
    kpak: bytes | None = None  # ECCSI KPAK, uncompressed P-256 point
    z: bytes | None = None  # SAKKE Z_T, uncompressed point of parameter set 1
    user_key_period: int | None = None  # seconds
    user_key_offset: int | None = None  # seconds
    source: str = ""
    SECRET_FIELDS = ()


@_secret_repr
@dataclass
class UserKeys:
    uri: str | None = None
    uid: bytes | None = None  # 32-octet TS 33.180 hashed UID (or an RFC 6509 identifier)
    kms: str | None = None
    rsk: bytes | None = None
    ssk: bytes | None = None
    pvt: bytes | None = None
    period: int | None = None
    source: str = ""
    SECRET_FIELDS = ("rsk", "ssk")


@_secret_repr
@dataclass
class Kek:
    id: bytes
    key: bytes
    source: str = ""
    SECRET_FIELDS = ("key",)


@_secret_repr
@dataclass
class Psk:
    key: bytes
    identity: str | None = None
    csb_id: int | None = None
    source: str = ""
    SECRET_FIELDS = ("key",)


@_secret_repr
@dataclass
class SrtpKey:
    """An SRTP master key and salt known from elsewhere, matched to packets by MKI."""

    mki: bytes
    key: bytes
    salt: bytes
    source: str = ""
    SECRET_FIELDS = ("key", "salt")


@dataclass
class Keyring:
    kms: list[KmsKeys] = field(default_factory=list)
    users: list[UserKeys] = field(default_factory=list)
    keks: list[Kek] = field(default_factory=list)
    psks: list[Psk] = field(default_factory=list)
    srtp: list[SrtpKey] = field(default_factory=list)
    private_keys: list[Any] = field(default_factory=list)  # cryptography private key objects
    certificates: list[Any] = field(default_factory=list)  # cryptography x509.Certificate
    sources: list[str] = field(default_factory=list)

    def __repr__(self):
        return (f"Keyring({len(self.kms)} KMS, {len(self.users)} users, {len(self.keks)} KEKs, "
                f"{len(self.psks)} PSKs, {len(self.private_keys)} private keys, "
                f"{len(self.certificates)} certificates)")

    # -- look-ups ------------------------------------------------------------------------------
    def kek(self, key_id: bytes) -> Kek | None:
        return next((k for k in self.keks if k.id == bytes(key_id)), None)

    def kms_by_uri(self, uri: str) -> KmsKeys | None:
        return next((k for k in self.kms if k.uri == uri), None)

    def users_by_uri(self, uri: str) -> list[UserKeys]:
        return [u for u in self.users if u.uri == uri]

    def user_by_uid(self, uid: bytes) -> UserKeys | None:
        return next((u for u in self.users if u.uid == bytes(uid)), None)

    def psk_for(self, identity: str | None = None, csb_id: int | None = None) -> list[Psk]:
        return [p for p in self.psks if (identity is not None and p.identity == identity)
                or (csb_id is not None and p.csb_id == csb_id)]

    # -- building ------------------------------------------------------------------------------
    def merge(self, other: "Keyring") -> "Keyring":
        for name in ("kms", "users", "keks", "psks", "srtp", "private_keys", "certificates",
                     "sources"):
            getattr(self, name).extend(getattr(other, name))
        return self

    def to_toml(self) -> str:
        """The TOML form of the symmetric and identity-based keys (PEM keys are not included)."""
        out = []

        def emit(table, items):
            for name, value in items:
                if value is None:
                    continue
                if isinstance(value, bytes):
                    value = value.hex()
                out.append(f"{name} = {value}" if isinstance(value, int)
                           else f'{name} = "{_toml_escape(str(value))}"')
            out.append("")

        for k in self.kms:
            out.append("[[kms]]")
            emit("kms", [("uri", k.uri), ("kpak", k.kpak), ("z", k.z),
                         ("user_key_period", k.user_key_period),
                         ("user_key_offset", k.user_key_offset)])
        for u in self.users:
            out.append("[[user]]")
            emit("user", [("uri", u.uri), ("uid", u.uid), ("kms", u.kms), ("rsk", u.rsk),
                          ("ssk", u.ssk), ("pvt", u.pvt), ("period", u.period)])
        for k in self.keks:
            out.append("[[kek]]")
            emit("kek", [("id", k.id), ("key", k.key)])
        for k in self.srtp:
            out.append("[[srtp]]")
            emit("srtp", [("mki", k.mki), ("key", k.key), ("salt", k.salt)])
        for p in self.psks:
            out.append("[[psk]]")
            emit("psk", [("identity", p.identity),
                         ("csb_id", None if p.csb_id is None else f"{p.csb_id:08x}"),
                         ("key", p.key)])
        return "\n".join(out)


def _toml_escape(s: str) -> str:
    """A TOML basic string body: backslash, quote and control characters escaped."""
    out = []
    for ch in s:
        if ch in ('"', "\\"):
            out.append("\\" + ch)
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return "".join(out)


def _hex(table: dict, name: str, where: str, required=False) -> bytes | None:
    v = table.get(name)
    if v is None:
        if required:
            raise KeyringError(f"{where}: '{name}' is required")
        return None
    if not isinstance(v, str):
        raise KeyringError(f"{where}: '{name}' must be a hex string")
    if len(v) > 3 * MAX_KEY_OCTETS:  # refused before any work (hex, separators)
        raise KeyringError(f"{where}: '{name}' is longer than {MAX_KEY_OCTETS} octets")
    try:
        value = bytes.fromhex(v.replace(":", "").replace(" ", ""))
    except ValueError:
        raise KeyringError(f"{where}: '{name}' is not hex") from None
    if len(value) > MAX_KEY_OCTETS:
        raise KeyringError(f"{where}: '{name}' is longer than {MAX_KEY_OCTETS} octets")
    return value


def _int(table, name, where, low=0):
    v = table.get(name)
    if v is not None and (not isinstance(v, int) or isinstance(v, bool)
                          or not low <= v <= MAX_UINT64):
        kind = "positive" if low == 1 else "non-negative"
        raise KeyringError(f"{where}: '{name}' must be a {kind} integer (at most 2^64 - 1)")
    return v


def _str(table, name, where, required=False):
    v = table.get(name)
    if v is None and required:
        raise KeyringError(f"{where}: '{name}' is required")
    if v is not None and not isinstance(v, str):
        raise KeyringError(f"{where}: '{name}' must be a string")
    if v is not None and (len(v) > MAX_KDF_PARAM
                          or len(v.encode("utf-8", "surrogatepass")) > MAX_KDF_PARAM):
        raise KeyringError(f"{where}: '{name}' is longer than {MAX_KDF_PARAM} octets "
                           f"(TS 33.220 Annex B.2)")
    return v


def from_toml(text: str | bytes, source: str = "") -> Keyring:
    """Parse a keyring TOML document."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError:
            raise KeyringError(f"{source}: keyring TOML must be UTF-8") from None
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise KeyringError(f"{source}: not TOML: {e}") from None
    except RecursionError:  # tomllib recurses per nested array/table
        raise KeyringError(f"{source}: not TOML mcsec can read: nested too deeply") from None
    except ValueError as e:  # e.g. an integer of more than 4,300 digits
        raise KeyringError(f"{source}: not TOML mcsec can read: {e}") from None
    known = {"kms", "user", "kek", "psk", "srtp"}
    unknown = set(doc) - known
    if unknown:
        raise KeyringError(f"{source}: unknown table(s) {sorted(unknown)}")
    ring = Keyring(sources=[source] if source else [])
    for i, t in enumerate(_tables(doc, "kms", source)):
        w = f"{source}: kms[{i}]"
        ring.kms.append(KmsKeys(uri=_str(t, "uri", w, True), kpak=_hex(t, "kpak", w),
                                z=_hex(t, "z", w),
                                user_key_period=_int(t, "user_key_period", w, low=1),
                                user_key_offset=_int(t, "user_key_offset", w), source=source))
    for i, t in enumerate(_tables(doc, "user", source)):
        w = f"{source}: user[{i}]"
        u = UserKeys(uri=_str(t, "uri", w), uid=_hex(t, "uid", w), kms=_str(t, "kms", w),
                     rsk=_hex(t, "rsk", w), ssk=_hex(t, "ssk", w), pvt=_hex(t, "pvt", w),
                     period=_int(t, "period", w), source=source)
        if u.uri is None and u.uid is None:
            raise KeyringError(f"{w}: give 'uri' or 'uid'")
        ring.users.append(u)
    for i, t in enumerate(_tables(doc, "kek", source)):
        w = f"{source}: kek[{i}]"
        ring.keks.append(Kek(id=_hex(t, "id", w, True), key=_hex(t, "key", w, True), source=source))
    for i, t in enumerate(_tables(doc, "srtp", source)):
        w = f"{source}: srtp[{i}]"
        ring.srtp.append(SrtpKey(mki=_hex(t, "mki", w, True), key=_hex(t, "key", w, True),
                                 salt=_hex(t, "salt", w, True), source=source))
    for i, t in enumerate(_tables(doc, "psk", source)):
        w = f"{source}: psk[{i}]"
        csb = _hex(t, "csb_id", w)
        if csb is not None and len(csb) != 4:
            raise KeyringError(f"{w}: 'csb_id' must be 4 octets of hex")
        p = Psk(key=_hex(t, "key", w, True), identity=_str(t, "identity", w),
                csb_id=None if csb is None else int.from_bytes(csb, "big"), source=source)
        if p.identity is None and p.csb_id is None:
            raise KeyringError(f"{w}: give 'identity' or 'csb_id'")
        ring.psks.append(p)
    return ring


def _tables(doc, name, source):
    v = doc.get(name, [])
    if not isinstance(v, list) or not all(isinstance(t, dict) for t in v):
        raise KeyringError(f"{source}: '{name}' must be an array of tables ([[{name}]])")
    return v


def from_pem_or_der(data: bytes, source: str = "", password: bytes | None = None) -> Keyring:
    """Private keys and certificates from PEM (any number of blocks) or a single DER object."""
    from cryptography import x509
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives import serialization

    ring = Keyring(sources=[source] if source else [])
    if b"-----BEGIN" in data:
        import re

        blocks = re.findall(rb"-----BEGIN ([A-Z0-9 ]+)-----.*?-----END \1-----", data, re.S)
        for m in re.finditer(rb"-----BEGIN ([A-Z0-9 ]+)-----.*?-----END \1-----", data, re.S):
            block, kind = m.group(0), m.group(1)
            try:
                if b"CERTIFICATE" in kind:
                    ring.certificates.append(x509.load_pem_x509_certificate(block))
                elif b"PRIVATE KEY" in kind:
                    ring.private_keys.append(
                        serialization.load_pem_private_key(block, password=password))
            except (ValueError, TypeError, UnsupportedAlgorithm) as e:  # e.g. an unknown curve
                raise KeyringError(f"{source}: PEM {kind.decode()} block unusable: {e}") from None
        if not blocks:
            raise KeyringError(f"{source}: no PEM block found")
        return ring
    for loader, target in ((x509.load_der_x509_certificate, ring.certificates),
                           (lambda d: serialization.load_der_private_key(d, password=password),
                            ring.private_keys)):
        try:
            target.append(loader(data))
            return ring
        except (ValueError, TypeError, UnsupportedAlgorithm):
            continue
    raise KeyringError(f"{source}: neither a DER certificate nor a DER private key")


__all__ = ["Keyring", "KmsKeys", "UserKeys", "Kek", "Psk", "SrtpKey", "KeyringError", "from_toml",
           "from_pem_or_der", "DecodeError"]
