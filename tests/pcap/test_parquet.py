"""`mcsec dissect --format parquet -o DIR` (issue 19 item 3): read back with pyarrow (and
DuckDB), the dataset holds one row per packet of `--format json`, and its columns equal the
JSON values — taken here from the JSON by their paths, not by the writer's field walk; the
partition of each row is the file its frame came from (frame counts by ``capinfos``)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pyarrow.dataset as ds
import pytest
from tests.support.cli import mcsec

ROOT = Path(__file__).resolve().parents[2]
PCAPS = ROOT / "pcaps"
KEYS = ["--keys", str(PCAPS / "keyring.toml"), "--keys", str(PCAPS / "smime-keys.pem")]
MANIFEST = json.loads((PCAPS / "manifest.json").read_text())
SET = [PCAPS / "kms-provisioning.pcapng", PCAPS / "private-call.pcapng",
       PCAPS / "malformed.pcapng", PCAPS / "smime.pcapng", PCAPS / "psk-smime.pcapng"]


def read(path) -> list[dict]:
    import pyarrow as pa

    table = ds.dataset(str(path), format="parquet", partitioning=ds.partitioning(
        pa.schema([("file", pa.string())]), flavor="hive")).to_table()
    return sorted(table.to_pylist(), key=lambda r: r["frame"])


def _payload(pkt, name):
    """The MIKEY payloads called ``name`` of a packet, in order (from the JSON)."""
    return [obj for doc in pkt["layers"].get("mikey", ()) for p in doc["mikey"]
            for n, obj in p.items() if n == name]


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("pq")
    bad = next(e for e in MANIFEST["entries"] if e["kind"] == "malformed-srtp")
    srtp = tmp / "srtp.toml"  # the tampered SRTP packet's key (it has no key management)
    srtp.write_text(f'[[srtp]]\nmki = "{bad["mki"]}"\nkey = "{bad["master_key"]}"\n'
                    f'salt = "{bad["master_salt"]}"\n')
    opts = [*SET, *KEYS, "--keys", srtp, "--trk", MANIFEST["transport_key"], "--filter", "all",
            "--workers", "1", "--no-progress"]
    packets = [json.loads(line) for line in
               mcsec("dissect", *opts, "--format", "json").stdout.splitlines()]
    mcsec("dissect", *opts, "--format", "parquet", "-o", tmp / "out")
    return packets, read(tmp / "out"), tmp / "out"


def test_one_row_per_json_packet(dataset):
    packets, rows, _ = dataset
    assert len(rows) == len(packets) == sum(MANIFEST["captures"][p.stem]["frames"] for p in SET)
    for pkt, row in zip(packets, rows):
        assert row["frame"] == pkt["frame"]
        assert row["frame.time_epoch"] == pkt["time"]
        assert abs(row["time"].timestamp() - pkt["time"]) < 1e-6
        for k in ("src", "dst", "sport", "dport", "transport", "kind"):
            assert row[k] == pkt.get(k), (k, pkt["frame"])
        assert row["frames"] == pkt.get("frames")
        assert json.loads(row["layers"]) == pkt["layers"]


def test_verdict_columns_equal_the_json(dataset):
    packets, rows, _ = dataset
    seen = {"sign": set(), "srtp": set(), "cms": set()}
    for pkt, row in zip(packets, rows):
        signs = _payload(pkt, "mikey.sign")
        want = next((s["mikey.sign.verified"] for s in signs if "mikey.sign.verified" in s), None)
        assert row["mikey.sign.verified"] == want, pkt["frame"]
        seen["sign"].add(want)
        hdrs = _payload(pkt, "mikey.hdr")
        for col, key in (("mikey.3gpp.key_type", "mikey.3gpp.key_type"),
                         ("mikey.3gpp.key_id", "mikey.3gpp.key_id"),
                         ("mikey.csb_id", "mikey.csb_id")):
            assert row[col] == next((h[key] for h in hdrs if key in h), None), col
        sakke = _payload(pkt, "mikey.sakke")
        if pkt["kind"] == "mikey" and sakke:
            assert row["mcsec.decrypted"] == ("mikey.sakke.ssv" in sakke[0])
            if "mikey.sakke.error" in sakke[0]:
                assert row["mcsec.decrypt_reason"] == sakke[0]["mikey.sakke.error"]
        for media in ("srtp", "srtcp"):
            recs = pkt["layers"].get(media)
            if recs:
                assert row[f"{media}.ok"] == recs[0]["ok"] == row["mcsec.decrypted"]
                assert row[f"{media}.keys"] == recs[0]["keys"]
                assert row[f"{media}.mki"] == recs[0]["mki"]
                assert row[f"{media}.ssrc"] == recs[0]["ssrc"]
                assert row[f"{media}.error.reason"] == (recs[0].get("error") or {}).get("reason")
                seen["srtp"].add(recs[0]["ok"])
            else:
                assert row[f"{media}.ok"] is None
        if "cms" in pkt["layers"] and "cms_open" not in json.dumps(pkt["layers"]["cms"]):
            seen["cms"].add(row["cms.smime_type"])
        sip = pkt["layers"].get("sip", {})
        assert row["sip.Method"] == sip.get("sip.Method")
        assert row["sip.Call-ID"] == sip.get("sip.Call-ID")
        assert row["sip.Status-Code"] == sip.get("sip.Status-Code")
    # the data set exercises both outcomes (malformed.pcapng: tampered signatures, a bad tag)
    assert {True, False} <= seen["sign"] and {True, False} <= seen["srtp"]


def test_partitioned_by_input_file(dataset):
    _, rows, out = dataset
    assert sorted(os.listdir(out)) == sorted(f"file={p.name}" for p in SET)
    assert os.stat(out).st_mode & 0o777 == 0o700
    info = subprocess.run(["capinfos", "-T", "-r", "-M", "-S", "-a", "-c", *map(str, SET)],
                          check=True, capture_output=True, text=True).stdout.splitlines()
    files = sorted((float(start), int(count), Path(name).name)
                   for name, count, start in (line.split("\t") for line in info))
    first = 1
    for _, count, name in files:  # by first packet time: frame ranges from capinfos
        names = {r["file"] for r in rows if first <= r["frame"] < first + count}
        assert names == {name}, (name, first, count)
        first += count
    assert first == len(rows) + 1


def test_duckdb_queries_of_the_readme(dataset, tmp_path):
    """The README's queries run and give what the JSON says."""
    import duckdb

    packets, rows, out = dataset
    glob = f"{out}/*/*.parquet"
    failed = duckdb.sql(README_FAILED.replace("DIR/*/*.parquet", glob)).fetchall()
    want: dict = {}
    for pkt in packets:
        for s in _payload(pkt, "mikey.sign"):
            if s.get("mikey.sign.verified") is False:
                sender = next((h["mikey.3gpp.sender_uri"] for h in _payload(pkt, "mikey.hdr")
                               if "mikey.3gpp.sender_uri" in h), None) or next(
                    (i["mikey.id.data"] for i in _payload(pkt, "mikey.idr")
                     if i.get("mikey.id.role") == 1), None)
                hour = int(pkt["time"] // 3600 * 3600)
                want[(sender, hour)] = want.get((sender, hour), 0) + 1
                break
    got = {(sender, int(hour.timestamp())): n for sender, hour, n, _signed in failed if n}
    assert got == want and sum(want.values()) >= 2


def test_media_streams_without_a_key(tmp_path):
    """Without keys the SRTP/SRTCP flows of private-call are listed by the README's query;
    with keys, none (every one was opened)."""
    import duckdb

    cap = PCAPS / "private-call.pcapng"
    keyed = [json.loads(line) for line in mcsec("dissect", cap, *KEYS, "--format", "json",
                                                "--workers", "1").stdout.splitlines()]
    media = {(p["src"], p["sport"], p["dst"], p["dport"]) for p in keyed
             if p["kind"] in ("srtp", "srtcp")}
    assert media
    for keys, expected in (([], media), (KEYS, set())):
        out = tmp_path / ("keyed" if keys else "nokeys")
        mcsec("dissect", cap, *keys, "--filter", "all", "--format", "parquet", "-o", out,
              "--workers", "1")
        got = duckdb.sql(README_NO_KEY.replace("DIR/*/*.parquet", f"{out}/*/*.parquet")).fetchall()
        assert {(r[0], r[1], r[2], r[3]) for r in got} == expected


def test_the_directory_is_refused_when_not_empty_or_a_link(tmp_path):
    cap = PCAPS / "csk-upload.pcapng"
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    proc = mcsec("dissect", cap, "--format", "parquet", "-o", tmp_path / "full", check=False)
    assert proc.returncode == 2 and "not empty" in proc.stderr
    (tmp_path / "target").mkdir()
    os.symlink(tmp_path / "target", tmp_path / "link")
    proc = mcsec("dissect", cap, "--format", "parquet", "-o", tmp_path / "link", check=False)
    assert proc.returncode == 2 and "symbolic link" in proc.stderr
    assert not os.listdir(tmp_path / "target")
    proc = mcsec("dissect", cap, "--format", "parquet", check=False)
    assert proc.returncode == 2 and "-o DIR" in proc.stderr


def test_batches_keep_memory_bounded(tmp_path, monkeypatch):
    """More packets than a batch: several record batches, every row written once."""
    from dissectors.pcap import parquet

    monkeypatch.setattr(parquet, "BATCH", 7)
    pkts = [{"frame": i, "time": 1.5 + i, "src": "192.0.2.1", "dst": "192.0.2.2", "sport": 1,
             "dport": 2, "transport": "udp", "layers": {}, "kind": "frame"} for i in range(1, 51)]
    n = parquet.write_dataset(iter(pkts), str(tmp_path / "d"),
                              lambda p: "a" if p["frame"] <= 20 else "b")
    rows = read(tmp_path / "d")
    assert n == 50 and [r["frame"] for r in rows] == list(range(1, 51))
    assert {r["file"] for r in rows if r["frame"] <= 20} == {"a"}
    assert {r["file"] for r in rows if r["frame"] > 20} == {"b"}


def _readme_query(marker: str) -> str:
    text = (ROOT / "README.md").read_text()
    start = text.index(marker)
    start = text.index("```sql\n", start) + len("```sql\n")
    return text[start:text.index("```", start)]


README_FAILED = _readme_query("<!-- parquet: failed verifications -->")
README_NO_KEY = _readme_query("<!-- parquet: media without a key -->")


def test_rows_of_a_set_with_a_file_that_is_not_a_capture(tmp_path):
    bad = tmp_path / "notes.pcap"
    bad.write_text("not a capture")
    cap = PCAPS / "csk-upload.pcapng"
    mcsec("dissect", bad, cap, "--format", "parquet", "-o", tmp_path / "d", "--filter", "all")
    rows = read(tmp_path / "d")
    assert len(rows) == MANIFEST["captures"]["csk-upload"]["frames"]
    assert {r["file"] for r in rows} == {cap.name}  # frame 1 carries the error, from cap
    assert "notes.pcap" in rows[0]["layers"] and "mcsec.capture-error" in rows[0]["layers"]
    (tmp_path / "notes2.pcap").write_text("neither")
    mcsec("dissect", bad, tmp_path / "notes2.pcap", "--format", "parquet", "-o", tmp_path / "e")
    rows = read(tmp_path / "e")  # nothing but errors: one packet (frame 1), the first file named
    assert len(rows) == 1 and rows[0]["file"] == "notes.pcap"
    assert rows[0]["kind"] == "mcsec.capture-error"
    assert "notes.pcap" in rows[0]["layers"] and "notes2.pcap" in rows[0]["layers"]
