"""Issue 10 item 5: the generated plugin in a real Wireshark 4.4 (Lua 5.4), not only in the
Debian 4.0 (Lua 5.2) that `make test` installs.

`make test` (target ``wireshark-4.4``) builds a minimal Debian trixie tree with its tshark in
``.cache/wireshark-4.4`` once (root, debootstrap); tshark runs there through ``chroot`` as an
unprivileged user (Wireshark runs no Lua script as root).  Oracle, as for 4.0: every frame's
``mikey.*`` fields equal ``mcsec dissect --format json``, decoded and with the keylog.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from tests.support.wireshark_plugin import (MANIFEST, PCAPS, compare_capture_with_dissect,
                                           plugin_trees_by_frame)

ROOT = Path(__file__).resolve().parents[3]
WS44 = ROOT / ".cache" / "wireshark-4.4"
PLUGIN = ROOT / "wireshark" / "mcsec_mikey.lua"
NOBODY = "65534:65534"


def _chroot(*args, timeout=120):
    assert (WS44 / "usr" / "bin" / "tshark").exists(), (
        f"{WS44} is missing: `make test` makes it (as root, with debootstrap)")
    return subprocess.run(["chroot", f"--userspec={NOBODY}", str(WS44), "env", "HOME=/tmp",
                           "LC_ALL=C", "TZ=UTC", *args], capture_output=True, text=True,
                          timeout=timeout)


class _Inside:
    """Files copied into the tree (readable by the unprivileged user), named by their path there."""

    def __init__(self):
        (WS44 / "tmp").mkdir(exist_ok=True)
        self.dir = Path(tempfile.mkdtemp(dir=WS44 / "tmp", prefix="mcsec-"))
        os.chmod(self.dir, 0o755)

    def __call__(self, host: Path) -> str:
        dest = self.dir / Path(host).name
        shutil.copyfile(host, dest)
        os.chmod(dest, 0o644)
        return f"/tmp/{self.dir.name}/{dest.name}"

    def close(self):
        shutil.rmtree(self.dir, ignore_errors=True)


def tshark44(capture: Path, *prefs) -> list[dict]:
    inside = _Inside()
    try:
        args = ["tshark", "-X", f"lua_script:{inside(PLUGIN)}", "-r", inside(capture),
                "-T", "json", "--no-duplicate-keys"]
        for pref in prefs:
            name, _, value = pref.partition(":")
            if Path(value).is_file():
                value = inside(Path(value))
            args += ["-o", f"{name}:{value}"]
        proc = _chroot(*args)
    finally:
        inside.close()
    assert proc.returncode == 0, proc.stderr
    assert "Lua" not in proc.stderr and "rror" not in proc.stderr, proc.stderr
    assert "Lua Error" not in proc.stdout and "_ws.lua.error" not in proc.stdout
    return [f["_source"]["layers"] for f in json.loads(proc.stdout)]


def test_it_is_wireshark_4_2_or_later_with_lua_5_4():
    out = _chroot("tshark", "--version").stdout
    major, minor = map(int, re.search(r"TShark \(Wireshark\) (\d+)\.(\d+)", out).groups())
    assert (major, minor) >= (4, 2), out.splitlines()[0]
    assert re.search(r"Lua 5\.4", out), "Wireshark 4.2+ embeds Lua 5.4"


def test_plugin_decodes_media_level_key_mgmt_which_wireshark_does_not():
    """Wireshark's own MIKEY dissector never sees media-level a=key-mgmt lines: a MIKEY tree at
    those frames is the plugin's, loaded and working in 4.4."""
    entries = [e for e in MANIFEST["entries"] if e.get("carrier") == "sdp-media"
               and e["kind"] == "mikey-sakke"]
    assert entries
    for capture in sorted({e["capture"] for e in entries}):
        trees = plugin_trees_by_frame(tshark44(PCAPS / capture))
        for e in (x for x in entries if x["capture"] == capture):
            csb = [t.get("mikey.hdr_tree", t.get("mikey.hdr", {})).get("mikey.csb_id")
                   for t in trees[e["frame"]]]
            assert f"0x{e['expect']['csb_id']:08x}" in json.dumps(trees[e["frame"]]), (
                capture, e["frame"], csb)


@pytest.mark.parametrize("mode", ["decoded", "keylog-secrets"])
@pytest.mark.parametrize("capture", sorted(p.name for p in PCAPS.glob("*.pcapng")))
def test_every_frame_equals_mcsec_dissect_in_wireshark_4_4(tmp_path, capture, mode):
    compare_capture_with_dissect(
        tmp_path, capture, mode,
        lambda cap, *prefs: plugin_trees_by_frame(tshark44(cap, *prefs)))


def test_malformed_capture_gives_expert_info_in_wireshark_4_4():
    from tests.support.wireshark_plugin import experts

    frames = tshark44(PCAPS / "malformed.pcapng")
    by_frame = {int(f["frame"]["frame.number"]): [m for _, m in experts(f)] for f in frames}
    decode_errors = [e for e in MANIFEST["entries"]
                     if e["kind"] == "malformed-mikey" and e["error"]["stage"] == "decode"]
    assert decode_errors
    for e in decode_errors:
        want = f"{e['error']['path']} at offset {e['error']['offset']}"
        assert any(want in m for m in by_frame[e["frame"]]), (e["frame"], by_frame[e["frame"]])
