"""`mcsec cms …`: show, decrypt, verify, open and build CMS / S/MIME objects (issue 5).

Exit codes: 0 success; 1 the input does not decode (path and offset on stderr); 2 usage error
(missing file, bad option, unusable key file); 3 a layer failed a cryptographic check or cannot
be opened (no key, detached content missing) — the layer and the reason on stderr.
"""

from __future__ import annotations

import base64
import json
import re
import sys

from codec import DecodeError, mime
from codec import cms
from codec.cms import build as cms_build
from codec.cms import oids
from codec.cms.unprotect import subject_text
from codec.cms import render
from codec.keyring import Keyring, KeyringError
from dissectors.cli.common import read_input
from dissectors.cli.options import (EXIT_CHECK, EXIT_DECODE, EXIT_OK, InputError, UsageError,
                                    positive_int)

INPUT_FORMS = ("auto", "der", "pem", "base64", "smime")


def _write(path: str, data: bytes) -> None:
    """Write ``data`` to ``path``: decrypted content is a user's message, so 0600 and never
    through a symlink (``UnsafeTarget``, an ``OSError``, otherwise)."""
    from dissectors.safefile import write_secret

    write_secret(path, data)


def _keys(paths) -> Keyring:
    from codec.kms import KmsXmlError
    from dissectors.keys import load_keys

    try:
        return load_keys(paths or [])
    except (KeyringError, KmsXmlError) as e:  # --keys may name KMS XML documents too
        raise UsageError(str(e)) from None


def _pem_body(data: bytes) -> bytes:
    m = re.search(rb"-----BEGIN (CMS|PKCS7)-----(.*?)-----END \1-----", data, re.S)
    if m is None:
        raise DecodeError("PEM", 0, "no -----BEGIN CMS----- or -----BEGIN PKCS7----- block")
    try:
        return base64.b64decode(re.sub(rb"\s+", b"", m.group(2)), validate=True)
    except ValueError as e:
        raise DecodeError("PEM", m.start(2), f"invalid base64: {e}") from None


def cms_objects(raw: bytes, form: str = "auto") -> list:
    """[(DER, detached content or None, smime-type or None, findings)] found in the input."""
    if form == "auto":
        head = raw.lstrip()[:64]
        if raw[:1] == b"\x30":
            form = "der"
        elif head.startswith(b"-----BEGIN"):
            form = "pem"
        elif mime.looks_like_mime(raw):
            form = "smime"
        else:
            form = "base64"
    if form == "der":
        return [(raw, None, None, [])]
    if form == "pem":
        return [(_pem_body(raw), None, None, [])]
    if form == "base64":
        try:
            return [(base64.b64decode(re.sub(rb"\s+", b"", raw), validate=True), None, None, [])]
        except ValueError as e:
            raise DecodeError("base64", 0, f"not DER, PEM, MIME or base64: {e}") from None
    parts = mime.find_smime(mime.parse(raw))
    if not parts:
        raise DecodeError("MIME", 0, "no application/pkcs7-mime entity or multipart/signed "
                                     "found")
    return [(p.der, p.signed_content, p.smime_type, p.findings) for p in parts]


def _common(p, keys_help="key files: keyring TOML ([[kek]] entries), PEM/DER private keys "
                         "and certificates (trust anchors); repeatable"):
    p.add_argument("input", metavar="FILE", help="DER, PEM, base64, MIME entity or SIP "
                                                 "MESSAGE (- for standard input)")
    p.add_argument("--in", dest="input_form", choices=INPUT_FORMS, default="auto",
                   help="input form (default: auto-detect)")
    p.add_argument("--keys", action="append", default=[], metavar="FILE", help=keys_help)
    p.add_argument("--format", choices=("text", "json"), default="text",
                   help="report as a text tree or JSON with Wireshark cms.* names")
    p.add_argument("--show-secrets", action="store_true",
                   help="show decrypted content-encryption keys (hidden by default)")
    p.add_argument("--strict", action="store_true",
                   help="octets after the ContentInfo (e.g. a final newline) are an error "
                        "(default: a finding)")


def _opening(p):
    p.add_argument("--content", metavar="FILE", help="detached signed content")
    p.add_argument("--out", metavar="FILE", help="write the content here (default: standard "
                                                 "output with --format text)")
    p.add_argument("--max-size", type=positive_int, default=cms.DEFAULT_MAX_SIZE, metavar="OCTETS",
                   help=f"refuse to decompress beyond this (default {cms.DEFAULT_MAX_SIZE})")
    p.add_argument("--any-signer", action="store_true",
                   help="accept a signer certificate carried in the message that is not in "
                        "(nor issued by a certificate of) the keyring; the signature is still "
                        "checked (seed 003: self-signed certificates as key containers)")


