"""Typed errors and findings shared by every codec in mcsec."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


class McsecError(Exception):
    """Root of every exception the mcsec codec raises: ``except McsecError`` catches them all."""


class DecodeError(McsecError, ValueError):
    """Bytes that are not a valid instance of the structure being decoded.

    ``path`` names the field (``HDR.cs_id_map[1].spi``), ``offset`` is the byte offset in the
    decoded input where that field starts, ``reason`` says what is wrong.  ``partial`` holds what
    was decoded before the failure (e.g. a MIKEY message with the payloads before the bad one),
    so a dissector can still show it.
    """

    def __init__(self, path: str, offset: int, reason: str, partial: Any = None):
        self.path = path
        self.offset = offset
        self.reason = reason
        self.partial = partial
        super().__init__(f"{path} at offset {offset}: {reason}")

    def __reduce__(self):  # picklable across worker processes
        return (DecodeError, (self.path, self.offset, self.reason, self.partial))


class EncodeError(McsecError, ValueError):
    """A message model that cannot be put on the wire (a value does not fit its field)."""

    def __init__(self, path: str, reason: str):
        self.path = path
        self.reason = reason
        super().__init__(f"{path}: {reason}")


@dataclass(frozen=True)
class Finding:
    """Something a decoder accepted but an analyst should know (a quirk, a spec mismatch)."""

    path: str
    offset: int
    message: str

    def __str__(self) -> str:
        return f"{self.path} at offset {self.offset}: {self.message}"
