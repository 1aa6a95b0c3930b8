"""pyshark with mcsec's Wireshark plugin and keylog: decrypted MIKEY fields in ``pkt.mikey``.

    from dissectors.pcap.pyshark_helper import open_capture

    with open_capture("pcaps/group-call.pcapng", keys=["pcaps/keyring.toml"]) as cap:
        for pkt in cap:
            if "mikey" in pkt:
                m = pkt.mikey                      # the first MIKEY message of the packet
                m.type, m.get_field("mikey.3gpp.key_type"), m.sign_verified, m.sakke_ssv
            for m in pkt.get_multiple_layers("mikey"):   # every one (e.g. several SDP lines)
                ...

:func:`open_capture` returns a :class:`pyshark.FileCapture` run with the plugin generated from
the codec schemas (``wireshark/mcsec_mikey.lua``, loaded with ``-X lua_script:``: nothing needs
installing) and, given ``keys`` (keyring TOML, KMS XML, PEM — as ``mcsec dissect --keys``) or
an existing ``keylog`` (a file of ``mcsec keylog``), the plugin's ``keylog_file`` preference: the
plugin then shows what mcsec verified and decrypted — ``mikey.sign.verified``,
``mikey.3gpp.key_type``/``key_id``/``guk_id``, ``mikey.sakke.ssv``, the SRTP master keys and
salts of ``mikey.3gpp.crypto_sessions``, MIKEY-TICKET TEKs and TLS-PSKs.  Secrets read
``<hidden>`` unless ``show_secrets=True``.  A keylog made from ``keys`` is a temporary 0600 file,
removed by :meth:`MikeyFileCapture.close`.

Wireshark puts the plugin's ``mikey`` tree inside the carrying SIP/SDP/multipart tree, where
pyshark (which makes layers of the top-level protocols only) would merge its fields into the
``sip`` layer; :class:`MikeyFileCapture` adds every nested ``mikey`` tree as a layer of its
own, so ``pkt.mikey`` and ``"mikey" in pkt`` work.  Field values are tshark's ``show`` strings
(``"1"``/``"0"`` for booleans, ``0x…`` for key IDs); ``pkt.mikey.sign_verified`` is
``pkt.mikey.get_field("mikey.sign.verified")``.  pyshark's PDML mode only (the default; not
``use_json``/``use_ek``).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import lxml.objectify
import pyshark
from pyshark.packet.layers.xml_layer import XmlLayer
from pyshark.tshark.output_parser import tshark_xml

from dissectors.pcap.process_signals import ProcessSignals

REPO = Path(__file__).resolve().parents[2]
PLUGIN = REPO / "wireshark" / "mcsec_mikey.lua"
PROTO = "mcsec_mikey"  # the plugin's preference module


class _MikeyXmlParser(tshark_xml.TsharkXmlParser):
    """pyshark's PDML parser, plus a layer per nested ``<proto name="mikey">``."""

    def _parse_single_packet(self, packet):
        if not isinstance(packet, lxml.objectify.ObjectifiedElement):
            parser = lxml.objectify.makeparser(huge_tree=True, recover=True, encoding="utf-8")
            packet = lxml.objectify.fromstring(packet, parser)
        pkt = tshark_xml.packet_from_xml_packet(packet, psml_structure=self._psml_structure)
        if hasattr(pkt, "layers"):
            for proto in packet.iterfind(".//proto"):
                if proto.get("name") == "mikey" and proto.getparent() is not packet:
                    pkt.layers.append(XmlLayer(proto))
        return pkt


class MikeyFileCapture(pyshark.FileCapture):
    """A :class:`pyshark.FileCapture` whose packets carry their MIKEY trees as ``mikey``
    layers (see the module docstring); ``close()`` also removes a temporary keylog."""

    def __init__(self, *args, temporary=(), **kwargs):
        self._temporary = list(temporary)
        self._signals = ProcessSignals()  # pyshark's event loop leaves SIGCHLD handled: undone
        super().__init__(*args, **kwargs)

    def _setup_tshark_output_parser(self):
        if self.use_json or self._use_ek:
            return super()._setup_tshark_output_parser()
        return _MikeyXmlParser(parse_summaries=self._only_summaries)

    def close(self):
        try:
            super().close()
        finally:
            self._signals.restore()
            for path in self._temporary:
                try:
                    os.unlink(path)
                except OSError:
                    pass
            self._temporary = []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def plugin_path() -> Path:
    """The checked-in plugin, or one generated from the schemas into a temporary file."""
    if PLUGIN.is_file():
        return PLUGIN
    from dissectors import wireshark

    fd, path = tempfile.mkstemp(prefix="mcsec-mikey-", suffix=".lua")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(wireshark.generate())
    return Path(path)


def open_capture(capture, *, keys=None, keylog=None, tls_keylog=None, show_secrets=False,
                 display_filter=None, override_prefs=None, custom_parameters=None,
                 tshark_path=None, transport_key: bytes | None = None,
                 **kwargs) -> MikeyFileCapture:
    """A pyshark capture of ``capture`` with mcsec's plugin (and keylog: from ``keylog``, or
    written from ``keys`` by the same dissection as ``mcsec keylog``).  ``tls_keylog``: NSS key
    log for SIP over TLS (given to both mcsec and tshark).  Other keyword arguments go to
    :class:`pyshark.FileCapture`."""
    if kwargs.get("use_json") or kwargs.get("use_ek"):
        raise ValueError("open_capture reads tshark's PDML: use_json/use_ek are not supported")
    temporary = []
    prefs = dict(override_prefs or {})
    if keys and keylog is None:
        from dissectors.pcap import keylog as mcsec_keylog
        from dissectors.keys import load_keys

        keyring = load_keys([str(k) for k in keys], transport_key=transport_key)
        fd, keylog = tempfile.mkstemp(prefix="mcsec-keylog-")  # 0600: it holds session keys
        os.close(fd)
        temporary.append(keylog)
        tls = Path(tls_keylog).read_bytes() if tls_keylog else None
        mcsec_keylog.write_keylog(str(capture), keyring, keylog, tls_keylog=tls,
                                  transport_key=transport_key)
    if keylog is not None:
        prefs[f"{PROTO}.keylog_file"] = str(keylog)
    if show_secrets:
        prefs[f"{PROTO}.show_secrets"] = "TRUE"
    if tls_keylog:
        prefs["tls.keylog_file"] = str(tls_keylog)
    plugin = plugin_path()
    if plugin != PLUGIN:
        temporary.append(str(plugin))
    params = ["-X", f"lua_script:{plugin}"] + list(custom_parameters or [])
    return MikeyFileCapture(str(capture), display_filter=display_filter, override_prefs=prefs,
                            custom_parameters=params, tshark_path=tshark_path,
                            temporary=temporary, **kwargs)
