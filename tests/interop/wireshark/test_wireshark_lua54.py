"""The generated plugin under plain Lua 5.4 (Wireshark 4.2+ embeds Lua 5.4; tshark here is 4.0).

A small stand-in for the Wireshark Lua API (``STUB``) runs the plugin's dissector on every message
of tests/interop/wireshark/test_wireshark.py, with ``TvbRange:uint()`` returning integers and then floats (Wireshark
builds differ; floats are the worst case for Lua 5.3+ integer/float mix-ups such as "x" .. 2.0 ==
"x2.0").  The expert texts must be exactly the codec's DecodeError / Finding texts.  Needs the
``lua5.4`` interpreter (Debian package lua5.4): skipped, and says so, when it is missing.
"""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from codec import DecodeError, mikey
from tests.support.wireshark_plugin import PLUGIN, all_messages, malformed

LUA = shutil.which("lua5.4")

STUB = r"""-- Minimal Wireshark API stand-in to run the plugin under plain Lua 5.4 (uint() returns floats,
-- the worst case for integer/float mix-ups).
local FLOATS = os.getenv("FLOATS") == "1"
ftypes = {PROTOCOL = 1}; base = {DEC = 1, HEX = 2, UTC = 3}
expert = {group = {MALFORMED = 1, PROTOCOL = 2, UNDECODED = 3}, severity = {ERROR = 1, WARN = 2}}
local function pf(kind) return function(abbr, name, ...) return {abbrev = abbr, name = name, kind = kind} end end
ProtoField = {uint8 = pf"u", uint16 = pf"u", uint24 = pf"u", uint32 = pf"u", uint64 = pf"u",
  bool = pf"b", bytes = pf"x", string = pf"s", none = pf"n", absolute_time = pf"t", double = pf"d",
  new = function(name, abbr, t) return {abbrev = abbr, name = name, kind = "p"} end}
ProtoExpert = {new = function(abbr) return {abbrev = abbr} end}
Pref = {uint = function(_, d) return d end, bool = function(_, d) return d end,
        string = function(_, d) return d end}
PREFS = {}
UInt64 = {new = function(lo, hi) assert(lo >= 0 and lo < 2^32 and hi >= 0); return {lo, hi} end}
local B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
ByteArray = {new = function(s, raw) return {base64_decode = function()
  local bits = s:gsub("[^%w+/]", ""):gsub(".", function(c)
    local n, out = B64:find(c, 1, true) - 1, ""
    for i = 5, 0, -1 do out = out .. ((n >> i) & 1) end
    return out end)
  local out = bits:gsub("%d%d%d%d%d%d%d%d", function(b) return string.char(tonumber(b, 2)) end)
  out = out:sub(1, math.floor(#bits / 8))
  return {raw = function() return out end} end} end}
function Proto(name) return {name = name, prefs = PREFS} end
Proto = setmetatable({new = function(name) return {name = name, prefs = PREFS} end}, {__call = function(_, n) return {name = n, prefs = PREFS} end})
DissectorTable = {get = function() return {add = function() end} end}
Field = {new = function() return function() return nil end end}
function register_postdissector() end
NSTime = {new = function(s, ns) assert(math.type(s) == "integer" or s == math.floor(s)); return {s, ns} end}
OUT = {}
local Tvb = {}
Tvb.__index = Tvb
Tvb.__call = function(self, off, len)
  assert(off >= 0 and len >= 0 and off + len <= #self.s, "range out of bounds")
  return setmetatable({s = self.s, off = off, len = len}, {__index = {
    uint = function(r) assert(r.len <= 4); local v = 0
      for i = 1, r.len do v = v * 256 + r.s:byte(r.off + i) end
      if FLOATS then return v + 0.0 end return v end,
    raw = function(r) return r.s:sub(r.off + 1, r.off + r.len) end,
    bytes = function(r) return setmetatable({}, {__tostring = function()
      return (r.s:sub(r.off + 1, r.off + r.len):gsub(".", function(c)
        return string.format("%02X", c:byte()) end)) end}) end}})
end
function Tvb:len() return #self.s end
local Item = {}
Item.__index = Item
local function item() return setmetatable({}, Item) end
function Item:add(f, r, v)
  if type(f) == "table" and f.abbrev then OUT[#OUT + 1] = "F " .. f.abbrev end
  return item()
end
function Item:add_tvb_expert_info(ex, r, msg) OUT[#OUT + 1] = "E " .. ex.abbrev .. " " .. msg; return item() end
function Item:append_text() return self end
function Item:set_len() return self end
function Item:set_generated() return self end
local cols = setmetatable({}, {__index = function() return {set = function() end, append = function() end} end,
                               __newindex = function() end})
return function(hex)
  local s = hex:gsub("%x%x", function(h) return string.char(tonumber(h, 16)) end)
  local tvb = setmetatable({s = s}, Tvb)
  OUT = {}
  return tvb, {cols = cols}, item()
end
"""

