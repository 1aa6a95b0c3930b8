"""What decrypting, verifying and decompressing CMS layers share: errors, results, certificates.

- ``CmsError`` (an operation that cannot start) and ``Verdict`` (a check that failed: becomes
  ``ok=False``, never escapes), the ``Check`` / ``SignerResult`` / ``VerifyResult`` /
  ``DecryptResult`` records;
- AlgorithmIdentifier parameters and digests (RFC 5652 §10.1, RFC 5754);
- certificates: embedded CertificateChoices (RFC 5652 §10.2.2), IssuerAndSerialNumber matching
  (§10.2.4), SubjectKeyIdentifier (RFC 5280 §4.2.1.2), Names as RFC 4514 text, the keyring's
  private keys with their certificates.

The operations, one module per content type: :mod:`codec.cms.signed` (SignedData, RFC 5652 §5),
:mod:`codec.cms.enveloped` (EnvelopedData §6, AuthEnvelopedData RFC 5083),
:mod:`codec.cms.compressed` (CompressedData, RFC 3274).  Every primitive is pyca/cryptography's.
A cryptographic check that fails is a *verdict* (``ok=False`` with ``error`` saying which check),
never an exception; ``CmsError`` is raised when an operation cannot even start (no key for any
recipient, detached content not supplied, an algorithm mcsec does not implement).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from pyasn1.codec.ber import decoder as ber_decoder
from pyasn1.codec.der import encoder as der_encoder
from pyasn1.error import PyAsn1Error
from pyasn1.type import univ

from codec.cms import oids
from codec.errors import McsecError
from codec.cms.decode import Layer

DEFAULT_MAX_SIZE = 16 * 1024 * 1024  # decompressed / decrypted output bound (octets)
HASHES = {oids.SHA1: hashes.SHA1, oids.SHA224: hashes.SHA224, oids.SHA256: hashes.SHA256,
          oids.SHA384: hashes.SHA384, oids.SHA512: hashes.SHA512}


class CmsError(McsecError, ValueError):
    """A CMS operation that cannot proceed: says what is missing (a key, the detached content,
    support for an algorithm)."""


class Verdict(McsecError):
    """Internal: a cryptographic check failed at ``path`` (becomes ok=False, never escapes)."""

    def __init__(self, reason: str, path: str = "", offset: int = 0):
        super().__init__(reason)
        self.reason, self.path, self.offset = reason, path, offset


@dataclass
class Check:
    name: str
    ok: bool
    detail: str = ""


@dataclass
class SignerResult:
    index: int
    path: str
    ok: bool = False
    error: str | None = None
    error_path: str = ""
    error_offset: int = 0
    checks: list = field(default_factory=list)
    certificate: Any = None
    certificate_source: str = ""
    trusted: bool | None = None
    digest_algorithm: str = ""
    signature_algorithm: str = ""


@dataclass
class VerifyResult:
    ok: bool
    error: str | None
    signers: list
    content: bytes | None  # the signed content, released only when ok
    content_type: str
    detached: bool
    error_path: str = ""
    error_offset: int = 0


@dataclass
class DecryptResult:
    ok: bool
    error: str | None
    content: bytes | None  # released only when ok (and, for AEAD, the tag checked)
    content_type: str
    algorithm: str
    recipient_index: int | None = None
    recipient_kind: str | None = None
    recipient_key: str = ""  # which keyring key was used (identifier, never the key)
    cek: bytes | None = field(default=None, repr=False)  # secret
    error_path: str = ""
    error_offset: int = 0
    checks: list = field(default_factory=list)


# -- helpers -----------------------------------------------------------------------------------
def der_of(value) -> bytes:
    return der_encoder.encode(value)


def decode_param(spec, octets: bytes, what: str):
    try:
        value, rest = ber_decoder.decode(octets, asn1Spec=spec)
    except (PyAsn1Error, ValueError, TypeError) as e:
        raise Verdict(f"{what} parameters do not decode: {(str(e).splitlines() or [type(e).__name__])[0][:100]}")
    if rest:
        raise Verdict(f"{what} parameters: trailing octets")
    return value


def alg_params(alg) -> bytes | None:
    p = alg["parameters"]
    return bytes(p) if p.isValue else None


def hash_for(oid: str, what: str):
    cls = HASHES.get(str(oid))
    if cls is None:
        raise CmsError(f"{what}: unsupported digest algorithm {oid} ({oids.name(oid) or 'unknown'})")
    return cls()


# What cryptography raises for certificates it accepted to load but cannot fully parse later
CERTIFICATE_ERRORS = (ValueError, TypeError, UnsupportedAlgorithm, x509.InvalidVersion)


def subject_text(cert) -> str:
    """The certificate's subject as RFC 4514 text, or a note when it does not parse."""
    try:
        return cert.subject.rfc4514_string()
    except CERTIFICATE_ERRORS as e:
        return f"<subject does not parse: {type(e).__name__}>"


def certificate_from_choice(layer: Layer, suffix: str):
    """cryptography certificate of CertificateChoices ``suffix`` (the ``certificate`` choice)."""
    return x509.load_der_x509_certificate(layer.raw(suffix))


def embedded_certificates(layer: Layer) -> list:
    certs = []
    if layer.kind == "SignedData" and layer.has("certificates"):
        for i, choice in enumerate(layer.value["certificates"]):
            if choice.getName() == "certificate":
                try:
                    certs.append(certificate_from_choice(layer, f"certificates[{i}].certificate"))
                except (ValueError, TypeError, x509.InvalidVersion, UnsupportedAlgorithm):
                    layer.findings.append(finding(layer, f"certificates[{i}]",
                                                   "certificate cryptography cannot load"))
    return certs


def finding(layer: Layer, suffix: str, message: str):
    from codec.errors import Finding
    return Finding(f"{layer.path}.{suffix}", layer.offset_of(suffix), message)


def public_der(key) -> bytes:
    return key.public_bytes(serialization.Encoding.DER,
                            serialization.PublicFormat.SubjectPublicKeyInfo)


def subject_key_id(cert) -> bytes:
    """The certificate's SubjectKeyIdentifier (RFC 5280 §4.2.1.2; computed when absent)."""
    try:
        return cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    except x509.ExtensionNotFound:
        return x509.SubjectKeyIdentifier.from_public_key(cert.public_key()).digest
    except ValueError:  # a malformed certificate (cryptography parses lazily): matches nothing
        return b""


def matches_ias(layer: Layer, suffix: str, ias, cert) -> bool:
    """IssuerAndSerialNumber (RFC 5652 §10.2.4) equal to the certificate's issuer and serial."""
    try:
        if int(ias["serialNumber"]) != cert.serial_number:
            return False
        issuer = cert.issuer.public_bytes()
    except ValueError:  # a malformed certificate (cryptography parses lazily): matches nothing
        return False
    try:
        return layer.raw(f"{suffix}.issuer") == issuer
    except KeyError:
        return der_of(ias["issuer"]) == issuer


def describe_ias(ias) -> str:
    return f"issuer {name_text(ias['issuer'])}, serial {int(ias['serialNumber']):x}"


def name_text(name) -> str:
    """RFC 4514-style text of a pyasn1 rfc5280.Name (most specific RDN first, as RFC 4514 §2.1)."""
    parts = []
    try:
        for rdn in reversed(list(name["rdnSequence"])):
            items = []
            for atv in rdn:
                oid = str(atv["type"])
                raw = bytes(atv["value"])
                try:
                    v, _ = ber_decoder.decode(raw)
                    if isinstance(v, univ.Choice):
                        v = v.getComponent()
                    text = str(v)
                except (PyAsn1Error, ValueError, TypeError):
                    text = "#" + raw.hex()
                items.append(f"{oids.DN_SHORT.get(oid, oid)}={text}")
            parts.append("+".join(items))
    except (PyAsn1Error, KeyError, TypeError):
        return "?"
    return ",".join(parts)


def key_pairs(keyring) -> list:
    """(private key, its certificates) for every private key of the keyring."""
    pairs = []
    for key in getattr(keyring, "private_keys", []) or []:
        pub = public_der(key.public_key())
        certs = [c for c in getattr(keyring, "certificates", []) or []
                 if public_der(c.public_key()) == pub]
        pairs.append((key, certs))
    return pairs
