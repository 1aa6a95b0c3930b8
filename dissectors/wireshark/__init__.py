"""The Wireshark Lua plugin (``wireshark/mcsec_mikey.lua``), generated from the MIKEY schemas.

- :mod:`.generate` — walks the construct schemas of :mod:`codec.mikey.schemas` and emits the
  field, value and structure tables (:func:`generate` returns the whole plugin source);
- :mod:`.lua` — Lua literals and construct expressions translated to Lua;
- ``lua/*.lua`` — the hand-written runtime (preferences, dissection helpers, keylog, the
  dissector and its registrations), package data placed around the generated tables.
"""

from dissectors.wireshark.generate import (PLUGIN_PATH, PROTO_NAME, VERSION, build, field_types,
                                           generate)

__all__ = ["PLUGIN_PATH", "PROTO_NAME", "VERSION", "build", "field_types", "generate"]
