"""The generated Lua plugin on every sample capture in real tshark: no Lua error, and the
malformed capture's decode errors appear as expert info with the codec's own error text."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PLUGIN = ROOT / "wireshark" / "mcsec_mikey.lua"
PCAPS = ROOT / "pcaps"
MANIFEST = json.loads((PCAPS / "manifest.json").read_text())


def _tshark(capture, *fields):
    from tests.conftest import TSHARK

    assert TSHARK, "tshark is needed (make test installs it)"
    args = [TSHARK, "-X", f"lua_script:{PLUGIN}", "-r", str(capture), "-T", "fields"]
    for f in fields:
        args += ["-e", f]
    return subprocess.run(args, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("capture", sorted(p.name for p in PCAPS.glob("*.pcapng")))
def test_no_lua_error_on_any_sample_capture(capture):
    r = _tshark(PCAPS / capture, "frame.number", "mikey.type")
    assert r.returncode == 0, r.stderr
    assert "Lua" not in r.stderr and "lua" not in r.stderr.replace("lua_script", ""), r.stderr
    assert r.stdout.strip()


def test_malformed_capture_gives_expert_info_with_the_codec_error():
    r = _tshark(PCAPS / "malformed.pcapng", "frame.number", "_ws.expert.message")
    assert r.returncode == 0, r.stderr
    experts = {}
    for line in r.stdout.splitlines():
        number, _, messages = line.partition("\t")
        experts[int(number)] = messages
    decode_errors = [e for e in MANIFEST["entries"]
                     if e["kind"] == "malformed-mikey" and e["error"]["stage"] == "decode"]
    assert decode_errors
    for e in decode_errors:
        want = f"{e['error']['path']} at offset {e['error']['offset']}"
        assert want in experts.get(e["frame"], ""), (e["frame"], experts.get(e["frame"]))


# ----------------------------------------------------------------------------------------------
# every frame of every sample capture: the plugin's mikey.* fields = `mcsec dissect --format json`
def _plugin_trees(capture, *prefs):
    from tests.conftest import TSHARK
    from tests.test_wireshark import mikey_trees, run_tshark

    return {int(f["frame"]["frame.number"]): mikey_trees(f)
            for f in run_tshark(TSHARK, capture, *prefs)}


def plugin_trees_by_frame(frames) -> dict:
    from tests.test_wireshark import mikey_trees

    return {int(f["frame"]["frame.number"]): mikey_trees(f) for f in frames}


def _mcsec_entries(capture, *args):
    from dissectors.cli import main

    import contextlib
    import io

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        assert main(["dissect", str(capture), "--format", "json", "--filter", "all",
                     "--no-progress", *args]) == 0
    return {p["frame"]: p["layers"].get("mikey", [])
            for p in map(json.loads, buf.getvalue().splitlines())}


TLS_KEYLOG = PCAPS / "sip-tls.keylog"


KEYRING = PCAPS / "keyring.toml"
DERIVED_TOP = ("mikey", "mcsec.carrier", "mcsec.error", "mikey.findings")


def _canon_entry(entry, hide_secrets=False):
    """Our JSON entry as {key: [values]}, the top-level values (trailing octets, and with keys
    the crypto sessions, session keys, replay verdict) beside the payloads, as in the plugin."""
    from tests.test_wireshark import _drop_hidden, canon_ours

    mine = canon_ours({"mikey": entry.get("mikey", [])})["mikey"][0]
    for key, value in entry.items():
        if key not in DERIVED_TOP:
            mine[key] = canon_ours({key: value})[key]
    return _drop_hidden(mine) if hide_secrets else mine


@pytest.mark.parametrize("mode", ["decoded", "keylog", "keylog-secrets"])
@pytest.mark.parametrize("capture", sorted(p.name for p in PCAPS.glob("*.pcapng")))
def test_every_frame_mikey_fields_equal_mcsec_dissect(tmp_path, capture, mode):
    """Same frames, same number of MIKEY messages per frame, same fields and values — malformed
    messages included (the fields read before the error, on both sides); with the keylog that
    `mcsec keylog` wrote, every verdict, ID, UID, error and (when allowed) secret that
    `mcsec dissect --keys` adds."""
    compare_capture_with_dissect(tmp_path, capture, mode, _plugin_trees)


def compare_capture_with_dissect(tmp_path, capture, mode, plugin_trees):
    """``plugin_trees(capture_path, *prefs)`` runs a tshark with the plugin: {frame: trees}."""
    from dissectors.cli import main
    from tests.test_wireshark import _diff, _drop_hidden, canon_theirs

    tls = capture == "sip-tls.pcapng"
    prefs = [f"tls.keylog_file:{TLS_KEYLOG}"] if tls else []
    args = ["--tls-keylog", str(TLS_KEYLOG)] if tls else []
    if mode != "decoded":
        keylog = tmp_path / "capture.mcsec-keylog"
        assert main(["keylog", str(PCAPS / capture), "--keys", str(KEYRING), "-o", str(keylog),
                     *args]) == 0
        prefs.append(f"mcsec_mikey.keylog_file:{keylog}")
        args += ["--keys", str(KEYRING)]
        if mode == "keylog-secrets":
            prefs.append("mcsec_mikey.show_secrets:TRUE")
            args.append("--show-secrets")
    theirs = plugin_trees(PCAPS / capture, *prefs)
    ours = _mcsec_entries(PCAPS / capture, *args)
    assert set(theirs) == set(ours), "both see every frame"
    compared = 0
    for frame in sorted(ours):
        t, u = theirs[frame], ours[frame]
        assert len(t) == len(u), f"frame {frame}: {len(t)} MIKEY tree(s), mcsec {len(u)}"
        for tree, entry in zip(t, u):
            # hidden secrets: "<hidden>" in our JSON; the plugin shows no octets for them
            mine = _canon_entry(entry, hide_secrets=mode == "keylog")
            plugin = canon_theirs(tree)
            if mode == "keylog":  # and "<hidden>" text fields in the plugin's
                plugin = _drop_hidden(plugin)
            assert plugin == mine, f"frame {frame}:\n" + "\n".join(_diff(mine, plugin))
            compared += 1
    n_manifest = sum(1 for e in MANIFEST["entries"] if e["capture"] == capture
                     and e["kind"] in ("mikey-sakke", "mikey-ticket", "psk-smime",
                                       "malformed-mikey"))
    assert compared >= n_manifest
