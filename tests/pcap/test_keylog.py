"""`mcsec keylog`: the recovered secrets, checked against the generator's manifest."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from dissectors.cli import main

PCAPS = Path(__file__).resolve().parents[2] / "pcaps"
MANIFEST = json.loads((PCAPS / "manifest.json").read_text())


def test_keylog_lines_match_the_manifest(tmp_path, capsys):
    out = tmp_path / "keylog.txt"
    assert main(["keylog", str(PCAPS / "private-call.pcapng"), "--keys",
                 str(PCAPS / "keyring.toml"), "-o", str(out)]) == 0
    assert (out.stat().st_mode & 0o777) == 0o600
    lines = out.read_text().splitlines()
    assert lines[0] == "# mcsec keylog 1"
    mikey = {ln.split()[1]: dict(f.split("=", 1) for f in ln.split()[2:])
             for ln in lines if ln.startswith("MIKEY ")}
    srtp = {(ln.split()[1], dict(f.split("=", 1) for f in ln.split()[2:])["cs"]):
            dict(f.split("=", 1) for f in ln.split()[2:]) for ln in lines if ln.startswith("SRTP ")}
    entries = [e for e in MANIFEST["entries"]
               if e["capture"] == "private-call.pcapng" and e["kind"] == "mikey-sakke"]
    assert entries
    for e in entries:
        mid = hashlib.sha256(bytes.fromhex(e["mikey"])).hexdigest()[:16]
        line = mikey[mid]
        assert line["ssv"] == e["expect"]["key"] and line["verified"] == "1"
        assert line["type"] == e["expect"]["key_type"]
        for cs in e["expect"]["crypto_sessions"]:
            s = srtp[(cs["mki"], str(cs["cs_id"]))]
            assert (s["key"], s["salt"]) == (cs["master_key"], cs["master_salt"])


def test_keylog_needs_keys(capsys):
    import pytest

    with pytest.raises(SystemExit) as e:
        main(["keylog", str(PCAPS / "private-call.pcapng"), "-o", "-"])
    assert e.value.code == 2
