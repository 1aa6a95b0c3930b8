"""Peel every layer of a CMS / S/MIME object, in whatever order the layers come.

``open_layers`` verifies SignedData, decrypts (Auth)EnvelopedData, inflates CompressedData and
follows what each layer carries: a CMS content type (eContentType / encrypted contentType), an
S/MIME entity inside id-data (RFC 8551 §3.7: application/pkcs7-mime or multipart/signed), or a
ContentInfo inside id-data.  The first layer that fails stops the walk: no content is released
from a layer that did not check out, nor from anything beneath it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from codec import mime
from codec.cms import oids
from codec.cms.compressed import decompress
from codec.cms.enveloped import decrypt
from codec.cms.signed import verify
from codec.cms.unprotect import DEFAULT_MAX_SIZE, CmsError, DecryptResult, Verdict, VerifyResult
from codec.cms.decode import MAX_NESTING, Layer, decode, decode_content
from codec.errors import DecodeError, Finding


@dataclass
class LayerResult:
    index: int
    kind: str  # CMS content kind, or "MIME" for an S/MIME entity met between layers
    path: str
    ok: bool = False
    error: str | None = None
    error_path: str = ""
    error_offset: int = 0
    via: str = "input"  # how the layer was reached: input, eContent, decrypted, inflated, MIME
    layer: Layer | None = None
    verify: VerifyResult | None = None
    decrypt: DecryptResult | None = None
    content_type: str | None = None  # type of what this layer carries
    content_length: int | None = None
    smime_type: str | None = None
    findings: list = field(default_factory=list)

    def fail(self, reason: str, path: str = "", offset: int = 0) -> None:
        self.ok, self.error = False, reason
        self.error_path, self.error_offset = path or self.path, offset


@dataclass
class OpenResult:
    ok: bool
    content: bytes | None  # innermost content, only when every layer checked out
    layers: list
    error: str | None = None

    @property
    def findings(self) -> list:
        return [f for r in self.layers for f in r.findings]


def _carry_findings(r: LayerResult, layer: Layer | None):
    if layer is not None:
        for f in layer.findings:
            if f not in r.findings:
                r.findings.append(f)


def open_layers(data: bytes | Layer, keyring=None, *, content: bytes | None = None,
                max_size: int = DEFAULT_MAX_SIZE, max_depth: int = MAX_NESTING,
                require_trust: bool = True, smime_type: str | None = None) -> OpenResult:
    """Open ``data`` (DER ContentInfo, or an already decoded Layer).  ``content`` is detached
    signed content for an outermost SignedData.  DecodeError only for the outermost object."""
    layer = data if isinstance(data, Layer) else decode(data, max_depth=max_depth)
    results: list[LayerResult] = []
    detached = content
    via = "input"
    pending_smime = smime_type
    shared_findings: list = []
    while True:
        r = LayerResult(len(results), layer.kind, layer.path, via=via, layer=layer,
                        smime_type=pending_smime)
        results.append(r)
        if pending_smime:
            expected = mime.SMIME_TYPE_FOR_KIND.get(layer.kind)
            if expected and expected != pending_smime and not (
                    pending_smime == "certs-only" and layer.kind == "SignedData"):
                r.findings.append(Finding(layer.path, layer.offset,
                                          f"smime-type={pending_smime} but the content is a "
                                          f"{layer.kind}"))
        pending_smime = None
        if len(results) > max_depth:
            r.fail(f"more than {max_depth} nested layers: refused")
            break
        payload, ptype, nxt = None, None, None
        try:
            if layer.kind == "SignedData":
                v = verify(layer, keyring, detached, require_trust=require_trust)
                r.verify = v
                if not v.ok:
                    r.fail(v.error, v.error_path, v.error_offset)
                    break
                payload, ptype = v.content, v.content_type
                nxt = layer.inner
            elif layer.kind in ("EnvelopedData", "AuthEnvelopedData"):
                d = decrypt(layer, keyring)
                r.decrypt = d
                if not d.ok:
                    r.fail(d.error, d.error_path, d.error_offset)
                    break
                payload, ptype = d.content, d.content_type
            elif layer.kind == "CompressedData":
                payload, ptype = decompress(layer, max_size), layer.econtent_type
            elif layer.kind == "Data":
                payload, ptype = layer.value, oids.DATA
            else:
                raise CmsError(f"{layer.kind} layers cannot be opened by mcsec")
        except Verdict as v:
            r.fail(v.reason, v.path, v.offset)
            break
        except CmsError as e:
            r.fail(str(e))
            break
        finally:
            _carry_findings(r, layer)
        detached = None
        r.ok, r.content_type, r.content_length = True, ptype, len(payload)
        if nxt is not None:
            layer, via = nxt, "eContent"
            continue
        via = {"SignedData": "eContent", "CompressedData": "inflated"}.get(layer.kind,
                                                                           "decrypted")
        if ptype != oids.DATA:
            try:
                layer = decode_content(ptype, payload, path=f"{layer.path}<{via}>",
                                       depth=len(results) + 1, max_depth=max_depth + 1,
                                       in_content_info=False)
            except DecodeError as e:
                bad = LayerResult(len(results), oids.CONTENT_KINDS.get(ptype, ptype), e.path,
                                  via=via)
                bad.fail(f"does not decode: {e.reason}", e.path, e.offset)
                results.append(bad)
                break
            continue
        # id-data: an S/MIME entity or a ContentInfo goes on; anything else is the content
        found = _next_from_data(payload, results, via, shared_findings)
        if found is None:
            return OpenResult(all(x.ok for x in results), payload, results)
        if isinstance(found, LayerResult):  # the MIME layer failed to parse
            break
        layer, detached, pending_smime, via = found
    failed = next((x for x in results if not x.ok), results[-1])
    return OpenResult(False, None, results,
                      f"layer {failed.index} ({failed.kind}): {failed.error}")


def _next_from_data(payload: bytes, results: list, via: str, shared_findings: list):
    """(next layer, detached content, smime-type, via) when id-data content is itself S/MIME or
    CMS; None when it is the innermost content; a failed LayerResult when it is broken."""
    if mime.looks_like_mime(payload):
        try:
            ent = mime.parse(payload)
            parts = mime.find_smime(ent)
        except DecodeError as e:
            parts = None
            err = e
        if parts is None:
            r = LayerResult(len(results), "MIME", err.path, via=via)
            r.fail(f"S/MIME entity does not parse: {err.reason}", err.path, err.offset)
            results.append(r)
            return r
        if not parts:
            return None
        part = parts[0]
        r = LayerResult(len(results), "MIME", part.path, ok=True, via=via,
                        smime_type=part.smime_type, findings=list(part.findings))
        results.append(r)
        if len(parts) > 1:
            r.findings.append(Finding(part.path, part.offset, f"{len(parts)} S/MIME objects "
                                                              "in one entity: the first opened"))
        try:
            inner = decode(part.der)
        except DecodeError as e:
            r.fail(f"CMS object in {part.kind} does not decode: {e}", e.path, e.offset)
            return r
        r.content_type = inner.content_type
        r.content_length = len(part.der)
        return inner, part.signed_content, part.smime_type, "MIME"
    if payload[:1] == b"\x30":
        try:
            inner = decode(payload)
        except DecodeError:
            return None
        inner.findings.append(Finding(inner.path, 0, "id-data content is itself a CMS "
                                                     "ContentInfo: opened"))
        return inner, None, None, via
    return None


__all__ = ["LayerResult", "OpenResult", "open_layers"]
