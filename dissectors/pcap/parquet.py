"""`mcsec dissect --format parquet -o DIR`: the packets of ``--format json`` as an Apache Parquet
dataset (pyarrow), for DuckDB, pandas, Spark.

One row per packet object of the JSON output, hive-partitioned by input file
(``DIR/file=NAME/part-0.parquet``; a capture set's files, :mod:`dissectors.pcap.captureset`).  Columns:

* the envelope: ``frame`` (int64), ``frames`` (list of the frames a reassembled message spans),
  ``frame.time_epoch`` (float64, exactly the JSON ``time``), ``time`` (timestamp[us, UTC], the
  same instant for date functions), ``src``, ``dst``, ``sport``, ``dport``, ``transport``,
  ``kind``, and the partition column ``file``;
* the main fields as typed columns under their Wireshark names (:data:`FIELDS`: SIP, MIKEY with
  its verdicts ``mikey.sign.verified`` …, key types and IDs, CMS, SRTP/SRTCP): the first
  occurrence in the packet (as ``mcsec dissect -Y`` names them: :func:`filter_fields.fields_of`),
  null when absent; list columns hold every occurrence;
* derived verdicts (:func:`verdicts`): ``mcsec.decrypted`` (bool; null when the packet holds
  nothing to decrypt) and ``mcsec.decrypt_reason`` (why not), ``mcsec.sender`` (the MIKEY
  sender: ``mikey.3gpp.sender_uri`` or the IDRi URI);
* ``layers``: the packet's whole ``layers`` object as JSON text.

Rows are written in batches of :data:`BATCH` (memory stays bounded); the directory is created
with mode 0700 (with ``--show-secrets`` it holds keys and plaintext) and must not exist or be
empty.
"""

from __future__ import annotations

import json
import os
from typing import Callable, Iterable, Iterator

BATCH = 4096

# (Wireshark name, type, every occurrence as a list?)
FIELDS = (
    ("sip.Method", "string", False), ("sip.Status-Code", "int64", False),
    ("sip.r-uri", "string", False), ("sip.From", "string", False), ("sip.To", "string", False),
    ("sip.Call-ID", "string", False), ("sip.CSeq.seq", "int64", False),
    ("mikey.type_name", "string", False), ("mikey.csb_id", "int64", False),
    ("mikey.3gpp.key_type", "string", False), ("mikey.3gpp.key_id", "int64", False),
    ("mikey.3gpp.period_no", "int64", False), ("mikey.3gpp.sender_uri", "string", False),
    ("mikey.3gpp.receiver_uri", "string", False), ("mikey.3gpp.mki", "string", True),
    ("mikey.sign.verified", "bool", False), ("mikey.sign.error", "string", False),
    ("mikey.sakke.unverified", "bool", False), ("mikey.sakke.error", "string", False),
    ("mikey.kemac.verified", "bool", False), ("mikey.kemac.error", "string", False),
    ("mikey.v.verified", "bool", False), ("mikey.ticket.verified", "bool", False),
    ("mcsec.carrier", "string", False),
    ("cms.smime_type", "string", False), ("cms.ok", "bool", False),
    ("psk-smime.ok", "bool", False), ("psk-smime.proof_of_origin", "bool", False),
    ("srtp.ok", "bool", False), ("srtp.keys", "string", False), ("srtp.mki", "string", False),
    ("srtp.ssrc", "int64", False), ("srtp.error.reason", "string", False),
    ("srtcp.ok", "bool", False), ("srtcp.keys", "string", False), ("srtcp.mki", "string", False),
    ("srtcp.ssrc", "int64", False), ("srtcp.error.reason", "string", False),
    ("srtcp.floor", "string", False),
    ("mcsec.error.reason", "string", False),
)
DERIVED = (("mcsec.decrypted", "bool"), ("mcsec.decrypt_reason", "string"),
           ("mcsec.sender", "string"))


class ParquetError(Exception):
    """The dataset directory cannot be used (exists and is not empty, is a symbolic link)."""