RUN = r"""local make = dofile(arg[3])
local src = io.open(arg[1]):read("a")
src = src:gsub("local proto = Proto.new", "proto_global = nil\nlocal proto = Proto.new")
src = src .. "\nreturn proto\n"
local proto = assert(load(src, "plugin"))()
PREFS.keylog_file = os.getenv("KEYLOG") or ""
PREFS.show_secrets = os.getenv("KEYLOG") ~= nil
for line in io.lines(arg[2]) do
  local tvb, pinfo, tree = make(line)
  proto.dissector(tvb, pinfo, tree)
  local e = {}
  for _, o in ipairs(OUT) do
    if o:sub(1, 2) == "E " or (os.getenv("KEYLOG") and o:find("F mikey.3gpp.", 1, true)) then
      e[#e + 1] = o
    end
  end
  print(table.concat(e, "\t"))
end
"""


@pytest.mark.skipif(LUA is None, reason="lua5.4 is not installed (apt-get install lua5.4)")
@pytest.mark.parametrize("floats", ["0", "1"])
def test_plugin_runs_under_lua_5_4(tmp_path, floats):
    wires = all_messages() + malformed()
    (tmp_path / "stub.lua").write_text(STUB)
    (tmp_path / "run.lua").write_text(RUN)
    (tmp_path / "in.txt").write_text("\n".join(w.hex() for w in wires) + "\n")
    r = subprocess.run([LUA, str(tmp_path / "run.lua"), str(PLUGIN), str(tmp_path / "in.txt"),
                        str(tmp_path / "stub.lua")], capture_output=True, text=True,
                       env={**os.environ, "FLOATS": floats}, timeout=120)
    assert r.returncode == 0, r.stderr[-3000:]
    lines = r.stdout.split("\n")
    assert len(lines) >= len(wires)
    for i, (wire, line) in enumerate(zip(wires, lines)):
        got = sorted(x for x in line.split("\t") if x and not x.startswith("E mikey.expert.embedded"))
        try:
            msg = mikey.decode(wire)
        except DecodeError as e:
            malformed_ = [x for x in got if x.startswith("E mikey.expert.malformed")]
            assert malformed_ == ["E mikey.expert.malformed " + str(e)], f"message {i}: {got}"
        else:
            assert got == sorted("E mikey.expert.finding " + str(f) for f in msg.findings), \
                f"message {i}: {got}"


@pytest.mark.skipif(LUA is None, reason="lua5.4 is not installed (apt-get install lua5.4)")
@pytest.mark.parametrize("floats", ["0", "1"])
def test_keylog_path_under_lua_5_4(tmp_path, floats):
    """The keylog preference's code (parsing, octet matching, key parameters) under Lua 5.4."""
    from pathlib import Path

    from dissectors.cli import main

    pcaps = Path(__file__).resolve().parents[3] / "pcaps"
    keylog = tmp_path / "group-call.keylog"
    assert main(["keylog", str(pcaps / "group-call.pcapng"), "--keys",
                 str(pcaps / "keyring.toml"), "-o", str(keylog)]) == 0
    octets = [ln.split("octets=")[1] for ln in keylog.read_text().splitlines()
              if ln.startswith("MSG ")]
    assert octets
    (tmp_path / "stub.lua").write_text(STUB)
    (tmp_path / "run.lua").write_text(RUN)
    (tmp_path / "in.txt").write_text("\n".join(octets) + "\n")
    r = subprocess.run([LUA, str(tmp_path / "run.lua"), str(PLUGIN), str(tmp_path / "in.txt"),
                        str(tmp_path / "stub.lua")], capture_output=True, text=True,
                       env={**os.environ, "FLOATS": floats, "KEYLOG": str(keylog)}, timeout=120)
    assert r.returncode == 0, r.stderr[-3000:]
    lines = r.stdout.split("\n")[:len(octets)]
    for line in lines:
        got = line.split("\t")
        assert "F mikey.3gpp.key_type" in got and "F mikey.3gpp.crypto_sessions" in got, got
        assert not [x for x in got if x.startswith("E mikey.expert.")], got
    assert any("F mikey.3gpp.kp.text" in line.split("\t") for line in lines)
