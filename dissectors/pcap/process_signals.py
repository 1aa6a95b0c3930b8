"""Leave the process's signal state as it was found.

Libraries that run an asyncio event loop in the calling process (pyshark's tshark subprocesses,
Dask's LocalCluster and Client) install a SIGCHLD handler and point the signal wakeup fd at a
socket of their loop, and leave both behind when they are closed: every later child-process exit
then writes to a socket nobody reads, and once it is full Python prints "Exception ignored when
trying to write to the signal wakeup fd" on stderr — into the output of whatever runs next.
"""

from __future__ import annotations

import signal
import threading


class ProcessSignals:
    """The process's SIGCHLD handler and signal wakeup fd, put back as found (only the main
    thread can read or set them; elsewhere this does nothing)."""

    def __init__(self):
        self._active = threading.current_thread() is threading.main_thread()
        if self._active:
            self._sigchld = signal.getsignal(signal.SIGCHLD)
            self._wakeup_fd = signal.set_wakeup_fd(-1)
            signal.set_wakeup_fd(self._wakeup_fd)

    def restore(self) -> None:
        if self._active:
            signal.set_wakeup_fd(self._wakeup_fd)
            if self._sigchld is not None:
                signal.signal(signal.SIGCHLD, self._sigchld)