def schema():
    import pyarrow as pa

    types = {"string": pa.string(), "int64": pa.int64(), "bool": pa.bool_()}
    cols = [("file", pa.string()), ("frame", pa.int64()), ("frames", pa.list_(pa.int64())),
            ("frame.time_epoch", pa.float64()), ("time", pa.timestamp("us", tz="UTC")),
            ("src", pa.string()), ("dst", pa.string()), ("sport", pa.int32()),
            ("dport", pa.int32()), ("transport", pa.string()), ("kind", pa.string())]
    cols += [(name, pa.list_(types[t]) if many else types[t]) for name, t, many in FIELDS]
    cols += [(name, types[t]) for name, t in DERIVED]
    cols.append(("layers", pa.string()))
    return pa.schema(cols)


def _typed(value, kind: str):
    if kind == "bool":
        return value if isinstance(value, bool) else None
    if kind == "int64":
        return value if isinstance(value, int) and not isinstance(value, bool) else None
    if isinstance(value, (str, int, float)) and not isinstance(value, bool):
        return str(value)
    return None


def _first(values: list, kind: str):
    for v in values:
        t = _typed(v, kind)
        if t is not None:
            return t
    return None


def verdicts(pkt: dict, found: dict) -> tuple:
    """(decrypted, reason, sender) of a packet (see module docstring)."""
    layers = pkt.get("layers") or {}

    def first_str(*names):
        for n in names:
            v = _first(found.get(n, ()), "string")
            if v:
                return v
        return None

    decrypted = reason = None
    for media in ("srtp", "srtcp"):
        if media in layers:
            decrypted = _first(found.get(f"{media}.ok", ()), "bool")
            reason = None if decrypted else first_str(f"{media}.error.reason")
            break
    else:
        if "mikey" in layers:
            opened = any(n in found for n in ("mikey.sakke.ssv", "mikey.3gpp.crypto_sessions",
                                              "mikey.ticket.session_keys", "mikey.kemac.keys"))
            reason = None if opened else first_str(
                "mikey.sakke.error", "mikey.kemac.error", "mikey.ticket.error",
                "mcsec.error.reason")
            decrypted = True if opened else (False if reason else None)
        elif "cms" in layers:
            decrypted = _first(found.get("cms.ok", ()), "bool")
            reason = None if decrypted else first_str("cms.error.reason", "cms.error",
                                                      "cms.layer.error", "cms.signer.error")
        elif "psk-smime" in layers:
            decrypted = _first(found.get("psk-smime.ok", ()), "bool")
            reason = None if decrypted else first_str("psk-smime.error")
        if decrypted is None and reason:  # e.g. a CMS object that does not decode
            decrypted = False
    sender = first_str("mikey.3gpp.sender_uri")
    if sender is None:
        for doc in layers.get("mikey") or ():
            for payload in (doc.get("mikey") or ()) if isinstance(doc, dict) else ():
                obj = next(iter(payload.values()), None) if isinstance(payload, dict) else None
                if isinstance(obj, dict) and obj.get("mikey.id.role") == 1 \
                        and isinstance(obj.get("mikey.id.data"), str):
                    sender = obj["mikey.id.data"]
                    break
            if sender is not None:
                break
    return decrypted, reason, sender


_WANTED = frozenset([name for name, _, _ in FIELDS] + [
    "mikey.sakke.ssv", "mikey.3gpp.crypto_sessions", "mikey.ticket.session_keys",
    "mikey.kemac.keys", "mikey.ticket.error", "cms.error.reason", "cms.error",
    "cms.layer.error", "cms.signer.error", "psk-smime.error"])


def row(pkt: dict, file: str) -> dict:
    """The Parquet row of one packet object of ``--format json``."""
    from dissectors.pcap.filter_fields import fields_of
    from dissectors.pcap.render import dumps_compact

    found = fields_of(pkt, _WANTED)
    t = pkt.get("time")
    out = {"file": file, "frame": pkt.get("frame"), "frames": pkt.get("frames"),
           "frame.time_epoch": t,
           "time": None if t is None else int(round(t * 1_000_000)),
           "src": pkt.get("src"), "dst": pkt.get("dst"), "sport": pkt.get("sport"),
           "dport": pkt.get("dport"), "transport": pkt.get("transport"), "kind": pkt.get("kind")}
    for name, kind, many in FIELDS:
        values = found.get(name, ())
        if many:
            typed = [x for x in (_typed(v, kind) for v in values) if x is not None]
            out[name] = typed or None
        else:
            out[name] = _first(values, kind)
    out["mcsec.decrypted"], out["mcsec.decrypt_reason"], out["mcsec.sender"] = verdicts(
        pkt, found)
    out["layers"] = dumps_compact(pkt.get("layers") or {})  # json.dumps' text, by orjson
    return out


def file_namer(source, fallback: str | None = None) -> Callable[[dict], str]:
    """``name(pkt)``: the input file of a packet — a capture set's file of its frame (a
    packet without a frame read: the file its capture-error names), else the capture's base
    name (``-``: ``stdin``)."""
    opener = getattr(source, "file_of", None)
    if callable(opener):
        names = [f.name for f in source.bad] + [f.name for f in source.files]

        def of_set(pkt):
            name = source.file_of(pkt.get("frame") or 1)
            if name is not None:
                return name
            err = (pkt.get("layers") or {}).get("mcsec.capture-error")
            text = json.dumps(err) if err else ""
            return next((n for n in names if f"{n}: " in text), names[0] if names else "-")
        return of_set
    if isinstance(source, (str, os.PathLike)) and os.fspath(source) != "-":
        name = os.path.basename(os.fspath(source))
    else:
        name = fallback if fallback and fallback != "-" else "stdin"
    return lambda pkt: name


def prepare_directory(path: str) -> None:
    """Create ``path`` with mode 0700, or accept an empty directory (made 0700); refuse a
    symbolic link, a non-directory and a directory that holds anything."""
    if os.path.islink(path):
        raise ParquetError(f"{path}: a symbolic link (refused)")
    if os.path.exists(path):
        if not os.path.isdir(path):
            raise ParquetError(f"{path}: exists and is not a directory")
        if os.listdir(path):
            raise ParquetError(f"{path}: the directory is not empty")
        os.chmod(path, 0o700)
        return
    os.makedirs(path, mode=0o700)
    os.chmod(path, 0o700)  # whatever the umask


def _batches(packets: Iterable[dict], name: Callable, sch, counter: list) -> Iterator:
    import pyarrow as pa

    rows: list = []
    for pkt in packets:
        rows.append(row(pkt, name(pkt)))
        counter[0] += 1
        if len(rows) >= BATCH:
            yield pa.RecordBatch.from_pylist(rows, schema=sch)
            rows = []
    if rows:
        yield pa.RecordBatch.from_pylist(rows, schema=sch)


def write_dataset(packets: Iterable[dict], path: str, name: Callable[[dict], str]) -> int:
    """Write the packet objects as a Parquet dataset partitioned by ``file`` (hive) under
    ``path``; returns the number of rows."""
    import pyarrow as pa
    import pyarrow.dataset as ds

    prepare_directory(path)
    sch = schema()
    counter = [0]
    ds.write_dataset(_batches(packets, name, sch, counter), path, schema=sch, format="parquet",
                     partitioning=ds.partitioning(pa.schema([("file", pa.string())]),
                                                  flavor="hive"),
                     existing_data_behavior="overwrite_or_ignore",
                     basename_template="part-{i}.parquet", max_rows_per_group=64 * 1024)
    return counter[0]


def read_dataset(path: str):
    """The dataset as a pyarrow Table (``file`` restored from the partition directories)."""
    import pyarrow.dataset as ds

    import pyarrow as pa

    return ds.dataset(path, format="parquet", partitioning=ds.partitioning(
        pa.schema([("file", pa.string())]), flavor="hive")).to_table()


__all__ = ["write_dataset", "read_dataset", "row", "schema", "file_namer", "FIELDS",
           "ParquetError"]
