"""CMS (RFC 5652) and S/MIME for MCPTT SIP bodies: decode, decrypt, verify, decompress, build.

    from codec import cms
    layer = cms.decode(der)                      # Layer tree, or DecodeError(path, offset, reason)
    result = cms.open_layers(der, keyring)       # peel every layer: OpenResult(ok, content, layers)
    cms.build.sign(...), cms.build.envelope(...), cms.build.auth_envelope(...), cms.build.compress(...)
"""

from codec.cms import build, oids
from codec.cms.compressed import decompress
from codec.cms.enveloped import decrypt
from codec.cms.signed import verify
from codec.cms.unprotect import (DEFAULT_MAX_SIZE, Check, CmsError, DecryptResult, SignerResult,
                                 VerifyResult)
from codec.cms.decode import MAX_NESTING, Layer, decode, decode_content
from codec.cms.peel import LayerResult, OpenResult, open_layers
from codec.errors import DecodeError

__all__ = ["build", "oids", "CmsError", "DecodeError", "Check", "DecryptResult", "SignerResult",
           "VerifyResult", "decompress", "decrypt", "verify", "Layer", "decode", "decode_content",
           "MAX_NESTING", "DEFAULT_MAX_SIZE", "LayerResult", "OpenResult", "open_layers"]