def register(subparsers) -> None:
    """Add the `cms` command to the `mcsec` parser."""
    c = subparsers.add_parser("cms", help="CMS / S/MIME: show, decrypt, verify, open, build",
                              description="Decode, decrypt, verify, decompress and build CMS "
                                          "objects and S/MIME entities (RFC 5652, 5083, 3274, "
                                          "8551).")
    sub = c.add_subparsers(dest="cms_command", metavar="ACTION")
    sub.required = True

    s = sub.add_parser("show", help="decode and print the structure (with --keys: every layer, "
                                    "opened)")
    _common(s)
    _opening(s)
    s.set_defaults(func=cmd_show)
    for name, helptext in (("decrypt", "decrypt an EnvelopedData / AuthEnvelopedData"),
                           ("verify", "verify a SignedData (attached or detached)"),
                           ("open", "peel every layer: verify, decrypt, decompress in the order "
                                    "they come; exit 0 only if all check out")):
        p = sub.add_parser(name, help=helptext, description=helptext)
        _common(p)
        _opening(p)
        p.set_defaults(func=cmd_open, action=name)

    b = sub.add_parser("build", help="sign, envelope, auth-envelope, compress, or nest",
                       description="Build a CMS object from the content in --in.")
    b.add_argument("kind", choices=("sign", "envelope", "auth-envelope", "compress",
                                    "encrypt-then-sign", "sign-then-encrypt"))
    b.add_argument("--in", dest="input", required=True, metavar="FILE",
                   help="content to protect (- for standard input)")
    b.add_argument("--out", metavar="FILE", help="output file (default: standard output)")
    b.add_argument("--outform", choices=("der", "pem", "smime"), default="der",
                   help="DER, PEM (BEGIN CMS) or a MIME entity (application/pkcs7-mime, or "
                        "multipart/signed for a detached signature)")
    b.add_argument("--keys", action="append", default=[], metavar="FILE",
                   help="keyring TOML holding the KEKs named by --kek-id; key files")
    b.add_argument("--kek-id", action="append", default=[], metavar="HEX",
                   help="KEK recipient: the key identifier of a [[kek]] in --keys (repeatable)")
    b.add_argument("--recip", action="append", default=[], metavar="CERT",
                   help="recipient certificate: RSA -> key transport, EC -> ECDH key agreement")
    b.add_argument("--oaep", action="store_true", help="RSA-OAEP (SHA-256) key transport")
    b.add_argument("--signer", metavar="CERT", help="signer certificate")
    b.add_argument("--signer-key", metavar="KEY", help="signer private key")
    b.add_argument("--digest", default="sha256", choices=sorted(oids.DIGEST_BY_NAME))
    b.add_argument("--pss", action="store_true", help="RSASSA-PSS signature")
    b.add_argument("--detached", action="store_true", help="detached signature (no eContent)")
    b.add_argument("--cipher", help="aes-128-cbc … aes-256-cbc (EnvelopedData), aes-128-gcm … "
                                    "aes-256-gcm (AuthEnvelopedData)")
    b.add_argument("--inner", choices=("cms", "mime"), default="cms",
                   help="sign-then-encrypt: encrypted content is the SignedData (cms) or an "
                        "S/MIME signed-data entity (mime)")
    b.add_argument("--mime-wrap", action="store_true",
                   help="wrap the content in a 'Content-Type: text/plain' MIME entity first")
    b.set_defaults(func=cmd_build)


# -- show / decrypt / verify / open ------------------------------------------------------------
def _emit_report(doc: dict, fmt: str, stream) -> None:
    if fmt == "json":
        json.dump(doc, stream, indent=2)
        stream.write("\n")
    else:
        stream.write(render.to_text(doc))


