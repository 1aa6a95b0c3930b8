"""Settings that the specifications leave open.

The TLS Prot type (seed 004, Annex X.1) has no number yet ("The value is TBD for the TLS
protocol"; the editor's note asks for an IANA registration).  mcsec uses 240, the first value of
the private-use range of the MIKEY Prot type name space (RFC 3830 §10), until one is assigned.
Change it with :func:`set_tls_prot_type` or the CLI option ``--tls-prot-type``.
"""

from __future__ import annotations

DEFAULT_TLS_PROT_TYPE = 240
_tls_prot_type = DEFAULT_TLS_PROT_TYPE


def tls_prot_type() -> int:
    """The Prot type value that means TLS (seed 004 Annex X)."""
    return _tls_prot_type


def set_tls_prot_type(value: int) -> None:
    """Use ``value`` as the TLS Prot type in decoding labels and in builders."""
    global _tls_prot_type
    if not isinstance(value, int) or not 0 <= value <= 255:
        raise ValueError("the TLS Prot type must be an integer 0..255")
    if value == 0:
        raise ValueError("Prot type 0 is SRTP (RFC 3830 §6.10)")
    _tls_prot_type = value


def prot_type_name(value: int) -> str | None:
    from codec.mikey.registry import PROT_TYPES

    if value == _tls_prot_type:
        return "TLS (seed 004 Annex X; number configurable)"
    return PROT_TYPES.get(value)
