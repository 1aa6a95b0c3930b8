local function fmt_int(x) return string.format("%d", x) end

proto.prefs.tls_prot_type = Pref.uint("TLS Prot type", DEFAULT_TLS_PROT_TYPE,
  "Prot type number of a TLS crypto session in the GENERIC-ID map (seed 004 Annex X: 'TBD'; " ..
  "mcsec uses the first private-use value until IANA assigns one)")
proto.prefs.show_secrets = Pref.bool("Show key material", false,
  "Show the key data of NULL-encrypted KEMACs and KEY_DATA keys and salts (hidden otherwise)")
proto.prefs.keylog_file = Pref.string("mcsec keylog file", "",
  "A file written by `mcsec keylog`: for the MIKEY messages it lists, show the signature " ..
  "verification, key type and IDs, decrypted key parameters and session keys (secrets only " ..
  "with 'Show key material')")
proto.prefs.max_clock_skew = Pref.string("Maximum clock skew (seconds)", "-1",
  "Flag a MIKEY message whose T payload is further than this from the capture time " ..
  "(RFC 3830 §5.4, as mcsec dissect --max-clock-skew, whose default is 300; negative or " ..
  "empty: not checked, the default here)")
proto.prefs.media_level = Pref.bool("Decode media-level a=key-mgmt", true,
  "Decode a=key-mgmt:mikey lines inside SDP media descriptions (Wireshark's SDP dissector " ..
  "hands only session-level ones to MIKEY)")

local EX = {
  malformed = ProtoExpert.new("mikey.expert.malformed", "Malformed MIKEY structure",
                              expert.group.MALFORMED, expert.severity.ERROR),
  finding = ProtoExpert.new("mikey.expert.finding", "MIKEY finding",
                            expert.group.PROTOCOL, expert.severity.WARN),
  embedded = ProtoExpert.new("mikey.expert.embedded", "Embedded payload chain does not decode",
                             expert.group.MALFORMED, expert.severity.WARN),
  keylog = ProtoExpert.new("mikey.expert.keylog", "mcsec keylog file problem",
                           expert.group.UNDECODED, expert.severity.WARN),
}
proto.experts = {EX.malformed, EX.finding, EX.embedded, EX.keylog}

-- The protocol item: an FT_PROTOCOL field named "mikey" gives tshark's JSON a "mikey" layer,
-- as the built-in dissector does.  Fall back to the plugin's own protocol item if refused.
local proto_field_ok, proto_field = pcall(ProtoField.new, "Multimedia Internet KEYing", "mikey",
                                          ftypes.PROTOCOL)
local field_list = {}
for _, f in pairs(F) do field_list[#field_list + 1] = f end
if proto_field_ok then field_list[#field_list + 1] = proto_field end
proto.fields = field_list

-- A tree that swallows everything: the dry runs (quirk detection, embedded chains) use it.
local NULLTREE = {}
setmetatable(NULLTREE, {__index = function() return function() return NULLTREE end end})

local function prot_type_name(x)
  if x == proto.prefs.tls_prot_type then return "TLS (seed 004 Annex X; number configurable)" end
  return PROT_TYPES[x]
end

local function prot_label(item, x)
  local name = prot_type_name(x)
  if name then item:append_text(" (" .. name .. ")") end
end

-- Errors say what codec.DecodeError says: "<path> at offset <n>: <reason>".
local function fail(st, tree, path, off, reason)
  local msg = string.format("%s at offset %d: %s", path, off - st.base, reason)
  if st.error == nil then st.error = msg end
  local len = st.limit - off
  if len < 0 then len = 0 end
  tree:add_tvb_expert_info(EX.malformed, st.tvb(off, len), msg)
  return nil
end

local function finding(st, tree, path, off, text, len)
  local msg = string.format("%s at offset %d: %s", path, off - st.base, text)
  st.findings[#st.findings + 1] = msg
  tree:add_tvb_expert_info(st.finding_expert or EX.finding, st.tvb(off, len or 0), msg)
end

local function reject(st, tree, path, sel, sel_off, what, key)
  return fail(st, tree, path .. "." .. sel, sel_off,
              string.format("unknown %s %d: the rest of the payload cannot be parsed", what, key))
end

local function need(st, tree, path, off, n)
  if off + n > st.limit then
    fail(st, tree, path, off, string.format("needs %d octet(s), %d left", n, st.limit - off))
    return false
  end
  return true
end

-- An integer field of n octets (value kept in v[name] when n <= 4).
local function U(st, tree, v, name, path, off, n, fld)
  if not need(st, tree, path, off, n) then return nil end
  local r = st.tvb(off, n)
  if v ~= nil then
    if n <= 4 then v[name] = r:uint() else v[name] = -1 end
  end
  return off + n, tree:add(fld, r)
end

-- A bit-field group: members are {name, field, 2^shift, 2^width}.
local function BITS(st, tree, v, path, off, nbytes, members)
  if not need(st, tree, path, off, nbytes) then return nil end
  local r = st.tvb(off, nbytes)
  local g = r:uint()
  for _, m in ipairs(members) do
    v[m[1]] = math.floor(g / m[3]) % m[4]
    tree:add(m[2], r)
  end
  return off + nbytes
end

local function BYTES(st, tree, v, name, path, off, n, fld, secret, label)
  if not need(st, tree, path, off, n) then return nil end
  v[name] = {off = off, len = n}
  if secret and n > 0 and not proto.prefs.show_secrets then
    tree:add(st.tvb(off, n), label .. ": <hidden> (" .. fmt_int(n) ..
             " octets; enable the 'Show key material' preference)")
  else
    tree:add(fld, st.tvb(off, n))
  end
  return off + n
end

-- Identities: text when the octets are printable UTF-8, else the <key>_hex field (binary UIDs).
local function printable_utf8(s)
  local i, n = 1, #s
  while i <= n do
    local b = s:byte(i)
    if b >= 0x20 and b < 0x7F then
      i = i + 1
    else
      local len, min
      if b >= 0xC2 and b <= 0xDF then len, min = 2, 0x80
      elseif b >= 0xE0 and b <= 0xEF then len, min = 3, 0x800
      elseif b >= 0xF0 and b <= 0xF4 then len, min = 4, 0x10000
      else return false end
      if i + len - 1 > n then return false end
      local cp = b % (2 ^ (7 - len))
      for j = 1, len - 1 do
        local cb = s:byte(i + j)
        if cb < 0x80 or cb > 0xBF then return false end
        cp = cp * 64 + (cb - 0x80)
      end
      if cp < min or cp > 0x10FFFF or (cp >= 0xD800 and cp <= 0xDFFF) or cp < 0xA0 then
        return false
      end
      i = i + len
    end
  end
  return true
end

local function TEXT(st, tree, v, name, path, off, n, fld, hexfld)
  if not need(st, tree, path, off, n) then return nil end
  v[name] = {off = off, len = n}
  local r = st.tvb(off, n)
  local s = ""
  if n > 0 then s = r:raw() end
  if printable_utf8(s) then tree:add(fld, r, s) else tree:add(hexfld, r) end
  return off + n
end

local PACKED -- SP policy parameters, defined with the structures

-- CS ID map entries: spec = {dissect function, entry field, derived view}
local function ENTRIES(st, tree, v, path, off, count, spec)
  for i = 0, count - 1 do
    local item = tree
    if spec[2] then item = tree:add(spec[2], st.tvb(off, 0)) end
    local ev = {_parent = v}
    local noff = spec[1](st, off, item, path .. "[" .. fmt_int(i) .. "]", ev)
    if not noff then return nil end
    item:set_len(noff - off)
    if spec[3] then spec[3](st, item, ev, path .. "[" .. fmt_int(i) .. "]") end
    off = noff
  end
  return off
end
