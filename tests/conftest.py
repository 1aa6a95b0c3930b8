"""Shared fixtures: a real tshark as oracle, pcap writing with scapy."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest

TSHARK = shutil.which("tshark")


@pytest.fixture(scope="session")
def tshark():
    """Path of tshark. Missing tshark fails the test (make test installs it), never skips it."""
    if TSHARK is None:
        pytest.fail("tshark is not installed: run `make test` as root (it apt-get installs "
                    "tshark) or install it yourself; the differential tests need the real one")
    return TSHARK


def write_udp_pcap(path, payloads, port=2269):
    """A pcap with one Ethernet/IPv4/UDP frame per payload, to/from the MIKEY port."""
    from scapy.layers.inet import IP, UDP
    from scapy.layers.l2 import Ether
    from scapy.packet import Raw
    from scapy.utils import wrpcap

    frames = []
    for i, p in enumerate(payloads):
        f = (Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")
             / IP(src="192.0.2.1", dst="192.0.2.2") / UDP(sport=port, dport=port) / Raw(p))
        f.time = 1_700_000_000 + i
        frames.append(f)
    wrpcap(str(path), frames)


def tshark_json(tshark_path, pcap, extra=()):
    """``tshark -T json --no-duplicate-keys`` of a capture, one layers dict per frame."""
    out = subprocess.run([tshark_path, "-r", str(pcap), "-T", "json", "--no-duplicate-keys",
                          "-o", "gui.column.format:\"No.\",\"%m\"", *extra],
                         capture_output=True, text=True, check=True,
                         env={**os.environ, "LC_ALL": "C"})
    return [f["_source"]["layers"] for f in json.loads(out.stdout)]


def tshark_field_types(tshark_path, prefix="mikey."):
    """{field abbreviation: FT_ type} from ``tshark -G fields``."""
    out = subprocess.run([tshark_path, "-G", "fields"], capture_output=True, text=True,
                         check=True).stdout
    types = {}
    for line in out.splitlines():
        cols = line.split("\t")
        if len(cols) > 3 and cols[0] == "F" and cols[2].startswith(prefix):
            types[cols[2]] = cols[3]
    return types
