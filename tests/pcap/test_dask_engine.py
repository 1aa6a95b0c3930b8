"""`mcsec dissect --engine dask` (issue 19 item 2): a capture set on a Dask cluster gives the
records of the sequential run.

The oracle is the whole capture dissected sequentially: the sample captures are cut with
``editcap -c N`` (Wireshark's tool) so that the keys are in the first part and the media they
protect in later ones; the parts dissected on a LocalCluster of two worker processes must give
the whole file's JSON byte for byte (frame numbers, verdicts, decrypted SRTP).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
from pathlib import Path

import pytest

from distributed import LocalCluster, WorkerPlugin  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
PCAPS = ROOT / "pcaps"
KEYS = ["--keys", PCAPS / "keyring.toml", "--keys", PCAPS / "smime-keys.pem"]
MANIFEST = json.loads((PCAPS / "manifest.json").read_text())


def cut(capture: Path, directory: Path, every: int) -> list[Path]:
    directory.mkdir(exist_ok=True)
    subprocess.run(["editcap", "-c", str(every), str(capture), str(directory / capture.name)],
                   check=True, capture_output=True)
    parts = sorted(directory.glob(f"{capture.stem}_*"))
    assert len(parts) >= 2
    return parts


def dissect(inputs, *args, stderr: io.StringIO | None = None) -> str:
    """`mcsec dissect --format json --filter all` in this process (a subprocess costs seconds of
    start-up on a loaded machine)."""
    from dissectors.cli import main

    out, err = io.StringIO(), stderr if stderr is not None else io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = main(["dissect", *map(str, inputs), "--no-progress", "--format", "json",
                   "--filter", "all", *map(str, args)])
    assert rc == 0, err.getvalue()
    assert "Traceback" not in err.getvalue()
    return out.getvalue()


@pytest.fixture(scope="module")
def cluster():
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=":0") as c:
        yield c


def test_parts_on_a_local_cluster_equal_the_whole_capture(tmp_path):
    """private-call: the MIKEY-SAKKE PCKs in the first part, their SRTP in later parts; the
    command starts (and closes) its own LocalCluster of 2 worker processes."""
    parts = cut(PCAPS / "private-call.pcapng", tmp_path / "parts", 12)
    # (the sequential capture set equals the whole file: tests/pcap/test_capture_sets.py)
    whole = dissect([PCAPS / "private-call.pcapng"], *KEYS, "--workers", "1")
    got = dissect(parts, *KEYS, "--engine", "dask", "--workers", "2")
    assert got == whole
    pkts = [json.loads(line) for line in got.splitlines()]
    assert [p["frame"] for p in pkts] == list(range(1, 57))  # numbered on across the parts
    srtp = [r for p in pkts if p["frame"] > 12 for r in p["layers"].get("srtp", ())]
    assert srtp and all(r["ok"] for r in srtp)  # keys of part 1 open the media of parts 2..5


@pytest.mark.parametrize("name, every, opts", [
    ("transports", 4, KEYS),  # a SIP INVITE over TCP reassembled across a cut: TCP state
    ("psk-call", 5, KEYS),  # PSK MIKEY INIT in one part, RESP and media in the next
])
def test_state_crosses_file_boundaries(cluster, tmp_path, name, every, opts):
    parts = cut(PCAPS / f"{name}.pcapng", tmp_path / "parts", every)
    whole = dissect([PCAPS / f"{name}.pcapng"], *opts, "--workers", "1")
    assert dissect(parts, *opts, "--engine", "dask", "--scheduler",
                   cluster.scheduler_address) == whole
    if name == "transports":
        spans = [json.loads(line).get("frames", []) for line in whole.splitlines()]
        assert any(min(f) <= every < max(f) for f in spans if f)


def test_kms_provisioning_keys_the_next_file(cluster):
    """KMS XML in one file adds the user keys (unwrapped with the TrK) that verify and decrypt
    the call in the other; --stats counters summed over the tasks equal the sequential ones."""
    files = [PCAPS / "private-call.pcapng", PCAPS / "kms-provisioning.pcapng"]
    opts = ["--trk", MANIFEST["transport_key"], "--keys", PCAPS / "kms" / "kms-init.xml"]
    seq_err, got_err = io.StringIO(), io.StringIO()
    seq = dissect(files, *opts, "--stats", "--workers", "1", stderr=seq_err)
    got = dissect(files, *opts, "--stats", "--engine", "dask", "--scheduler",
                  cluster.scheduler_address, stderr=got_err)
    assert got == seq
    assert got_err.getvalue() == seq_err.getvalue()  # the --stats line
    srtp = [r for line in got.splitlines()
            for r in json.loads(line)["layers"].get("srtp", ())]
    assert len(srtp) == 16 and all(r["ok"] for r in srtp)


def test_a_mispredicted_media_state_is_dissected_again(tmp_path, monkeypatch):
    """Phase 2 predicts each boundary's SRTP state from media key frames; without them (an
    index that keeps none) every prediction is wrong: the files are dissected again from the
    previous file's actual end state, and the output is still exact."""
    from dissectors.cli.common import load_keyring
    from dissectors.pcap import captureset, distributed as engine, output

    parts = cut(PCAPS / "private-call.pcapng", tmp_path / "parts", 12)
    original = engine.index_file

    def no_media(*args):
        idx = original(*args)
        idx.state = [s for s in idx.state if not _is_rtp(s[4])]
        return idx

    monkeypatch.setattr(engine, "index_file", no_media)

    def run(records_of):
        import argparse

        keys = [str(PCAPS / "keyring.toml"), str(PCAPS / "smime-keys.pem")]
        session = output.PacketSession(keyring=load_keyring(argparse.Namespace(keys=keys,
                                                                                trk=None)))
        return [json.dumps(p) for p in output.Packets(records_of(session), session)]

    from dissectors.pcap import dissect as sequential

    source = captureset.resolve(parts)
    expected = run(lambda s: sequential.records(source, s, workers=1))
    report = engine.Report()
    with LocalCluster(n_workers=1, processes=False, dashboard_address=":0") as c:
        from distributed import Client

        with Client(c) as client:  # in-process workers: they see the patched index
            got = run(lambda s: engine.records(source, s, client=client, report=report))
    assert got == expected
    assert report.rerun >= 1  # the boundary check caught it


def _is_rtp(frame_data: bytes) -> bool:
    """A UDP frame whose payload is RTP version 2 (Ethernet/IPv4 or IPv6, no options)."""
    from dissectors.pcap.flows import Datagram, FlowTable
    from dissectors.pcap.capture import Frame

    events = FlowTable().feed(Frame(1, 0, 0, 1, len(frame_data), frame_data, 0))
    return any(isinstance(e, Datagram) and len(e.payload) >= 12 and e.payload[0] >> 6 == 2
               for e in events)


class KillOnFirstDissect(WorkerPlugin):
    """Kills the worker process that starts the first phase-3 task (a marker file: once)."""

    def __init__(self, marker: str):
        self.marker = marker

    def transition(self, key, start, finish, **kwargs):
        name = key if isinstance(key, str) else str(key)
        if finish == "executing" and "mcsec-dissect-" in name:
            try:
                fd = os.open(self.marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                return
            os.close(fd)
            os.kill(os.getpid(), 9)  # SIGKILL: the worker process is lost mid-run


def test_a_lost_worker_loses_no_record(cluster, tmp_path):
    """A worker process killed while it dissects a file: Dask runs the task again on the other
    worker (the nanny starts a new process); no record lost, none duplicated."""
    from distributed import Client

    parts = cut(PCAPS / "psk-call.pcapng", tmp_path / "parts", 4)
    whole = dissect([PCAPS / "psk-call.pcapng"], *KEYS, "--workers", "1")
    marker = tmp_path / "killed"
    with Client(cluster) as client:
        client.register_plugin(KillOnFirstDissect(str(marker)), name="kill-once")
        try:
            got = dissect(parts, *KEYS, "--engine", "dask", "--scheduler",
                          cluster.scheduler_address)
        finally:
            client.unregister_worker_plugin("kill-once")
    assert marker.exists()  # a worker was killed
    assert got == whole
    frames = [json.loads(line)["frame"] for line in got.splitlines()]
    assert frames == sorted(set(frames))  # no packet twice


def test_unreachable_scheduler_is_a_message_not_a_traceback():
    """Exit status 2 and one mcsec: line (main() lets no exception out: no traceback)."""
    from dissectors.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = main(["dissect", str(PCAPS / "psk-call.pcapng"), "--engine", "dask",
                   "--scheduler", "tcp://127.0.0.1:1"])
    assert rc == 2
    assert err.getvalue().startswith("mcsec: --scheduler tcp://127.0.0.1:1: cannot reach the "
                                     "Dask scheduler")
    assert err.getvalue().count("\n") == 1 and "Traceback" not in err.getvalue()
    assert out.getvalue() == ""


def test_scheduler_without_dask_engine_is_a_usage_error():
    from dissectors.cli import main

    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        rc = main(["dissect", str(PCAPS / "psk-call.pcapng"), "--scheduler", "tcp://127.0.0.1:1"])
    assert rc == 2 and err.getvalue() == "mcsec: --scheduler needs --engine dask\n"


def _wrapping_call(tmp_path: Path) -> Path:
    """Frame 1: private-call's INVITE whose MIKEY-SAKKE I_MESSAGE carries the PCK (MKI
    0x1b180136, CS 0); frames 2-13: an SRTP stream protected with that PCK (AES-GCM, TS 33.180
    §7.4) whose sequence number wraps from 65535 to 0 between frames 7 and 8, so the packets
    after the wrap are protected with ROC 1 (RFC 3711 §3.3.1).  Keys from `dissect
    --show-secrets` of the PCK message; packets built by scapy and codec.srtp."""
    from scapy.all import IP, UDP, Ether, Raw, rdpcap, wrpcap

    from codec import srtp

    one = tmp_path / "invite.pcapng"
    subprocess.run(["editcap", "-r", str(PCAPS / "private-call.pcapng"), str(one), "5"],
                   check=True, capture_output=True)
    invite = rdpcap(str(one))[0]
    out = dissect([one], *KEYS, "--show-secrets", "--workers", "1")
    cs = next(c for line in out.splitlines() for d in json.loads(line)["layers"]["mikey"]
              for c in d["mikey.3gpp.crypto_sessions"] if c["mikey.3gpp.cs_id"] == 0)
    mki = bytes.fromhex(cs["mikey.3gpp.mki"])
    ctx = srtp.Context(srtp.Transform(srtp.ENCR_AES_GCM, srtp.AUTH_NULL, 16, 12, 0,
                                      srtp.TAG_LEN, srtp.TAG_LEN, len(mki)),
                       bytes.fromhex(cs["mikey.3gpp.srtp_master_key"]),
                       bytes.fromhex(cs["mikey.3gpp.srtp_master_salt"]))
    packets = [invite]
    for i, seq in enumerate([*range(65530, 65536), *range(0, 6)]):
        roc = 0 if seq >= 65530 else 1
        header = bytes([0x80, 96]) + seq.to_bytes(2, "big") + (160 * i).to_bytes(4, "big") \
            + (0x0A0B0C0D).to_bytes(4, "big")
        protected = ctx.protect_rtp(header + bytes(range(i, i + 40)), roc, mki)
        p = (Ether() / IP(src="192.0.2.10", dst="192.0.2.20") / UDP(sport=49180, dport=50180)
             / Raw(protected))
        p.time = invite.time + 1 + i * 0.02
        packets.append(p)
    path = tmp_path / "wrap.pcap"
    wrpcap(str(path), packets)
    return path


def test_rollover_counter_carries_across_a_file_boundary(cluster, tmp_path):
    """The SRTP sequence number wraps exactly at the cut: the second file's packets open only
    with ROC 1, which the first file's packets established (sequentially and on Dask)."""
    whole_capture = _wrapping_call(tmp_path)
    parts = cut(whole_capture, tmp_path / "parts", 7)
    assert len(parts) == 2
    whole = dissect([whole_capture], *KEYS, "--workers", "1")
    srtp = [r for line in whole.splitlines() for r in json.loads(line)["layers"].get("srtp", ())]
    assert len(srtp) == 12 and all(r["ok"] for r in srtp)  # the oracle: codec.srtp protected them
    assert dissect(parts[1:], *KEYS, "--workers", "1").count('"srtp"') == 0  # no keys alone
    assert dissect(parts, *KEYS, "--engine", "dask", "--scheduler",
                   cluster.scheduler_address) == whole
    # and it was phase 2's prediction from the key frames (65530 first, 65535 last) that gave
    # file 2 its ROC, not the boundary check's re-run
    import argparse

    from distributed import Client

    from dissectors.cli.common import load_keyring
    from dissectors.pcap import captureset, distributed as engine, output

    keys = [str(PCAPS / "keyring.toml"), str(PCAPS / "smime-keys.pem")]
    session = output.PacketSession(keyring=load_keyring(argparse.Namespace(keys=keys, trk=None)))
    report = engine.Report()
    with Client(cluster) as client:
        records = list(engine.records(captureset.resolve(parts), session, client=client,
                                      report=report))
    assert report.segments == 2 and report.rerun == 0
    opened = [r for r in records if r.kind == "srtp"]
    assert [r.result.ok for r in opened] == [True] * 12


def test_capture_errors_and_unreadable_files(cluster, tmp_path):
    """A file that is not a capture and a part cut short: the same capture-error records (named
    by their file, after the same frame numbers) as the sequential engine's."""
    parts = cut(PCAPS / "psk-call.pcapng", tmp_path / "parts", 8)
    (tmp_path / "parts" / "notes.pcap").write_bytes(b"not a capture at all\n")
    data = parts[1].read_bytes()
    parts[1].write_bytes(data[:len(data) - 37])  # the last block cut short
    files = [*parts, tmp_path / "parts" / "notes.pcap"]
    seq = dissect(files, *KEYS, "--workers", "1")
    assert seq.count("capture error") >= 1 and "notes.pcap" in seq
    assert dissect(files, *KEYS, "--engine", "dask", "--scheduler",
                   cluster.scheduler_address) == seq


# ------------------------------------------------------------------------------------------
# Phase 1 reads the records and headers itself (dissectors/pcap/distributed_index.py): the
# oracles are CaptureReader and the flow table, which read them with the codec's Layouts.
# ------------------------------------------------------------------------------------------
def _frames_of_every_kind():
    """(linktype, frame octets): RTP, RTCP and other UDP on every link layer the flow table
    knows, and what the index must keep although the payload looks like RTP — the MIKEY port,
    IPv4 fragments, IPv4 options, IPv6 extension headers, TCP, frames cut short or padded."""
    from scapy.all import (IP, TCP, UDP, CookedLinux, Dot1Q, Ether, IPv6,
                           IPv6ExtHdrFragment, IPv6ExtHdrHopByHop, Loopback, Raw, fragment, raw)

    def eth():  # addresses given: scapy would otherwise look them up (ARP, routes)
        return Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")

    rtp_packet = bytes([0x80, 0, 0, 1]) + bytes(4) + (7).to_bytes(4, "big") + b"x" * 20
    rtcp_packet = bytes([0x81, 200, 0, 6]) + (9).to_bytes(4, "big") + b"y" * 20
    frames = []
    for payload in (rtp_packet, rtcp_packet, b"INVITE sip:a@b SIP/2.0\r\n\r\n", rtp_packet[:11],
                    b"\x40" + rtp_packet[1:], b"\x01" + rtp_packet[1:]):
        for sport in (4000, 2269):
            udp = UDP(sport=sport, dport=5000) / Raw(payload)
            for ip in (IP(src="192.0.2.1", dst="192.0.2.2"),
                       IP(src="192.0.2.1", dst="192.0.2.2", options=b"\x01\x01\x01\x00"),
                       IPv6(src="2001:db8::1", dst="2001:db8::2"),
                       IPv6(src="2001:db8::1", dst="2001:db8::2") / IPv6ExtHdrHopByHop()):
                packet = ip / udp
                v4 = IP in ip
                frames += [(1, raw(eth() / packet)),
                           (1, raw(eth() / Dot1Q() / Dot1Q() / packet)),
                           (101, raw(packet)), (228 if v4 else 229, raw(packet)),
                           (113, raw(CookedLinux() / packet)),
                           (0, raw(Loopback(type=2 if v4 else 24) / packet)),
                           (1, raw(eth() / packet)[:-3]), (1, raw(eth() / packet) + bytes(5))]
    big = (IP(src="192.0.2.1", dst="192.0.2.2") / UDP(sport=4000, dport=5000)
           / Raw(rtp_packet * 60))
    frames += [(1, raw(eth() / f)) for f in fragment(big, fragsize=200)]
    v6 = IPv6(src="2001:db8::1", dst="2001:db8::2")
    frames.append((1, raw(eth() / v6 / IPv6ExtHdrFragment(m=0, offset=0)
                          / UDP(sport=4000, dport=5000) / Raw(rtp_packet))))
    frames.append((1, raw(eth() / IP(src="192.0.2.1", dst="192.0.2.2")
                          / TCP(sport=4000, dport=5000) / Raw(rtp_packet))))
    return frames


def test_index_tells_media_as_the_flow_table_does():
    """A frame the index drops as media is one whole UDP datagram whose payload the session
    gives to its SRTP code only (RTP/RTCP version 2, not the MIKEY port): the flow table makes
    exactly that datagram of it, alone. Every other frame is kept; byte flips of the same frames
    must never make the index call signalling media."""
    import random

    from dissectors.pcap.capture import Frame
    from dissectors.pcap.distributed_index import media_datagram
    from dissectors.pcap.flows import Datagram, FlowTable

    frames = _frames_of_every_kind()
    rng = random.Random(19)
    for _ in range(2000):
        linktype, data = rng.choice(frames)
        data = bytearray(data)
        for _ in range(rng.randint(1, 3)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        frames.append((linktype, bytes(data)))
    media = 0
    for number, (linktype, data) in enumerate(frames, 1):
        got = media_datagram(linktype, data)
        events = FlowTable().feed(Frame(number, 0, 0, linktype, len(data), data, 0))
        datagram = events[0] if len(events) == 1 and isinstance(events[0], Datagram) else None
        is_media = (datagram is not None and datagram.frames == (number,)
                    and len(datagram.payload) >= 12 and datagram.payload[0] >> 6 == 2
                    and 2269 not in (datagram.sport, datagram.dport))
        if got is None:
            continue
        media += 1
        assert is_media, (linktype, data.hex())
        src, dst, sport, dport, at, length = got
        assert bytes(datagram.payload) == data[at:at + length]
        assert (sport, dport) == (datagram.sport, datagram.dport)
    assert media >= 40  # the plain RTP/RTCP frames on each link layer are told apart


@pytest.mark.parametrize("name", ["private-call.pcapng", "group-call.pcapng",
                                  "sip-tls-dsb.pcapng", "play-aes128-sha1-80.pcap",
                                  "play-tcp-aes128-sha1-32.pcap", "private-call-as.pcap"])
def test_index_reads_records_as_capture_reader_does(tmp_path, name):
    """The index walks pcap and pcapng records itself (CaptureReader for anything irregular):
    the frames it keeps are CaptureReader's frames of those numbers — time, link type, original
    length, octets — and the media it drops are the frames the flow table makes RTP/RTCP
    datagrams of."""
    from dissectors.pcap.capture import CaptureFault, CaptureReader
    from dissectors.pcap.distributed_index import index_file
    from dissectors.pcap.distributed_state import FileSpec

    path = PCAPS / name
    if name == "private-call-as.pcap":  # a classic pcap file of a sample capture
        path = tmp_path / name
        subprocess.run(["editcap", "-F", "pcap", str(PCAPS / "private-call.pcapng"), str(path)],
                       check=True, capture_output=True)
    elif not path.exists():
        path = ROOT / "tests" / "data" / "gstreamer" / name
    frames = {rec.number: (rec.number, rec.ts_ns, rec.linktype, rec.orig_len, bytes(rec.data))
              for rec in CaptureReader(path) if not isinstance(rec, CaptureFault)}
    idx = index_file(FileSpec(str(path)))
    assert idx.frames == len(frames)
    assert idx.scan == ("reader" if name == "sip-tls-dsb.pcapng" else
                        "pcap" if name.endswith(".pcap") else "pcapng")
    assert idx.has_secrets == (name == "sip-tls-dsb.pcapng")
    assert [s for s in idx.state] == [frames[s[0]] for s in idx.state]
    dropped = set(frames) - {s[0] for s in idx.state}
    assert all(_is_rtp(frames[n][4]) for n in dropped)
    assert len(dropped) == idx.media_frames - idx.key_frames


def test_the_command_leaves_the_process_signal_state_as_it_found_it(tmp_path, capfd):
    """In-process `dissect --engine dask` (its own LocalCluster) puts back SIGCHLD and the signal
    wakeup fd: child processes that exit afterwards cause no asyncio complaint on stderr."""
    import signal

    before = (signal.getsignal(signal.SIGCHLD), signal.set_wakeup_fd(-1))
    signal.set_wakeup_fd(before[1])
    parts = cut(PCAPS / "private-call.pcapng", tmp_path / "parts", 40)
    dissect(parts, "--engine", "dask", "--workers", "1")
    after = (signal.getsignal(signal.SIGCHLD), signal.set_wakeup_fd(-1))
    signal.set_wakeup_fd(after[1])
    assert after == before
    capfd.readouterr()
    for _ in range(300):  # enough exits to fill a socket nobody reads
        subprocess.run(["true"], check=True)
    assert "wakeup fd" not in capfd.readouterr().err


def test_indexes_leave_the_workers_and_the_client_once_the_timeline_has_them(cluster, tmp_path):
    """Phase 1's frames go from worker to worker (phase 2), not through the client, and are
    forgotten once the timeline is built: while the first segment's records are read, no
    worker holds an index any more (memory flat with the number of files)."""
    import time

    from distributed import Client

    from dissectors.pcap import captureset, distributed, output

    parts = cut(PCAPS / "private-call.pcapng", tmp_path / "parts", 12)
    with Client(cluster) as client:
        session = output.PacketSession(keyring=None)
        report = distributed.Report()
        gen = distributed.records(captureset.resolve(list(map(str, parts))), session,
                                  client=client, report=report)
        first = next(gen)  # phases 1 and 2 done, the segments submitted
        assert first is not None

        def held(dask_worker):
            return [str(k) for k in dask_worker.data.keys()]

        deadline = time.monotonic() + 10
        while True:
            keys = [k for ks in client.run(held).values() for k in ks]
            left = [k for k in keys if "mcsec-index-" in k or "mcsec-summary-" in k]
            if not left or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert not left, left
        rest = list(gen)
    assert len(rest) + 1 > len(parts)
    assert report.files == len(parts) and report.sakke_messages == 0
