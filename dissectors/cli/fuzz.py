"""`mcsec fuzz`: structure-aware MIKEY mutants (see :mod:`dissectors.fuzz.mutators`).
register() adds the command to the main parser."""

from __future__ import annotations

import sys
from pathlib import Path

# seed files: MIKEY as raw/hex/base64, carriers (SDP, SIP messages, MIME entities: the MIKEY in
# them found by codec.mime.find_key_material, as dissect finds it) and captures
SEED_SUFFIXES = {".sdp", ".sip", ".mime", ".hex", ".b64", ".base64", ".bin", ".mikey", ".raw",
                 ".txt", ".pcap", ".pcapng", ".cap"}
DEFAULT_SEEDS = Path(__file__).resolve().parents[2] / "pcaps" / "messages"
MAX_UDP_PAYLOAD = 65507  # IPv4: 65535 - 20 (IP) - 8 (UDP)
EXT = {"raw": "mikey", "hex": "hex", "sdp": "sdp", "sip": "sip"}


def _capture_messages(path: Path) -> list[bytes]:
    """MIKEY messages of a capture: UDP/TCP port 2269 payloads, and what SIP messages carry
    (SDP key-mgmt lines, application/mikey bodies: codec.mime.find_key_material, as dissect
    finds them) in single packets."""
    from scapy.packet import Raw
    from scapy.utils import rdpcap

    from codec import sip
    from codec.errors import DecodeError
    from codec.mikey import carriers
    from dissectors.fuzz import scapy_mikey

    out = []
    for frame in rdpcap(str(path)):
        layer = frame.getlayer(scapy_mikey.MIKEY)
        if layer is not None:
            out.append(bytes(layer))
            continue
        raw = frame.getlayer(Raw)
        if raw is not None and (b"key-mgmt:mikey" in raw.load or sip.is_sip(raw.load)):
            try:
                found = carriers.mikey_messages(raw.load, "sdp")
            except DecodeError:
                continue  # a packet without MIKEY
            out += [m for m in found if _decodes(m)]  # not a segment's cut-short attribute
    return out


def _decodes(data: bytes) -> bool:
    from codec.errors import DecodeError
    from codec.mikey import decode

    try:
        decode(data)
    except DecodeError:
        return False
    return True


def load_seeds(paths) -> list[bytes]:
    from codec.mikey import carriers

    files = []
    for p in map(Path, paths):
        if p.is_dir():
            files += sorted(f for f in p.rglob("*") if f.is_file() and f.suffix in SEED_SUFFIXES)
        else:
            files.append(p)
    seeds = []
    for f in files:
        if f.suffix in (".pcap", ".pcapng", ".cap"):
            seeds += _capture_messages(f)
        else:
            seeds += carriers.mikey_messages(f.read_bytes())
    return seeds


def _signer(args):
    from dissectors.fuzz import craft
    from dissectors.keys import load_keys

    ring = load_keys(args.keys)
    ident = craft.identity(ring, args.signer)
    if ident.ssk is None or ident.pvt is None:
        raise ValueError(f"the keyring has no SSK/PVT for {args.signer}")
    return ident


def _send(mutants, target: str, form: str) -> None:
    import socket

    from dissectors.fuzz.mutators import sip_invite

    host, _, port = target.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) <= 65535:
        raise ValueError(f"--send wants HOST:PORT (port 1..65535), not {target!r}")
    addr = (host.strip("[]"), int(port))
    family = socket.AF_INET6 if ":" in addr[0] else socket.AF_INET
    skipped = 0
    with socket.socket(family, socket.SOCK_DGRAM) as s:
        for m in mutants:
            payload = sip_invite(m.data, m.index) if form == "sip" else m.data
            if len(payload) > MAX_UDP_PAYLOAD:
                skipped += 1
                continue
            s.sendto(payload, addr)
    if skipped:
        print(f"mcsec: fuzz: {skipped} mutant(s) larger than a UDP datagram were not sent",
              file=sys.stderr)


