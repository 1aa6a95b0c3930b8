"""The generated Lua plugin on every sample capture in real tshark: no Lua error, and the
malformed capture's decode errors appear as expert info with the codec's own error text."""

from __future__ import annotations

import subprocess

import pytest

from tests.support.wireshark_plugin import (MANIFEST, PCAPS, PLUGIN, compare_capture_with_dissect,
                                            plugin_trees)


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


@pytest.mark.parametrize("mode", ["decoded", "keylog", "keylog-secrets"])
@pytest.mark.parametrize("capture", sorted(p.name for p in PCAPS.glob("*.pcapng")))
def test_every_frame_mikey_fields_equal_mcsec_dissect(tmp_path, capture, mode):
    """Same frames, same number of MIKEY messages per frame, same fields and values — malformed
    messages included (the fields read before the error, on both sides); with the keylog that
    `mcsec keylog` wrote, every verdict, ID, UID, error and (when allowed) secret that
    `mcsec dissect --keys` adds."""
    compare_capture_with_dissect(tmp_path, capture, mode, plugin_trees)


