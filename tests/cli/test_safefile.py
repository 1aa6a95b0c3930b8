"""Files holding secrets (issue 15): created 0600 even over an existing 0644 file, never written
through a symlink, never over a directory — for the helper and for every command that writes
secrets (keyring import -o, keylog -o, synth, wireshark install, cms open --out, psk-smime --out).
The oracle is the file system itself (``os.lstat``), not the helper's own report."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from dissectors.safefile import UnsafeTarget, write_secret

REPO = Path(__file__).resolve().parents[2]
PCAPS = REPO / "pcaps"


def _mode(p) -> int:
    return stat.S_IMODE(os.lstat(p).st_mode)


def _mcsec(*args, cwd=None):
    r = subprocess.run([str(Path(sys.executable).parent / "mcsec"), *map(str, args)],
                       capture_output=True, text=True, cwd=cwd, timeout=300)
    assert "Traceback" not in r.stderr, r.stderr
    return r


# -- the helper ------------------------------------------------------------------------------
def test_existing_0644_file_becomes_0600(tmp_path):
    target = tmp_path / "keys.toml"
    target.write_text("old")
    os.chmod(target, 0o644)
    write_secret(target, "new secret")
    assert target.read_text() == "new secret"
    assert _mode(target) == 0o600
    assert sorted(os.listdir(tmp_path)) == ["keys.toml"]  # no temporary file left behind


def test_new_file_is_0600_whatever_the_umask(tmp_path):
    old = os.umask(0)
    try:
        write_secret(tmp_path / "k", b"\x00\x01")
    finally:
        os.umask(old)
    assert _mode(tmp_path / "k") == 0o600
    assert (tmp_path / "k").read_bytes() == b"\x00\x01"


def test_symlink_target_is_refused_and_its_target_untouched(tmp_path):
    victim = tmp_path / "victim"
    victim.write_text("precious")
    os.chmod(victim, 0o644)
    link = tmp_path / "out"
    link.symlink_to(victim)
    with pytest.raises(UnsafeTarget, match="symbolic link"):
        write_secret(link, "secret")
    assert victim.read_text() == "precious"
    assert _mode(victim) == 0o644
    assert os.path.islink(link)
    assert sorted(os.listdir(tmp_path)) == ["out", "victim"]


def test_dangling_symlink_is_refused(tmp_path):
    link = tmp_path / "out"
    link.symlink_to(tmp_path / "nowhere")
    with pytest.raises(UnsafeTarget):
        write_secret(link, "secret")
    assert not (tmp_path / "nowhere").exists()


def test_directory_target_is_refused(tmp_path):
    d = tmp_path / "dir"
    d.mkdir()
    with pytest.raises(UnsafeTarget, match="directory"):
        write_secret(d, "secret")
    assert d.is_dir() and os.listdir(d) == []


def test_unwritable_directory_is_a_typed_error(tmp_path):
    with pytest.raises(UnsafeTarget):
        write_secret(tmp_path / "missing" / "k", "secret")


# -- every command that writes secrets -------------------------------------------------------
def _commands(tmp_path, target):
    keyring = PCAPS / "keyring.toml"
    return {
        "keyring import": ["keyring", "import", keyring, "-o", target],
        "keylog": ["keylog", PCAPS / "private-call.pcapng", "--keys", keyring, "-o", target],
    }


@pytest.mark.parametrize("command", ["keyring import", "keylog"])
def test_cli_secret_outputs(tmp_path, command):
    target = tmp_path / "out"
    target.write_text("old")
    os.chmod(target, 0o644)
    r = _mcsec(*_commands(tmp_path, target)[command])
    assert r.returncode == 0, r.stderr
    assert _mode(target) == 0o600 and target.read_text() != "old"

    victim = tmp_path / "victim"
    victim.write_text("precious")
    link = tmp_path / "link"
    link.symlink_to(victim)
    r = _mcsec(*_commands(tmp_path, link)[command])
    assert r.returncode != 0
    assert "symbolic link" in r.stderr and str(link) in r.stderr
    assert victim.read_text() == "precious" and os.path.islink(link)

    d = tmp_path / "dir"
    d.mkdir()
    r = _mcsec(*_commands(tmp_path, d)[command])
    assert r.returncode != 0 and "directory" in r.stderr
    assert os.listdir(d) == []


def test_wireshark_install_never_follows_a_symlink(tmp_path):
    dest = tmp_path / "plugins"
    dest.mkdir()
    victim = tmp_path / "victim"
    victim.write_text("precious")
    (dest / "mcsec_mikey.lua").symlink_to(victim)
    r = _mcsec("wireshark", "install", "--dest", dest)
    assert r.returncode != 0 and "symbolic link" in r.stderr
    assert victim.read_text() == "precious"
    (dest / "mcsec_mikey.lua").unlink()
    (dest / "mcsec_mikey.lua").write_text("old")
    os.chmod(dest / "mcsec_mikey.lua", 0o644)
    r = _mcsec("wireshark", "install", "--dest", dest)
    assert r.returncode == 0, r.stderr
    assert _mode(dest / "mcsec_mikey.lua") == 0o600
    assert (dest / "mcsec_mikey.lua").read_bytes() == (REPO / "wireshark" / "mcsec_mikey.lua").read_bytes()


def test_synth_keys_are_0600_and_a_symlinked_keyring_is_refused(tmp_path):
    out = tmp_path / "s"
    out.mkdir()
    (out / "keyring.toml").write_text("old")
    os.chmod(out / "keyring.toml", 0o644)
    r = _mcsec("synth", out, "--scenario", "smime", "-q")
    assert r.returncode == 0, r.stderr
    assert _mode(out / "keyring.toml") == 0o600
    assert _mode(out / "smime-keys.pem") == 0o600
    assert all(_mode(p) == 0o600 for p in out.rglob("*.keyprov.xml"))
    victim = tmp_path / "victim"
    victim.write_text("precious")
    (out / "keyring.toml").unlink()
    (out / "keyring.toml").symlink_to(victim)
    r = _mcsec("synth", out, "--scenario", "smime", "-q")
    assert r.returncode != 0 and "symbolic link" in r.stderr
    assert victim.read_text() == "precious"
