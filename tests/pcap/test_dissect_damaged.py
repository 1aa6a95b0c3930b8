"""Issue 8, failures: every sample capture truncated (mid-record, mid-TCP-segment) and randomly
corrupted still dissects to the end, reports what went wrong, and accounts for every frame.

Oracles: tshark's frame count on the same truncated file, and the capture reader's own count on
the corrupted one (resynchronisation may legitimately differ from tshark's there).
"""

from __future__ import annotations

import json
import random
import subprocess
from pathlib import Path

import pytest

from dissectors.pcap.capture import CaptureFault, read_frames
from dissectors.cli import main

PCAPS = Path(__file__).resolve().parents[2] / "pcaps"
SAMPLES = sorted(p.name for p in PCAPS.glob("*.pcapng"))
KEYS = ["--keys", str(PCAPS / "keyring.toml"), "--keys", str(PCAPS / "smime-keys.pem")]


def _dissect(capsys, path):
    assert main(["dissect", str(path), "--format", "json", "--filter", "all", "--stats",
                 "--no-progress", *KEYS]) == 0
    res = capsys.readouterr()
    stats = json.loads(res.err.splitlines()[-1])["mcsec.stats"]
    return [json.loads(line) for line in res.out.splitlines()], stats


def _tshark_frames(tshark, path) -> int:
    r = subprocess.run([tshark, "-r", str(path), "-T", "fields", "-e", "frame.number"],
                       capture_output=True, text=True, timeout=120)
    return len(r.stdout.split())


def _frame_offsets(path):
    """(start, end) file offsets of each frame's record, from the capture reader."""
    return [(f.offset, f.offset + len(f.data)) for f in read_frames(path)
            if not isinstance(f, CaptureFault)]


def _tcp_frames(tshark, path):
    r = subprocess.run([tshark, "-r", str(path), "-Y", "tcp.len > 0", "-T", "fields", "-e",
                        "frame.number"], capture_output=True, text=True, timeout=120)
    return [int(x) for x in r.stdout.split()]


@pytest.mark.parametrize("capture", SAMPLES)
def test_truncated_sample_is_dissected_up_to_the_cut(capsys, tmp_path, tshark, capture):
    data = (PCAPS / capture).read_bytes()
    offsets = _frame_offsets(PCAPS / capture)
    assert offsets
    rng = random.Random(capture)
    cuts = {len(data) - 1, offsets[len(offsets) // 2][0] + 20}
    tcp = _tcp_frames(tshark, PCAPS / capture)
    if tcp:  # cut in the middle of a TCP segment's payload
        start, end = offsets[tcp[len(tcp) // 2] - 1]
        cuts.add((start + end) // 2)
    cuts.add(rng.randrange(len(data) // 4, len(data)))
    for cut in sorted(cuts):
        path = tmp_path / f"cut{cut}.pcapng"
        path.write_bytes(data[:cut])
        packets, stats = _dissect(capsys, path)
        want = _tshark_frames(tshark, path)
        assert stats["frames"]["total"] == want, f"cut at {cut}"
        assert stats["capture_errors"] >= 1, f"cut at {cut}: the cut is reported"
        cut_records = [r for p in packets for r in p["layers"].get("mcsec.capture-error", [])]
        assert any("truncat" in r["error"] or "cut" in r["error"] or "ends" in r["error"]
                   for r in cut_records), cut_records


@pytest.mark.parametrize("capture", SAMPLES)
def test_corrupted_sample_completes_and_accounts_for_every_frame(capsys, tmp_path, capture):
    data = bytearray((PCAPS / capture).read_bytes())
    rng = random.Random(f"corrupt {capture}")
    for trial in range(3):
        bad = bytearray(data)
        for _ in range(1 + len(bad) // 500):
            bad[rng.randrange(len(bad))] = rng.randrange(256)
        path = tmp_path / f"bad{trial}.pcapng"
        path.write_bytes(bytes(bad))
        packets, stats = _dissect(capsys, path)
        frames = sum(1 for f in read_frames(path) if not isinstance(f, CaptureFault))
        assert stats["frames"]["total"] == frames
        assert sum(v for k, v in stats["frames"].items() if k != "total") == frames
        assert len({p["frame"] for p in packets if p["frame"] <= frames}) == frames
