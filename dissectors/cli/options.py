"""Option types and the one place that turns errors into exit statuses, for every ``mcsec``
command (issue 15: no traceback, ever).

Exit statuses (README "Command line"): 0 success, 1 the input does not decode, 2 usage error (a
bad option value, a file that cannot be read or written, an unusable key file), 3 a
verification check (signature, MAC) failed.
"""

from __future__ import annotations

import argparse
import sys

EXIT_OK, EXIT_DECODE, EXIT_USAGE, EXIT_CHECK = 0, 1, 2, 3
MAX_UINT64 = (1 << 64) - 1
MAX_KDF_PARAM = 0xFFFF  # TS 33.220 Annex B.2: a KDF parameter's length is two octets
TRK_LENGTH = 32  # TS 33.180 Annex D: KMS XML wraps keys with kw-aes256 (RFC 3394) under the TrK


class UsageError(Exception):
    """A bad option value or an unusable file, found after parsing: message on stderr, exit 2."""


class InputError(Exception):
    """The input does not decode (or is not what the command reads), and the command cannot go
    on: message on stderr, exit 1.  (A command that goes on past a bad input — the next message,
    the next layer — reports it itself and returns EXIT_DECODE at the end.)"""


def _integer(text: str, low: int, high: int, what: str) -> int:
    if len(text) > 40:  # refuse before int() does quadratic work on thousands of digits
        raise argparse.ArgumentTypeError(f"{text[:20]}…: {what}")
    try:
        value = int(text, 10)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if not low <= value <= high:
        raise argparse.ArgumentTypeError(f"{value}: {what}")
    return value


def positive_int(text: str) -> int:
    """argparse type: an integer ≥ 1 (sizes, counts, periods)."""
    return _integer(text, 1, MAX_UINT64, f"must be a positive integer (1 … {MAX_UINT64})")


def non_negative_int(text: str) -> int:
    """argparse type: an integer ≥ 0 (offsets, numbers counted from 0)."""
    return _integer(text, 0, MAX_UINT64, f"must be an integer from 0 to {MAX_UINT64}")


def int_range(low: int, high: int):
    """argparse type factory: an integer from ``low`` to ``high``."""
    def parse(text: str) -> int:
        return _integer(text, low, high, f"must be an integer from {low} to {high}")
    parse.__name__ = f"integer {low}..{high}"
    return parse


MAX_WORKERS = 64  # processes: more is a typing error (each forks a SAKKE worker), not a machine


def positive_seconds(text: str) -> float:
    """argparse type: a finite duration > 0 in seconds."""
    import math

    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"{text}: must be a positive number of seconds")
    return value


def clock_skew_seconds(text: str) -> float:
    """argparse type of ``--max-clock-skew SECONDS``: a number (inf allowed, NaN not)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if value != value:
        raise argparse.ArgumentTypeError("NaN is not a number of seconds")
    return value


def clock_skew_limit(seconds: float) -> float | None:
    """``--max-clock-skew``: the limit the session checks (RFC 3830 §5.4); a negative value turns
    the check off (None)."""
    return None if seconds is None or seconds < 0 else seconds


def seed_int(text: str) -> int:
    """argparse type: a random seed (any integer that fits in 64 bits, sign included)."""
    return _integer(text, -MAX_UINT64, MAX_UINT64, "seed must fit in 64 bits")


def transport_key_hex(text: str) -> str:
    """argparse type of ``--trk``: an AES-256 key in hex (colons and spaces allowed), normalised."""
    compact = "".join(text.replace(":", " ").split())
    try:
        key = bytes.fromhex(compact)
    except ValueError:
        raise argparse.ArgumentTypeError("the transport key must be hex digits") from None
    if len(key) != TRK_LENGTH:
        raise argparse.ArgumentTypeError(
            f"the transport key is {len(key)} octets; KMS XML wraps keys with kw-aes256, whose "
            f"key is {TRK_LENGTH} octets")
    return compact.lower()


def kdf_text(text: str) -> str:
    """argparse type: a URI that is a TS 33.220 KDF parameter (at most 65,535 UTF-8 octets)."""
    try:
        n = len(text.encode("utf-8"))
    except UnicodeEncodeError:  # argv octets that are not UTF-8 (surrogate escapes)
        raise argparse.ArgumentTypeError("not UTF-8 text; a KDF parameter (TS 33.220 Annex "
                                         "B.2) is a UTF-8 string") from None
    if n > MAX_KDF_PARAM:
        raise argparse.ArgumentTypeError(f"{n} octets; a KDF parameter (TS 33.220 Annex B.2) "
                                         f"holds at most {MAX_KDF_PARAM}")
    return text


def display_filter(expression: str | None):
    """``-Y``: the compiled Wireshark display filter (None without one); UsageError, with the
    position of the fault, for an expression that does not parse."""
    if expression is None:
        return None
    from dissectors.pcap.display_filter import DisplayFilterError, compile_filter

    try:
        return compile_filter(expression)
    except DisplayFilterError as e:
        raise UsageError(f"-Y: {e}") from None


def read_tls_keylog(path: str | None) -> bytes | None:
    """``--tls-keylog``: the NSS key log's octets (None without one); UsageError if unreadable."""
    if not path:
        return None
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as e:
        raise UsageError(f"cannot read {path}: {e.strerror}") from None


def run(func, args) -> int:
    """``func(args)``, with the errors a hostile input or a careless user can cause turned into
    a message on stderr and an exit status (never a traceback).  Commands raise
    :class:`UsageError` (exit 2) or :class:`InputError` (exit 1) rather than printing and
    returning a status themselves."""
    from dissectors.safefile import UnsafeTarget

    try:
        return func(args)
    except BrokenPipeError:  # `mcsec … | head`
        return EXIT_OK
    except KeyboardInterrupt:  # Ctrl-C: the shell's convention, 128 + SIGINT
        print("mcsec: interrupted", file=sys.stderr)
        return 130
    except UsageError as e:
        print(f"mcsec: {e}", file=sys.stderr)
        return EXIT_USAGE
    except InputError as e:
        print(f"mcsec: {e}", file=sys.stderr)
        return EXIT_DECODE
    except RecursionError:
        print("mcsec: the input is nested too deeply to be processed", file=sys.stderr)
        return EXIT_DECODE
    except UnsafeTarget as e:  # -o at a symlink, a directory, a FIFO (dissectors/safefile.py)
        print(f"mcsec: cannot write {e}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as e:  # a file that cannot be read or written (-o to a missing directory, …)
        name = e.filename if e.filename is not None else ""
        print(f"mcsec: {name}{': ' if name else ''}{e.strerror or e}", file=sys.stderr)
        return EXIT_USAGE
