"""Pipes and live capture for ``mcsec dissect -`` and ``mcsec dissect -i IFACE``.

A pcap/pcapng stream (standard input, or the pipe of ``dumpcap -w -`` / ``tcpdump -w -``) can be
read only once, but a dissection reads its input up to three times: the analysis, the lockstep
frame reader of ``--filter all``/``--stats``, and tshark for SIP over TLS.  A :class:`Spool`
therefore copies the stream, as it arrives, into an anonymous temporary file (mode 0600, removed
at once: the data may hold secrets) from a thread, and hands out any number of readers
(:meth:`Spool.open`) that follow it like ``tail -f``: a read returns what has arrived (at least
one octet) and blocks only when a reader has caught up, until more arrives or the stream ends.
:class:`dissectors.pcap.capture.CaptureReader` accepts a spool wherever it accepts a path; so does
:mod:`dissectors.pcap.tls` (tshark reads the spool through ``-r -``).  The disk holds the capture
read so far, as dumpcap's own file would.

:class:`LiveCapture` runs ``dumpcap`` (else ``tcpdump``) on an interface with an optional
capture filter (BPF) and spools its standard output; :class:`LiveError` says why it cannot
(neither tool installed, no permission, no such interface) for a clean usage error.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import threading
import time

CHUNK = 1 << 16
IDLE = 0.5  # seconds without input after which a follower's idle callback runs


class LiveError(Exception):
    """A live capture that cannot start (missing tool, permission, interface)."""


class Spool:
    """A growing temporary copy of a one-pass binary stream, readable by several followers."""

    def __init__(self, stream, name: str = "-"):
        self.name = name
        self._fd, path = tempfile.mkstemp(prefix="mcsec-spool-")  # mode 0600
        os.unlink(path)  # anonymous: gone when closed, whatever happens
        self._size = 0
        self._eof = False
        self.error: OSError | None = None
        self._cond = threading.Condition()
        self._stream = stream
        # on_idle(capture_reader): called (once per quiet spell) when the first follower opened
        # -- the analysis -- has read everything and no input came for IDLE seconds
        self.on_idle = None
        self._opened = 0
        self._thread = threading.Thread(target=self._pump, name="mcsec-spool", daemon=True)
        self._thread.start()

    def _pump(self) -> None:
        fd = self._stream.fileno() if hasattr(self._stream, "fileno") else None
        try:
            while True:
                # os.read returns what the pipe holds now: packets are passed on as they come
                data = os.read(fd, CHUNK) if fd is not None else self._stream.read1(CHUNK)
                if not data:
                    break
                os.pwrite(self._fd, data, self._size)
                with self._cond:
                    self._size += len(data)
                    self._cond.notify_all()
        except OSError as e:
            self.error = e
        finally:
            with self._cond:
                self._eof = True
                self._cond.notify_all()

    @property
    def size(self) -> int:
        return self._size

    def wait(self, offset: int, timeout: float | None = None) -> int:
        """Octets available beyond ``offset``, waiting for some unless the stream has ended."""
        with self._cond:
            self._cond.wait_for(lambda: self._size > offset or self._eof, timeout)
            return self._size - offset

    def open(self) -> "SpoolReader":
        """A new reader from the start of the stream."""
        self._opened += 1
        return SpoolReader(self, self.on_idle if self._opened == 1 else None)

    def close(self) -> None:
        try:
            os.close(self._fd)
        except OSError:
            pass


class SpoolReader:
    """A binary file object reading a :class:`Spool` from its start, following it as it grows."""

    def __init__(self, spool: Spool, on_idle=None):
        self.spool, self.pos, self.on_idle = spool, 0, on_idle
        self.owner = None  # the CaptureReader reading through this follower, if any

    def read1(self, n: int = -1) -> bytes:
        if self.on_idle is None:
            avail = self.spool.wait(self.pos)
        else:
            avail = self.spool.wait(self.pos, IDLE)
            if avail <= 0 and not self.spool._eof:
                self.on_idle(self.owner)
                avail = self.spool.wait(self.pos)
        if avail <= 0:
            return b""
        n = avail if n is None or n < 0 else min(n, avail)
        data = os.pread(self.spool._fd, n, self.pos)
        self.pos += len(data)
        return data

    read = read1  # a short read is not the end: the end is b""

    def readinto(self, b) -> int:
        data = self.read1(len(b))
        b[:len(data)] = data
        return len(data)

    def tell(self) -> int:
        return self.pos

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def feed_process(spool: Spool, stdin) -> threading.Thread:
    """Copy the spool into a process's standard input (closed at the end) from a thread."""
    def run():
        reader = spool.open()
        try:
            while True:
                data = reader.read1(CHUNK)
                if not data:
                    break
                stdin.write(data)
                stdin.flush()
        except (BrokenPipeError, OSError, ValueError):
            pass  # the process stopped early (killed when its consumer stopped)
        finally:
            try:
                stdin.close()
            except (BrokenPipeError, OSError):
                pass
    t = threading.Thread(target=run, name="mcsec-spool-feed", daemon=True)
    t.start()
    return t


