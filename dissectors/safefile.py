"""Writing files that hold secrets (keyrings, keylogs, KMS documents, decrypted content).

:func:`write_secret` never writes through a symlink and never leaves a secret readable by others:
the data goes to a new file created ``0600`` (``O_CREAT|O_EXCL|O_NOFOLLOW``) in the target's
directory, is flushed to disk, then renamed over the target (``os.replace``: atomic, and a
symlink at the target is replaced, not followed — but we refuse it first anyway, so a user who
pointed ``-o`` at a link learns about it).  A target that exists and is not a regular file
(directory, symlink, FIFO, device) is refused with :class:`UnsafeTarget`.
"""

from __future__ import annotations

import os
import stat

__all__ = ["UnsafeTarget", "write_secret", "SECRET_MODE"]

SECRET_MODE = 0o600


class UnsafeTarget(OSError):
    """The target cannot be written safely (not a regular file, a symlink, unwritable...).
    ``str()`` is a one-line message naming the file."""

    def __init__(self, path, reason: str):
        super().__init__(reason)
        self.filename = os.fspath(path)
        self.strerror = reason

    def __str__(self) -> str:
        return f"{self.filename}: {self.strerror}"


def check_target(path: str) -> None:
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    except OSError as e:
        raise UnsafeTarget(path, e.strerror or str(e)) from None
    if stat.S_ISLNK(st.st_mode):
        raise UnsafeTarget(path, "is a symbolic link; refusing to write secrets through it")
    if not stat.S_ISREG(st.st_mode):
        kind = "a directory" if stat.S_ISDIR(st.st_mode) else "not a regular file"
        raise UnsafeTarget(path, f"is {kind}; refusing to overwrite it")


def write_secret(path, data: bytes | str, *, mode: int = SECRET_MODE) -> None:
    """Write ``data`` (str is UTF-8 encoded) to ``path`` through a fresh ``mode`` (default
    0600) file in the same directory, fsynced, then renamed over ``path``.  Raises
    :class:`UnsafeTarget` (an ``OSError``) when the target is a symlink or not a regular file,
    or when the directory cannot be written; the target is then left untouched."""
    path = os.fspath(path)
    if isinstance(data, str):
        data = data.encode("utf-8")
    check_target(path)
    directory, name = os.path.split(path)
    directory = directory or "."
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(
        os, "O_CLOEXEC", 0)
    tmp = None
    for attempt in range(100):
        candidate = os.path.join(directory, f".{name}.{os.getpid()}.{attempt}.tmp")
        try:
            fd = os.open(candidate, flags, mode)
        except FileExistsError:
            continue
        except OSError as e:
            raise UnsafeTarget(path, f"cannot create a file in {directory}: "
                                     f"{e.strerror or e}") from None
        tmp = candidate
        break
    if tmp is None:
        raise UnsafeTarget(path, f"cannot create a temporary file in {directory}")
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
        check_target(path)  # re-check just before the rename (a link planted meanwhile)
        os.replace(tmp, path)
        tmp = None
    except UnsafeTarget:
        raise
    except OSError as e:
        raise UnsafeTarget(path, e.strerror or str(e)) from None
    finally:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass
