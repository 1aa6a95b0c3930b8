"""MIKEY (RFC 3830 and extensions): schema-driven decoder and encoder.

>>> from codec import mikey
>>> msg = mikey.decode(data)            # -> Message, or raises codec.DecodeError
>>> mikey.encode(msg) == data           # byte-exact round trip
"""

from codec.errors import DecodeError, EncodeError, Finding
from codec.mikey import registry
from codec.mikey.config import DEFAULT_TLS_PROT_TYPE, check_tls_prot_type, prot_type_name
from codec.mikey.message import Message, decode, encode
from codec.mikey.model import (CERT, CHASH, DH, ERR, GEN_EXT, HDR, ID, IDR, KEMAC, KEY_DATA,
                               PAYLOAD_BY_NAME, PAYLOAD_CLASSES, PKE, RAND, RANDR, SAKKE, SIGN,
                               SP, TICKET, TP, TR, GenericIdEntry, Ipsec4IdEntry, Payload,
                               SpParam, SrtpIdEntry, Structure, T, V)

__all__ = [
    "decode", "encode", "Message", "DecodeError", "EncodeError", "Finding", "registry",
    "HDR", "SrtpIdEntry", "GenericIdEntry", "Ipsec4IdEntry", "SpParam", "Payload", "Structure",
    "KEMAC", "PKE", "DH", "SIGN", "T", "ID", "CERT", "CHASH", "V", "SP", "RAND", "ERR", "TR",
    "IDR", "RANDR", "TP", "TICKET", "KEY_DATA", "GEN_EXT", "SAKKE", "PAYLOAD_CLASSES",
    "PAYLOAD_BY_NAME", "check_tls_prot_type", "DEFAULT_TLS_PROT_TYPE",
    "prot_type_name",
]