def capture_command(interface: str, bpf: str | None = None, count: int | None = None) -> list:
    """dumpcap (preferred: Wireshark's own capture engine, pcapng) or tcpdump, writing to stdout."""
    dumpcap = shutil.which("dumpcap")
    if dumpcap is not None:
        cmd = [dumpcap, "-q", "-i", interface, "-w", "-"]
        if bpf:
            cmd += ["-f", bpf]
        if count:
            cmd += ["-c", str(count)]
        return cmd
    tcpdump = shutil.which("tcpdump")
    if tcpdump is not None:
        cmd = [tcpdump, "-i", interface, "-U", "-w", "-", "-s", "0"]
        if count:
            cmd += ["-c", str(count)]
        if bpf:
            cmd.append(bpf)
        return cmd
    raise LiveError("live capture needs dumpcap (Wireshark) or tcpdump, and neither is installed")


class LiveCapture:
    """A capture process on ``interface`` whose pcap/pcapng output is spooled (:attr:`spool`).

    ``duration``: stop after that many seconds; ``count``: after that many packets.  A process
    that ends without writing a capture header (permission denied, no such interface, bad BPF)
    raises :class:`LiveError` with its message."""

    def __init__(self, interface: str, bpf: str | None = None, count: int | None = None,
                 duration: float | None = None, command: list | None = None):
        self.command = command or capture_command(interface, bpf, count)
        try:
            self.proc = subprocess.Popen(self.command, stdout=subprocess.PIPE,
                                         stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
        except OSError as e:
            raise LiveError(f"cannot run {self.command[0]}: {e.strerror}") from None
        self._stderr: list[bytes] = []
        self._err_thread = threading.Thread(target=self._drain, daemon=True)
        self._err_thread.start()
        self.spool = Spool(self.proc.stdout, name=f"{interface}")
        self._timer = None
        if duration is not None:
            self._timer = threading.Timer(duration, self.stop)
            self._timer.daemon = True
            self._timer.start()
        # the capture header comes as soon as the interface is open: wait for it or for the end
        deadline = time.monotonic() + 30
        while self.spool.wait(0, 0.1) <= 0 and time.monotonic() < deadline:
            if self.proc.poll() is not None and self.spool.wait(0, 0.5) <= 0:
                break
        if self.spool.size == 0:
            self.stop()
            self._err_thread.join(2)
            msg = b"".join(self._stderr).decode("utf-8", "replace").strip()
            lines = [ln for ln in msg.splitlines() if ln.strip()
                     and not ln.startswith(("Capturing on", "tcpdump: listening", "Running as"))]
            raise LiveError(f"{os.path.basename(self.command[0])} failed on {interface!r}"
                            + (f": {' '.join(lines)}" if lines else
                               f" (exit {self.proc.returncode})"))

    def _drain(self) -> None:
        for line in self.proc.stderr:
            if sum(map(len, self._stderr)) < 1 << 16:
                self._stderr.append(line)

    def stop(self) -> None:
        """End the capture (what was captured is still read to its end)."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self.stop()
        self.spool.close()
