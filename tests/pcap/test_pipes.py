"""`mcsec dissect -` (a capture on standard input) and `mcsec dissect -i IFACE` (issue 18).

The output of a piped capture must be byte for byte the output of the same file; a packet must
come out while the pipe is still open (not only at its end); a live capture on the loopback
interface must decode the MIKEY messages sent to it as `mcsec decode` does.  The live tests run
when dumpcap / tcpdump and the privilege to capture are present (root here).
"""

from __future__ import annotations

import json
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dissectors.pcap.capture import read_frames

ROOT = Path(__file__).resolve().parents[2]
PCAPS = ROOT / "pcaps"
CAPTURES = sorted(p.name for p in PCAPS.glob("*.pcapng"))
KEYS = ["--keys", PCAPS / "keyring.toml", "--keys", PCAPS / "smime-keys.pem",
        "--tls-keylog", PCAPS / "sip-tls.keylog"]
PCK = bytes.fromhex((PCAPS / "messages" / "mikey-sakke-pck.hex").read_text().split()[0])


def _cmd(*args):
    return [sys.executable, "-m", "dissectors.cli", *map(str, args)]


def _both(capture: Path, *args):
    """(file run, piped run) of `mcsec dissect`, run side by side."""
    f = subprocess.Popen(_cmd("dissect", capture, *args), stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, cwd=ROOT)
    with open(capture, "rb") as stdin:
        p = subprocess.Popen(_cmd("dissect", "-", *args), stdin=stdin, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, cwd=ROOT)
        piped = p.communicate(timeout=600)
    return (f.communicate(timeout=600) + (f.returncode,)), piped + (p.returncode,)


@pytest.mark.parametrize("name", CAPTURES)
def test_piped_capture_gives_the_files_output(name):
    (fo, fe, frc), (po, pe, prc) = _both(PCAPS / name, *KEYS, "--filter", "all", "--format",
                                         "json", "--stats")
    assert frc == prc == 0, pe.decode()[-2000:]
    assert fo and po == fo
    assert pe == fe  # the --stats counters, every frame accounted for


def test_piped_pcap_and_text_output(tmp_path, tshark):
    """A classic pcap on a pipe too (tshark writes it), in the text output."""
    pcap = tmp_path / "private-call.pcap"
    subprocess.run([tshark, "-r", PCAPS / "private-call.pcapng", "-F", "pcap", "-w", pcap],
                   check=True, capture_output=True)
    assert pcap.read_bytes()[:4] == bytes.fromhex("d4c3b2a1")
    (fo, fe, frc), (po, pe, prc) = _both(pcap, "--keys", PCAPS / "keyring.toml")
    assert frc == prc == 0 and b"MIKEY SAKKE PCK" in fo and po == fo


def test_packets_come_out_while_the_pipe_is_open():
    """Half a capture written and the pipe kept open: the packets read so far are printed (the
    reader does not wait for a full buffer or the end); the rest follows when it comes."""
    cap = PCAPS / "private-call.pcapng"
    data = cap.read_bytes()
    frames = [f for f in read_frames(cap) if hasattr(f, "number")]
    split = frames[5].offset  # frames 1-5: REGISTERs with CSKs, then the INVITE (frame 5)
    p = subprocess.Popen(_cmd("dissect", "-", "--brief"), stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT)
    try:
        p.stdin.write(data[:split])
        p.stdin.flush()
        got = b""
        deadline = time.monotonic() + 120
        while b"\n     5 " not in b"\n" + got and time.monotonic() < deadline:
            ready, _, _ = select.select([p.stdout], [], [], 1)
            if ready:
                got += os.read(p.stdout.fileno(), 65536)
            assert p.poll() is None
        assert [int(x.split()[0]) for x in got.decode().splitlines()] == [1, 3, 5]
        rest, err = p.communicate(data[split:], timeout=120)
    finally:
        if p.poll() is None:
            p.kill()
    whole = subprocess.run(_cmd("dissect", cap, "--brief"), capture_output=True, cwd=ROOT)
    assert got + rest == whole.stdout and p.returncode == 0, err


# -- live capture ---------------------------------------------------------------------------------
def _tool_path(tool, tmp_path):
    """A PATH holding only ``tool`` (so that the CLI picks it), or skip when not installed."""
    exe = shutil.which(tool)
    if exe is None or os.geteuid() != 0:
        pytest.skip(f"live capture needs {tool} and root (here: {exe}, uid {os.geteuid()})")
    d = tmp_path / f"only-{tool}"
    d.mkdir()
    (d / tool).symlink_to(exe)
    return str(d)