def cmd_fuzz(args) -> int:
    from codec import DecodeError
    from dissectors.cli.options import EXIT_OK, UsageError
    from dissectors.fuzz import mutators

    try:
        seeds = load_seeds(args.seeds or [DEFAULT_SEEDS])
    except (OSError, DecodeError) as e:
        raise UsageError(f"fuzz: cannot read the seeds: {e}") from None
    if not seeds:
        raise UsageError("fuzz: no MIKEY message in the seeds")
    if (args.keys is None) != (args.signer is None):
        raise UsageError("fuzz: --keys and --signer go together")
    if args.format in ("raw", "pcap") and args.out_dir is None and args.output in (None, "-") \
            and args.send is None:
        raise UsageError(f"fuzz: --format {args.format} needs --out-dir or -o FILE")
    try:
        signer = _signer(args) if args.keys else None
        mutator = mutators.Mutator(seeds, seed=args.seed,
                                   classes=args.mutation or mutators.CLASSES,
                                   signer=signer, region=args.region)
    except (KeyError, ValueError) as e:
        raise UsageError(f"fuzz: {e}") from None
    mutants = list(mutator.mutants(args.count))

    manifest = [f"{m.index}\t{m.mutation}\t{int(m.resigned)}\t{m.seed_index}\t{len(m.data)}\t"
                f"{m.sha256}\t{m.detail}" for m in mutants]
    if args.out_dir is not None:
        out = Path(args.out_dir)
        out.mkdir(parents=True, exist_ok=True)
        if args.format == "pcap":
            from scapy.utils import wrpcap

            wrpcap(str(out / "mutants.pcap"), mutators.pcap_frames(mutants))
        else:
            for m in mutants:
                (out / f"{m.index:05d}-{m.mutation}.{EXT[args.format]}").write_bytes(
                    _render(m, args.format))
        (out / "manifest.tsv").write_text(
            "index\tmutation\tresigned\tseed\tlength\tsha256\tdetail\n"
            + "".join(line + "\n" for line in manifest))
    elif args.send is None or args.output is not None:
        if args.format == "pcap":
            from scapy.utils import wrpcap

            wrpcap(args.output, mutators.pcap_frames(mutants))
        else:
            blob = b"".join(_render(m, args.format) for m in mutants)
            if args.output in (None, "-"):
                sys.stdout.buffer.write(blob)
                sys.stdout.flush()
            else:
                Path(args.output).write_bytes(blob)
    big = sum(len(m.data) > mutators.MAX_UDP_PAYLOAD for m in mutants)
    if args.format == "pcap" and big and (args.out_dir is not None or args.send is None):
        print(f"mcsec: fuzz: {big} mutant(s) larger than a UDP datagram left out of the pcap",
              file=sys.stderr)
    if args.send is not None:
        try:
            _send(mutants, args.send, args.format)
        except (OSError, ValueError) as e:
            raise UsageError(f"fuzz: --send: {e}") from None
    if args.verbose:
        for line in manifest:
            print(line, file=sys.stderr)
    return EXIT_OK


def _render(m, form: str) -> bytes:
    """One mutant in the --format ``form`` (not pcap: the frames are written together)."""
    from dissectors.fuzz import mutators

    if form == "raw":
        return m.data
    if form == "hex":
        return m.data.hex().encode() + b"\n"
    if form == "sdp":
        return mutators.sdp_line(m.data).encode() + b"\r\n"
    return mutators.sip_invite(m.data, m.index)


def register(subparsers) -> None:
    """Add the `fuzz` command to the `mcsec` parser."""
    from dissectors.cli.options import positive_int, seed_int
    from dissectors.fuzz.mutators import CLASSES

    f = subparsers.add_parser(
        "fuzz", help="write (or send) structure-aware MIKEY mutants",
        description="Mutate seed MIKEY messages (files: raw, hex, base64, SDP; directories; "
                    "pcap/pcapng captures) one structural change at a time: lying lengths, "
                    "next-payload loops and unknown types, #CS/#P overflows, oversized and empty "
                    "fields, invalid Prot types and policy parameters, SIGN lengths "
                    "0/32/129/4095, truncations at payload boundaries, points off the curve, "
                    "r = s = 0, duplicated payloads and re-signing.  The same seeds and --seed "
                    "give the same mutants.",
        epilog="mutation classes: " + ", ".join(CLASSES))
    f.add_argument("seeds", nargs="*", metavar="SEED",
                   help=f"seed files or directories (default: {DEFAULT_SEEDS.name} samples)")
    f.add_argument("--seed", type=seed_int, default=0, metavar="N", help="random seed (default 0)")
    f.add_argument("-n", "--count", type=positive_int, default=100, metavar="N",
                   help="number of mutants (default 100)")
    f.add_argument("--mutation", action="append", choices=list(CLASSES), metavar="CLASS",
                   help="only this mutation class (repeatable; default: all, in turn)")
    f.add_argument("--format", choices=("hex", "raw", "sdp", "sip", "pcap"), default="hex",
                   help="hex / SDP a=key-mgmt lines / SIP INVITEs / raw files / a pcap")
    f.add_argument("-o", "--output", metavar="FILE", help="write everything to FILE (- = stdout)")
    f.add_argument("--out-dir", metavar="DIR",
                   help="one file per mutant and manifest.tsv (pcap: DIR/mutants.pcap)")
    f.add_argument("--send", metavar="HOST:PORT",
                   help="also send each mutant (or INVITE with --format sip) in a UDP datagram "
                        "to HOST:PORT — only to a target you are allowed to test")
    f.add_argument("--keys", action="append", metavar="FILE",
                   help="keyring with the signer's SSK/PVT: re-sign every mutant with a SIGN")
    f.add_argument("--signer", metavar="URI", help="identity of --keys whose SSK signs")
    f.add_argument("--region", choices=("rfc3830", "without_sign_header"), default="rfc3830",
                   help="signed-region convention for re-signing (default rfc3830)")
    f.add_argument("-v", "--verbose", action="store_true",
                   help="print the manifest (index, class, re-signed, seed, length, sha256, detail)"
                        " on stderr")
    f.set_defaults(func=cmd_fuzz)