def cmd_show(args) -> int:
    raw = read_input(args.input)
    ring = _keys(args.keys) if args.keys else None
    detached_file = read_input(args.content) if args.content else None
    try:
        objects = cms_objects(raw, args.input_form)
    except DecodeError as e:
        raise InputError(f"decode error: {e}") from None
    status = EXIT_OK
    docs = []
    for der, detached, smime_type, findings in objects:
        try:
            layer = cms.decode(der, allow_trailing=not args.strict)
        except DecodeError as e:
            print(f"mcsec: decode error: {e}", file=sys.stderr)
            status = EXIT_DECODE
            continue
        layer.findings[:0] = findings
        if ring is None:
            doc = render.to_json(layer)
        else:
            result = cms.open_layers(layer, ring, content=detached_file or detached,
                                     max_size=args.max_size, require_trust=not args.any_signer,
                                     smime_type=smime_type)
            doc = render.result_json(result, show_secrets=args.show_secrets)
            found = render.findings_json(render.unique_findings(result.findings))
            if found:
                doc["cms.findings"] = found
        docs.append(doc)
    if args.format == "json":
        _emit_report(docs[0] if len(docs) == 1 else docs, "json", sys.stdout)
    else:
        for doc in docs:
            _emit_report(doc, "text", sys.stdout)
    return status


def cmd_open(args) -> int:
    raw = read_input(args.input)
    ring = _keys(args.keys)
    detached_file = read_input(args.content) if args.content else None
    try:
        objects = cms_objects(raw, args.input_form)
        der, detached, smime_type, findings = objects[0]
        layer = cms.decode(der, allow_trailing=not args.strict)
    except DecodeError as e:
        raise InputError(f"decode error: {e}") from None
    if len(objects) > 1:
        print(f"mcsec: note: {len(objects)} S/MIME objects in the input, the first is opened",
              file=sys.stderr)
    layer.findings[:0] = findings
    action = args.action
    wanted = {"decrypt": ("EnvelopedData", "AuthEnvelopedData"), "verify": ("SignedData",)}
    if action in wanted and layer.kind not in wanted[action]:
        print(f"mcsec: {action}: the object is a {layer.kind}, not a "
              f"{' or '.join(wanted[action])} (use `mcsec cms open`)", file=sys.stderr)
        return EXIT_CHECK
    max_depth = 1 if action in wanted else cms.MAX_NESTING
    result = _open_limited(layer, ring, detached_file or detached, args, smime_type, max_depth)
    doc = render.result_json(result, show_secrets=args.show_secrets)
    if args.format == "json":
        _emit_report(doc, "json", sys.stdout)
    for r in result.layers:
        for f in r.findings:
            print(f"mcsec: note: {f}", file=sys.stderr)
    if not result.ok:
        failed = next((r for r in result.layers if not r.ok), None)
        where = (f" at {failed.error_path} offset {failed.error_offset}"
                 if failed is not None and failed.error_path else "")
        print(f"mcsec: {action} failed: {result.error}{where}", file=sys.stderr)
        return EXIT_CHECK
    for r in result.layers:
        print(f"mcsec: layer {r.index} {r.kind}: OK" + (
            f" ({r.decrypt.recipient_key})" if r.decrypt else "") + (
            "".join(f" (signer {subject_text(s.certificate)})"
                    for s in r.verify.signers) if r.verify else ""), file=sys.stderr)
    content = result.content
    if args.out:
        _write(args.out, content)
    elif args.format == "text":
        sys.stdout.buffer.write(content)
        sys.stdout.buffer.flush()
    return EXIT_OK


def _open_limited(layer, ring, detached, args, smime_type, max_depth):
    """open peels everything; decrypt/verify open only the outermost layer."""
    if max_depth != 1:
        return cms.open_layers(layer, ring, content=detached, max_size=args.max_size,
                               require_trust=not args.any_signer, smime_type=smime_type)
    from codec.cms.peel import LayerResult, OpenResult

    r = LayerResult(0, layer.kind, layer.path, layer=layer, smime_type=smime_type)
    try:
        if layer.kind == "SignedData":
            v = cms.verify(layer, ring, detached, require_trust=not args.any_signer)
            r.verify, r.ok, r.content_type = v, v.ok, v.content_type
            content = v.content
            if not v.ok:
                r.fail(v.error, v.error_path, v.error_offset)
        else:
            d = cms.decrypt(layer, ring)
            r.decrypt, r.ok, r.content_type = d, d.ok, d.content_type
            content = d.content
            if not d.ok:
                r.fail(d.error, d.error_path, d.error_offset)
    except cms.CmsError as e:
        r.fail(str(e))
        content = None
    r.findings.extend(layer.findings)
    if r.ok:
        r.content_length = len(content)
        return OpenResult(True, content, [r])
    return OpenResult(False, None, [r], f"layer 0 ({layer.kind}): {r.error}")


