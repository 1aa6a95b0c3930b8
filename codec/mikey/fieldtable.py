"""The table of MIKEY JSON field names, derived from the schemas (``mcsec fields``)."""

from __future__ import annotations

from codec.mikey import registry
from codec.mikey.model import (HDR, PAYLOAD_CLASSES, THDR, GenericIdEntry, Ipsec4IdEntry,
                               SpParam, SrtpIdEntry, SrtpSessionData)


def structures():
    """(structure name, JSON object name, class) in documentation order."""
    out = [("HDR", HDR.JSON, HDR), ("SRTP-ID map entry", SrtpIdEntry.JSON, SrtpIdEntry),
           ("GENERIC-ID map entry", GenericIdEntry.JSON, GenericIdEntry),
           ("GENERIC-ID SRTP Session Data (derived)", SrtpSessionData.JSON, SrtpSessionData),
           ("IPSEC4-ID map entry", Ipsec4IdEntry.JSON, Ipsec4IdEntry)]
    for t in sorted(PAYLOAD_CLASSES):
        cls = PAYLOAD_CLASSES[t]
        out.append((f"{cls.NAME} (payload {t})", cls.JSON, cls))
        if cls.NAME == "SP":
            out.append(("SP policy parameter", SpParam.JSON, SpParam))
    out.append(("THDR (MIKEY base ticket header)", THDR.JSON, THDR))
    from codec.mikey.keyparams import KeyParameters, ProtectedPayload

    out.append(("TS 33.180 protected payload (GEN_EXT 7)", ProtectedPayload.JSON, ProtectedPayload))
    out.append(("TS 33.180 key parameters (decrypted)", KeyParameters.JSON, KeyParameters))
    return out


def rows():
    """(structure, json key, label, width, wireshark?, computed?) for every field."""
    for title, _json, cls in structures():
        for name, meta in cls.FIELDS:
            width = f"{meta.bits} bits" if meta.bits else ("list" if name in cls.LISTS
                                                           or name in cls.NESTED else "octets")
            yield (title, meta.json, meta.label, width, meta.wireshark, bool(meta.computed))


def markdown() -> str:
    lines = ["| structure | JSON key | field | width | in tshark 4.x | computed on encode |",
             "|---|---|---|---|---|---|"]
    for title, key, label, width, ws, comp in rows():
        lines.append(f"| {title} | `{key}` | {label} | {width} | {'yes' if ws else 'new'} | "
                     f"{'yes' if comp else ''} |")
    return "\n".join(lines) + "\n"


def tsv() -> str:
    return "".join(f"{key}\t{label}\t{title}\t{width}\t{'wireshark' if ws else 'mcsec'}\n"
                   for title, key, label, width, ws, _c in rows())


SRTP_PARAM_NAMES = "\n".join(f"| {t} | {label} | `{ws}` |" for t, (label, ws) in
                             sorted(registry.SRTP_POLICY_PARAMS.items()))
