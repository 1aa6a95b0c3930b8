"""Decompress CompressedData (RFC 3274 §1.1, zlib) with a bound on the output.

A corrupt, truncated or oversized (decompression bomb) stream is a ``Verdict``, never a memory
exhaustion; octets after the zlib stream are a finding.
"""

from __future__ import annotations

import zlib

from codec.cms import oids
from codec.cms.decode import Layer
from codec.cms.unprotect import DEFAULT_MAX_SIZE, CmsError, Verdict, finding


def decompress(layer: Layer, max_size: int = DEFAULT_MAX_SIZE) -> bytes:
    """zlib-inflate the eContent, never producing more than ``max_size`` octets: a bomb is a
    Verdict, not a memory exhaustion."""
    if layer.kind != "CompressedData":
        raise CmsError(f"{layer.path}: a {layer.kind} is not compressed")
    alg = str(layer.value["compressionAlgorithm"]["algorithm"])
    if alg != oids.ZLIB_COMPRESS:
        raise CmsError(f"{layer.path}.compressionAlgorithm: unsupported compression algorithm "
                       f"{alg}")
    data = layer.econtent
    if data is None:
        raise CmsError(f"{layer.path}: eContent absent (detached compressed content)")
    where = f"{layer.path}.encapContentInfo.eContent"
    inflater = zlib.decompressobj()
    try:
        out = inflater.decompress(data, max_size + 1)
    except zlib.error as e:
        raise Verdict(f"zlib stream is corrupt: {e}", where,
                      layer.offset_of("encapContentInfo.eContent")) from None
    if len(out) > max_size or inflater.unconsumed_tail:
        raise Verdict(f"decompressed content exceeds the limit of {max_size} octets "
                      "(decompression bomb?): refused", where,
                      layer.offset_of("encapContentInfo.eContent"))
    if not inflater.eof:
        raise Verdict("zlib stream is truncated", where,
                      layer.offset_of("encapContentInfo.eContent"))
    if inflater.unused_data:
        layer.findings.append(finding(layer, "encapContentInfo.eContent",
                                       f"{len(inflater.unused_data)} octet(s) after the zlib "
                                       "stream ignored"))
    return out