@pytest.mark.parametrize("tool", ["dumpcap", "tcpdump"])
def test_live_capture_on_loopback(tool, tmp_path):
    env = {**os.environ, "PATH": _tool_path(tool, tmp_path)}
    p = subprocess.Popen(_cmd("dissect", "-i", "lo", "-f", "udp port 2269", "-c", "3",
                              "--format", "json"), stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, cwd=ROOT, env=env)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    deadline = time.monotonic() + 120
    try:
        while p.poll() is None and time.monotonic() < deadline:  # until 3 are captured
            s.sendto(PCK, ("127.0.0.1", 2269))
            time.sleep(0.3)
        out, err = p.communicate(timeout=30)
    finally:
        s.close()
        if p.poll() is None:
            p.kill()
    assert p.returncode == 0, err.decode()
    pkts = [json.loads(x) for x in out.splitlines()]
    assert [x["frame"] for x in pkts] == [1, 2, 3]
    decoded = json.loads(subprocess.run(_cmd("decode", "--format", "json"), input=PCK.hex(),
                                        capture_output=True, text=True, cwd=ROOT).stdout)
    for pkt in pkts:
        assert (pkt["src"], pkt["dst"], pkt["dport"]) == ("127.0.0.1", "127.0.0.1", 2269)
        entry, = pkt["layers"]["mikey"]
        assert entry["mikey"] == decoded["mikey"]


def test_live_packets_are_printed_as_they_arrive(tmp_path):
    """No packet count, no end: the first MIKEY packet is printed while the capture runs;
    Ctrl-C ends it cleanly."""
    env = {**os.environ, "PATH": _tool_path("dumpcap", tmp_path)}
    p = subprocess.Popen(_cmd("dissect", "-i", "lo", "-f", "udp port 2269", "--brief",
                              "--duration", "300"), stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, cwd=ROOT, env=env)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    got = b""
    try:
        deadline = time.monotonic() + 120
        while b"MIKEY SAKKE" not in got and time.monotonic() < deadline:
            s.sendto(PCK, ("127.0.0.1", 2269))
            ready, _, _ = select.select([p.stdout], [], [], 1.5)  # longer than the idle flush
            if ready:
                got += os.read(p.stdout.fileno(), 65536)
        assert b"MIKEY SAKKE" in got
        assert p.poll() is None  # still capturing
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=60)
    finally:
        s.close()
        if p.poll() is None:
            p.kill()
    assert p.returncode == 0 and b"Traceback" not in err, err.decode()


def test_live_capture_usage_errors(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    res = subprocess.run(_cmd("dissect", "-i", "lo"), capture_output=True, text=True, cwd=ROOT,
                         env={**os.environ, "PATH": str(empty)}, timeout=120)
    assert res.returncode == 2 and "neither is installed" in res.stderr
    assert "Traceback" not in res.stderr
    if shutil.which("dumpcap") or shutil.which("tcpdump"):
        res = subprocess.run(_cmd("dissect", "-i", "no-such-if0"), capture_output=True,
                             text=True, cwd=ROOT, timeout=120)
        assert res.returncode == 2 and "no-such-if0" in res.stderr
        assert "Traceback" not in res.stderr
    for args, says in (([], "CAPTURE"), (["-i", "lo", PCAPS / "smime.pcapng"], "CAPTURE"),
                       ([PCAPS / "smime.pcapng", "-c", "3"], "-i IFACE")):
        res = subprocess.run(_cmd("dissect", *args), capture_output=True, text=True, cwd=ROOT,
                             timeout=120)
        assert res.returncode == 2 and "Traceback" not in res.stderr
        assert says in res.stderr


def test_reader_streams_from_a_pipe():
    """dissectors.pcap.capture on a bare pipe (no spool): a frame is yielded as soon as its octets
    have arrived, not when a full read chunk or the end of the stream has."""
    import threading

    data = (PCAPS / "private-call.pcapng").read_bytes()
    frames = [f for f in read_frames(PCAPS / "private-call.pcapng") if hasattr(f, "number")]
    split = frames[2].offset  # frames 1 and 2
    r, w = os.pipe()
    release = threading.Event()

    def writer():
        os.write(w, data[:split])
        release.wait(60)
        os.write(w, data[split:])
        os.close(w)

    t = threading.Thread(target=writer)
    t.start()
    try:
        with os.fdopen(r, "rb") as f:
            it = iter(read_frames(f))
            first, second = next(it), next(it)  # would block here if the reader waited
            assert (first.number, second.number) == (1, 2) and not release.is_set()
            release.set()
            rest = [x.number for x in it if hasattr(x, "number")]
    finally:
        release.set()
        t.join()
    assert rest == [f.number for f in frames[2:]]


@pytest.mark.parametrize("tool", ["dumpcap", "tcpdump"])
def test_live_capture_without_permission_is_a_usage_error(tool, tmp_path):
    """The same command as an unprivileged user (setpriv to nobody): the tool's own message,
    exit 2, no traceback."""
    import tempfile

    _tool_path(tool, tmp_path)  # skips unless installed and root
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("setpriv (util-linux) is needed to drop privileges")
    d = Path(tempfile.mkdtemp(prefix="mcsec-live-"))  # reachable by nobody, unlike tmp_path
    try:
        os.chmod(d, 0o755)
        (d / tool).symlink_to(shutil.which(tool))
        res = subprocess.run([setpriv, "--reuid=65534", "--regid=65534", "--clear-groups",
                              *_cmd("dissect", "-i", "lo", "-c", "1")], capture_output=True,
                             text=True, cwd=ROOT, env={**os.environ, "PATH": str(d)},
                             timeout=120)
    finally:
        shutil.rmtree(d)
    assert res.returncode == 2, res.stderr
    assert "Traceback" not in res.stderr and res.stdout == ""
    assert f"{tool} failed on 'lo'" in res.stderr and "ermission" in res.stderr
