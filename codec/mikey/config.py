"""Settings that the specifications leave open.

The TLS Prot type (seed 004, Annex X.1) has no number yet ("The value is TBD for the TLS
protocol"; the editor's note asks for an IANA registration).  mcsec uses 240, the first value of
the private-use range of the MIKEY Prot type name space (RFC 3830 §10), until one is assigned.
Another number is a parameter, never a process-wide setting: ``tls_prot_type=`` of
:func:`codec.mikey.decode`, :func:`codec.mikey.render.to_json`/``to_text``,
:func:`codec.mikey.ticket.process` and :class:`codec.mikey.exchange.ExchangeTracker`, and the CLI
option ``--tls-prot-type``.
"""

from __future__ import annotations

DEFAULT_TLS_PROT_TYPE = 240


def check_tls_prot_type(value: int) -> int:
    """``value`` if it can be the TLS Prot type, else ValueError saying why."""
    if not isinstance(value, int) or not 0 <= value <= 255:
        raise ValueError("the TLS Prot type must be an integer 0..255")
    if value == 0:
        raise ValueError("Prot type 0 is SRTP (RFC 3830 §6.10)")
    return value


def prot_type_name(value: int, tls_prot_type: int = DEFAULT_TLS_PROT_TYPE) -> str | None:
    """The name of Prot type ``value``; ``tls_prot_type`` is the number that means TLS."""
    from codec.mikey.registry import PROT_TYPES

    if value == tls_prot_type:
        return "TLS (seed 004 Annex X; number configurable)"
    return PROT_TYPES.get(value)