# -- build -------------------------------------------------------------------------------------
def _one_cert(path: str):
    ring = _keys([path])
    if len(ring.certificates) != 1:
        raise UsageError(f"{path}: expected exactly one certificate, found {len(ring.certificates)}")
    from cryptography.exceptions import UnsupportedAlgorithm

    cert = ring.certificates[0]
    try:  # cryptography parses lazily: a damaged public key shows only when it is asked for
        cert.public_key()
    except (ValueError, TypeError, UnsupportedAlgorithm) as e:
        raise UsageError(f"{path}: the certificate's public key does not load: {e}") from None
    for part in ("issuer", "subject"):  # the names too: RFC 5652 §10.2.4 IssuerAndSerialNumber
        try:
            getattr(cert, part).public_bytes()
        except ValueError as e:
            raise UsageError(f"{path}: the certificate's {part} does not parse: {e}") from None
    return cert


def _one_key(path: str):
    ring = _keys([path])
    if len(ring.private_keys) != 1:
        raise UsageError(f"{path}: expected exactly one private key, found {len(ring.private_keys)}")
    return ring.private_keys[0]


def _recipients(args):
    recipients = []
    if args.kek_id:
        ring = _keys(args.keys)
        for kid in args.kek_id:
            try:
                key_id = bytes.fromhex(kid)
            except ValueError:
                raise UsageError(f"--kek-id {kid!r} is not hex") from None
            kek = ring.kek(key_id)
            if kek is None:
                raise UsageError(f"--kek-id {kid}: no [[kek]] with that id in --keys")
            recipients.append(cms_build.KekRecipient(key_id, kek.key))
    from cryptography.hazmat.primitives.asymmetric import ec

    for path in args.recip:
        cert = _one_cert(path)
        if isinstance(cert.public_key(), ec.EllipticCurvePublicKey):
            recipients.append(cms_build.KeyAgreeRecipient(cert))
        else:
            recipients.append(cms_build.KeyTransRecipient(cert, oaep=args.oaep))
    if not recipients:
        raise UsageError("give at least one recipient: --recip CERT or --kek-id HEX (with --keys)")
    return recipients


def _signer(args):
    if not args.signer or not args.signer_key:
        raise UsageError("signing needs --signer CERT and --signer-key KEY")
    return _one_cert(args.signer), _one_key(args.signer_key)


def cmd_build(args) -> int:
    try:
        content = read_input(args.input)
        if args.mime_wrap:
            content = mime.text_entity(mime.canonical(content))
        kind = args.kind
        if kind == "sign" and args.detached and args.outform == "smime":
            # RFC 8551 §3.5.3: the first part is a canonical MIME entity, signed as sent
            if not mime.looks_like_mime(content):
                content = mime.text_entity(content)
            content = mime.canonical(content)
        if kind == "sign":
            cert, key = _signer(args)
            der = cms_build.sign(content, cert, key, digest=args.digest, detached=args.detached,
                                 pss=args.pss)
        elif kind == "envelope":
            der = cms_build.envelope(content, _recipients(args), cipher=args.cipher or "aes-128-cbc")
        elif kind == "auth-envelope":
            der = cms_build.auth_envelope(content, _recipients(args), cipher=args.cipher or "aes-128-gcm")
        elif kind == "compress":
            der = cms_build.compress(content)
        elif kind == "encrypt-then-sign":
            cert, key = _signer(args)
            der = cms_build.encrypt_then_sign(content, _recipients(args), cert, key,
                                              cipher=args.cipher or "aes-128-cbc", digest=args.digest)
        else:
            cert, key = _signer(args)
            der = cms_build.sign_then_encrypt(content, _recipients(args), cert, key,
                                              cipher=args.cipher or "aes-128-cbc", digest=args.digest,
                                              inner=args.inner)
    except cms.CmsError as e:
        raise UsageError(str(e)) from None
    if args.outform == "pem":
        b64 = base64.b64encode(der)
        out = b"-----BEGIN CMS-----\n" + b"\n".join(
            b64[i:i + 64] for i in range(0, len(b64), 64)) + b"\n-----END CMS-----\n"
    elif args.outform == "smime":
        layer = cms.decode(der)
        if layer.kind == "SignedData" and args.detached:
            out = mime.build_multipart_signed(content, der, args.digest)
        else:
            out = mime.build_pkcs7_mime(der, mime.SMIME_TYPE_FOR_KIND[layer.kind])
    else:
        out = der
    if args.out:
        _write(args.out, out)
    else:
        sys.stdout.buffer.write(out)
        sys.stdout.buffer.flush()
    return EXIT_OK


__all__ = ["register", "cms_objects"]
