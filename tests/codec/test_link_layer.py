"""The one link-layer ladder (codec.netheaders.link_layer) that FlowTable.feed and the output's
frame addresses share.  Oracle: frames built by scapy's own link layers; the ladder must stop
exactly where scapy put the IP header and name the IP version scapy wrote."""

from __future__ import annotations

import io
import warnings

import pytest
from scapy.layers.inet import IP, UDP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import CookedLinux, CookedLinuxV2, Dot1AD, Dot1Q, Ether, Loopback

from codec import netheaders
from codec.errors import McsecError

warnings.filterwarnings("ignore", module="scapy")

IP4 = IP(src="192.0.2.1", dst="192.0.2.2") / UDP(sport=5060, dport=5060) / b"x"
IP6 = IPv6(src="2001:db8::1", dst="2001:db8::2") / UDP(sport=5060, dport=5060) / b"x"
MAC = dict(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")


def _walk(linktype: int, frame) -> tuple[int, int, bytes]:
    data = bytes(frame)
    s = io.BytesIO(data)
    version = netheaders.link_layer(linktype, s)
    return version, s.tell(), data


@pytest.mark.parametrize("linktype, frame", [
    (netheaders.LINKTYPE_ETHERNET, Ether(**MAC) / IP4),
    (netheaders.LINKTYPE_ETHERNET, Ether(**MAC) / IP6),
    (netheaders.LINKTYPE_ETHERNET, Ether(**MAC) / Dot1AD(vlan=5) / Dot1Q(vlan=7) / IP6),
    (netheaders.LINKTYPE_LINUX_SLL, CookedLinux() / IP4),
    (netheaders.LINKTYPE_LINUX_SLL2, CookedLinuxV2() / IP6),
    (netheaders.LINKTYPE_NULL, Loopback() / IP4),
    (netheaders.LINKTYPE_RAW, IP6),
    (netheaders.LINKTYPE_DLT_RAW[0], IP4),
    (netheaders.LINKTYPE_IPV4, IP4),
])
def test_ladder_stops_at_the_ip_header_scapy_wrote(linktype, frame):
    ip = frame[IP] if IP in frame else frame[IPv6]
    version, offset, data = _walk(linktype, frame)
    assert version == ip.version
    assert data[offset:] == bytes(ip)


def test_not_ip_is_version_zero():
    assert _walk(netheaders.LINKTYPE_ETHERNET, Ether(**MAC, type=0x0806) / bytes(28))[0] == 0


def test_typed_errors_name_the_layer():
    with pytest.raises(netheaders.LinkHeaderCutShort) as e:
        _walk(netheaders.LINKTYPE_ETHERNET, bytes(Ether(**MAC) / Dot1Q(vlan=1) / IP4)[:16])
    assert e.value.path == "vlan" and "Dot1Q" in e.value.reason
    with pytest.raises(netheaders.LinkHeaderCutShort) as e:
        _walk(netheaders.LINKTYPE_ETHERNET, b"\x00" * 5)
    assert e.value.path == "link"
    with pytest.raises(netheaders.UnsupportedLinkType) as e:
        _walk(147, IP4)
    assert e.value.linktype == 147
    with pytest.raises(netheaders.RawIpVersionError) as e:
        _walk(netheaders.LINKTYPE_RAW, b"\x50" + bytes(19))
    assert e.value.version == 5
    assert issubclass(netheaders.LinkLayerError, McsecError)
