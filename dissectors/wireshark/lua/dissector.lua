local function sub_state(st, off, len, finding_expert)
  return {tvb = st.tvb, base = off, limit = off + len, findings = {},
          finding_expert = finding_expert or st.finding_expert}
end

-- ---------------------------------------------------------------------------------------------
-- issue 10 item 4: verdicts and secrets from a file written by `mcsec keylog`
-- (dissectors/keylog.py).  A message is found by its exact octets (the keylog's MSG line; Lua
-- has no SHA-256), then its MIKEY, SRTP (mid=) and TEK lines by the message-id.
local KEYLOG = {}

local function keylog_line(line)
  local tokens = {}
  for t in line:gmatch("%S+") do tokens[#tokens + 1] = t end
  local kv = {}
  for i = 3, #tokens do
    local k, val = tokens[i]:match("^([^=]+)=(.*)$")
    if k then kv[k] = val end
  end
  return tokens[1], tokens[2], kv
end

local function load_keylog()
  local path = proto.prefs.keylog_file or ""
  if KEYLOG.path == path then return KEYLOG end
  KEYLOG = {path = path, by_octets = {}, any = false}
  if path == "" then return KEYLOG end
  local f, err = io.open(path, "r")
  if not f then KEYLOG.error = "cannot read " .. tostring(err); return KEYLOG end
  local msgs = {}
  local function entry(mid)
    local e = msgs[mid]
    if e == nil then
      e = {srtp = {}, srtp_seen = {}, tek = {}, tek_seen = {}, keydata = {kemac = {}, ticket = {}}}
      msgs[mid] = e
    end
    return e
  end
  for line in f:lines() do
    line = line:gsub("\r$", "")
    if line:sub(1, 1) ~= "#" then
      local kind, id, kv = keylog_line(line)
      if id ~= nil then
        if kind == "MSG" and kv.octets then
          entry(id).octets = kv.octets:lower()
        elseif kind == "MIKEY" then
          entry(id).mikey = kv
        elseif kind == "SRTP" and kv.mid then
          local e = entry(kv.mid)
          kv.mki = id
          local k = id .. "/" .. tostring(kv.cs)
          if not e.srtp_seen[k] then e.srtp_seen[k] = true; e.srtp[#e.srtp + 1] = kv end
        elseif kind == "TEK" then
          local e = entry(id)
          local k = tostring(kv.cs) .. "/" .. tostring(kv.spi)
          if not e.tek_seen[k] then e.tek_seen[k] = true; e.tek[#e.tek + 1] = kv end
        elseif kind == "TICKET" then
          entry(id).ticket = kv
        elseif kind == "KEYDATA" and entry(id).keydata[kv["in"]] then
          local n = tonumber(kv.n)
          if n then entry(id).keydata[kv["in"]][n + 1] = kv end
        end
      end
    end
  end
  f:close()
  for _, e in pairs(msgs) do
    if e.octets then KEYLOG.by_octets[e.octets] = e; KEYLOG.any = true end
  end
  return KEYLOG
end

local function keylog_for(tvb, pinfo, tree, off, len)
  local kl = load_keylog()
  if kl.error then
    tree:add_tvb_expert_info(EX.keylog, tvb(off, 0), "mcsec keylog " .. kl.path .. ": " .. kl.error)
    return nil
  end
  if not kl.any or len == 0 then return nil end
  return kl.by_octets[string.lower(tostring(tvb(off, len):bytes()))]
end

local function gen(item) item:set_generated(); return item end

local function secret(hex)
  if hex == nil then return nil end
  if proto.prefs.show_secrets then return hex:lower() end
  return "<hidden>"
end

local function b64text(b64)
  if b64 == nil or b64 == "" then return "" end
  local ok, s = pcall(function() return ByteArray.new(b64, true):base64_decode():raw() end)
  if ok then return s end
  return ""
end

local function u64(n)
  return UInt64.new(n % 4294967296, math.floor(n / 4294967296))
end

-- HDR: key type and IDs (render_sakke.py puts them on mikey.hdr)
local function keylog_hdr(st, item)
  local m = st.keylog.mikey
  if m == nil then return end
  local r = st.tvb(st.base, 0)
  if m.type then gen(item:add(F["mikey.3gpp.key_type"], r, m.type)) end
  if m.id then gen(item:add(F["mikey.3gpp.key_id"], r, tonumber(m.id, 16))) end
  if m.guk then gen(item:add(F["mikey.3gpp.guk_id"], r, tonumber(m.guk, 16))) end
  if m.period then gen(item:add(F["mikey.3gpp.period"], r, tonumber(m.period))) end
  if m.sender_uid then gen(item:add(F["mikey.3gpp.sender_uid"], r, m.sender_uid:lower())) end
  if m.receiver_uid then gen(item:add(F["mikey.3gpp.receiver_uid"], r, m.receiver_uid:lower())) end
  if m.period_no then gen(item:add(F["mikey.3gpp.period_no"], r, tonumber(m.period_no))) end
  if m.sender_uri_b64 then gen(item:add(F["mikey.3gpp.sender_uri"], r, b64text(m.sender_uri_b64))) end
  if m.receiver_uri_b64 then gen(item:add(F["mikey.3gpp.receiver_uri"], r, b64text(m.receiver_uri_b64))) end
end

local function keylog_key_params(st, item, m, off)
  local r = st.tvb(off, 0)
  local kp = gen(item:add(F["mikey.3gpp.key_params"], r))
  for _, row in ipairs(KP_FIELDS) do
    local val = m[row[1]]
    if val ~= nil then
      if row[3] == "b64" then gen(kp:add(row[2], r, b64text(val)))
      elseif row[3] == "hex" then gen(kp:add(row[2], r, val:lower()))
      elseif row[3] == "u64" then gen(kp:add(row[2], r, u64(tonumber(val))))
      else gen(kp:add(row[2], r, tonumber(val))) end
    end
  end
  if m["kp.group_id_list_b64"] then
    for g in m["kp.group_id_list_b64"]:gmatch("[^,]+") do
      gen(kp:add(F["mikey.3gpp.kp.group_id_list"], r, b64text(g)))
    end
  end
  if m["kp.legacy"] then gen(kp:add(F["mikey.3gpp.kp.legacy"], r, m["kp.legacy"] == "1")) end
end

local function add_flag(item, key, r, val)
  if val ~= nil then gen(item:add(F[key], r, val == "1")) end
end

local function add_text(item, key, r, b64)
  if b64 ~= nil then gen(item:add(F[key], r, b64text(b64))) end
end

local function add_list(item, key, r, b64s)
  if b64s == nil then return end
  for x in b64s:gmatch("[^,]+") do gen(item:add(F[key], r, b64text(x))) end
end

-- decrypted Key data sub-payloads (RFC 3830 §6.13) of a KEMAC or ticket: one subtree each
local function keylog_keydata(item, key, r, list)
  for _, kd in ipairs(list) do
    local t = gen(item:add(F[key], r))
    for _, row in ipairs(KEYDATA_FIELDS) do
      local val = kd[row[1]]
      if val ~= nil then
        if row[3] == "hex" then
          if proto.prefs.show_secrets or not row[4] then  -- a hidden secret: no value at all
            -- FT_BYTES take their value from the range: a data source of the decrypted octets
            local ok, kt = pcall(function() return ByteArray.new(val):tvb("Decrypted key data") end)
            if ok and kt then gen(t:add(row[2], kt(0, kt:len()))) end
          end
        else gen(t:add(row[2], r, tonumber(val))) end
      end
    end
  end
end

local function keylog_payload(st, item, name, v, off)
  local m = st.keylog.mikey or {}
  local tk = st.keylog.ticket or {}
  local r = st.tvb(off, 0)
  if name == "SIGN" then
    add_flag(item, "mikey.sign.verified", r, m.verified)
    if m.region then gen(item:add(F["mikey.sign.region"], r, m.region)) end
    add_text(item, "mikey.sign.error", r, m.sign_error_b64)
  elseif name == "SAKKE" then
    if m.ssv then gen(item:add(F["mikey.sakke.ssv"], r, secret(m.ssv))) end
    add_text(item, "mikey.sakke.error", r, m.sakke_error_b64)
    add_flag(item, "mikey.sakke.unverified", r, m.unverified)
  elseif name == "GEN_EXT" and v.type == 7 then
    if m["kp.key_type"] then keylog_key_params(st, item, m, off) end
    add_text(item, "mikey.3gpp.key_params_error", r, m.kp_error_b64)
  elseif name == "KEMAC" then
    add_flag(item, "mikey.kemac.verified", r, tk.kemac_verified)
    add_text(item, "mikey.kemac.error", r, tk.kemac_error_b64)
    keylog_keydata(item, "mikey.kemac.keys", r, st.keylog.keydata.kemac)
  elseif name == "V" then
    add_flag(item, "mikey.v.verified", r, tk.v_verified)
    add_text(item, "mikey.v.error", r, tk.v_error_b64)
  elseif name == "TICKET" then
    add_flag(item, "mikey.ticket.verified", r, tk.ticket_verified)
    add_text(item, "mikey.ticket.error", r, tk.ticket_error_b64)
    add_text(item, "mikey.ticket.tpk_identity", r, tk.tpk_identity_b64)
    for _, k in ipairs({"mpk", "mpk_i", "mpk_r"}) do
      if tk[k] then gen(item:add(F["mikey.ticket." .. k], r, secret(tk[k]))) end
    end
    keylog_keydata(item, "mikey.ticket.keys", r, st.keylog.keydata.ticket)
  end
end

-- top level: SRTP master key and salt per crypto session, TEKs (mikey.3gpp.crypto_sessions,
-- mikey.ticket.session_keys)
local function keylog_top(st, top)
  local e = st.keylog
  local r = st.tvb(st.base, 0)
  for _, s in ipairs(e.srtp) do
    local t = gen(top:add(F["mikey.3gpp.crypto_sessions"], r))
    t:append_text(": CS " .. tostring(s.cs) .. ", MKI " .. s.mki)
    gen(t:add(F["mikey.3gpp.cs_id"], r, tonumber(s.cs)))
    gen(t:add(F["mikey.3gpp.mki"], r, s.mki:lower()))
    if s.key then gen(t:add(F["mikey.3gpp.srtp_master_key"], r, secret(s.key))) end
    if s.salt then gen(t:add(F["mikey.3gpp.srtp_master_salt"], r, secret(s.salt))) end
    add_text(t, "mikey.3gpp.cs_use", r, s.use_b64)
  end
  for _, k in ipairs(e.tek) do
    local t = gen(top:add(F["mikey.ticket.session_keys"], r))
    t:append_text(": CS " .. tostring(k.cs))
    gen(t:add(F["mikey.ticket.cs_id"], r, tonumber(k.cs)))
    if k.spi then gen(t:add(F["mikey.ticket.spi"], r, k.spi:lower())) end
    if k.prot then gen(t:add(F["mikey.ticket.prot_type"], r, tonumber(k.prot))) end
    if k.tek then gen(t:add(F["mikey.ticket.tek"], r, secret(k.tek))) end
    if k.salt then gen(t:add(F["mikey.ticket.salt"], r, secret(k.salt))) end
    if k.tls_psk_identity_b64 then
      gen(t:add(F["mikey.ticket.tls_psk"], r, secret(k.tek)))
      gen(t:add(F["mikey.ticket.tls_psk_identity"], r, b64text(k.tls_psk_identity_b64)))
    end
  end
  local tk = e.ticket or {}
  add_text(top, "mikey.ticket.error", r, tk.error_b64)
  if tk.replay then gen(top:add(F["mikey.ticket.replay"], r, tk.replay)) end
  add_list(top, "mikey.ticket.notes", r, tk.notes_b64)
  add_list(top, "mikey.3gpp.notes", r, (e.mikey or {}).notes_b64)
end

-- RFC 3830 §6.10: SP policy parameters are a TLV list (SRTP: named by type, RFC 3830 §6.10.1).
PACKED = function(st, tree, v, name, path, off, n, fld, sub)
  if not need(st, tree, path, off, n) then return nil end
  v[name] = {off = off, len = n}
  -- dry run first: a list that is not a TLV list is kept as octets for unknown protocols
  local probe = {tvb = st.tvb, base = st.base, limit = off + n, findings = {}}
  local pos, i = off, 0
  while pos < off + n do
    local r = sub(probe, pos, NULLTREE, path .. "[" .. fmt_int(i) .. "]", {})
    if not r then break end
    pos, i = r, i + 1
  end
  if probe.error then
    if v.prot_type ~= 0 then
      tree:add(fld, st.tvb(off, n))
      finding(st, tree, path, off, "policy parameters are not a TLV list; kept as octets", n)
      return off + n
    end
  end
  pos, i = off, 0
  local limit = st.limit
  st.limit = off + n
  while pos < off + n do
    local item = tree:add(fld, st.tvb(pos, 0))
    local pv = {}
    local r = sub(st, pos, item, path .. "[" .. fmt_int(i) .. "]", pv)
    if not r then st.limit = limit; return nil end
    item:set_len(r - pos)
    local named = SRTP_PARAM_FIELDS[pv.type]
    if v.prot_type == 0 and named and pv.value.len == 1 then
      item:add(named, st.tvb(pv.value.off, 1))
    end
    pos, i = r, i + 1
  end
  st.limit = limit
  return off + n
end

-- RFC 6043 §6.1.1: SRTP Session Data of a GENERIC-ID entry (SSRC; ROC and SEQ when S = 1)
DERIVED.GENERIC_ID = function(st, item, ev, path)
  -- seed 004 Annex X.1: a TLS crypto session has S = 0, #P = 0 and no session data
  if ev.prot_type == proto.prefs.tls_prot_type and
     (ev.s ~= 0 or ev.n_p ~= 0 or (ev.session_data and ev.session_data.len > 0)) then
    local hv = ev._parent
    hv.tls_check = hv.tls_check or {}
    hv.tls_check[#hv.tls_check + 1] = {path, ev._off.cs_id, "TLS crypto session should have " ..
      "S = 0, #P = 0 and no session data (seed 004 Annex X.1)", 0}
  end
  local sd = ev.session_data
  local want = 4
  if ev.s == 1 then want = 10 end
  if ev.prot_type ~= 0 or sd == nil or sd.len ~= want then return end
  local t = item:add(F["mikey.generic_id.srtp"], st.tvb(sd.off, sd.len))
  local sub = sub_state(st, sd.off, sd.len)
  D.SRTP_SESSION_DATA(sub, sd.off, t, "session_data", {_parent = ev})
end

-- NTP timestamps (RFC 3830 §6.6; era per RFC 4330 §3) as tshark shows them
local NTP_UNIX_OFFSET = 2208988800
local function ntp_time(st, tree, fld, off)
  local secs = st.tvb(off, 4):uint()
  local frac = st.tvb(off + 4, 4):uint()
  if secs < 2147483648 then secs = secs + 4294967296 end
  local hi, lo = math.floor(frac / 65536), frac % 65536
  local nanos = math.floor((hi * 1000000000 + math.floor(lo * 1000000000 / 65536)) / 65536)
  tree:add(fld, st.tvb(off, 8), NSTime.new(secs - NTP_UNIX_OFFSET, nanos))
end

local dissect_chain -- forward

-- A payload chain inside a payload (RFC 6043 TP Data, Ticket Data, Initiator Data).
local function embedded(st, tree, key, loc, first_type, lead)
  if loc == nil or loc.len == 0 then return end
  local function attempt(t)
    local sub = sub_state(st, loc.off, loc.len, EX.embedded)
    local off, np, np_path, np_off = loc.off, first_type, "first_payload", loc.off
    if lead then
      local item = t:add(F["mikey.thdr"], st.tvb(off, 0))
      local lv = {}
      local r = D.THDR(sub, off, item, "THDR", lv)
      if not r then return sub end
      item:set_len(r - off)
      np, np_path, np_off, off = lv.next_payload, "THDR.next_payload", loc.off, r
    elseif np == nil then
      np, off = st.tvb(loc.off, 1):uint(), loc.off + 1
    end
    local r = dissect_chain(sub, off, t, np, np_path, np_off, "payloads")
    if r and r < sub.limit and sub.error == nil then
      fail(sub, t, "trailing", r, string.format("%d octet(s) after the last payload", sub.limit - r))
    end
    return sub
  end
  local probe = attempt(NULLTREE)
  local t = tree:add(F[key], st.tvb(loc.off, loc.len))
  if probe.error then
    t:add(F["mikey.decode_error"], st.tvb(loc.off, loc.len), probe.error)
    t:add_tvb_expert_info(EX.embedded, st.tvb(loc.off, loc.len), "Embedded payload chain: " .. probe.error)
  else
    attempt(t)
  end
end

-- RFC 3830 §6.13: Key data sub-payloads in the Encr data of a NULL-encrypted KEMAC
local function key_data_chain(st, tree, loc)
  if loc == nil or loc.len == 0 then return end
  local function attempt(t)
    local sub = sub_state(st, loc.off, loc.len)
    local off, i = loc.off, 0
    while true do
      local item = t:add(F["mikey.key"], st.tvb(off, 0))
      local kv = {}
      local r = D.KEY_DATA(sub, off, item, "key_data[" .. fmt_int(i) .. "]", kv)
      if not r then return false end
      item:set_len(r - off)
      off, i = r, i + 1
      if kv.next_payload ~= 20 or off >= sub.limit then break end
    end
    return off == sub.limit
  end
  if attempt(NULLTREE) then attempt(tree) end
end

local function derived_payload(st, item, name, v, path)
  if (name == "T" or name == "TR") and (v.ts_type == 0 or v.ts_type == 1) then
    if name == "T" then ntp_time(st, item, F["mikey.t.ntp"], v._off.ts_value)
    else ntp_time(st, item, F["mikey.tr.ntp"], v._off.ts_value) end
  end
  if name == "KEMAC" and v.encr_alg == 0 then key_data_chain(st, item, v.encr_data) end
  if name == "TP" then embedded(st, item, "mikey.tp.payloads", v.tp_data, nil, false) end
  if name == "TICKET" then
    embedded(st, item, "mikey.ticket.tp_payloads", v.tp_data, nil, false)
    if v.ticket_type == 1 and v.subtype == 1 then  -- RFC 6043 Appendix A
      embedded(st, item, "mikey.ticket.payloads", v.ticket_data, nil, true)
    end
    embedded(st, item, "mikey.ticket.initiator_payloads", v.initiator_data, nil, false)
  end
end

local function check_payload(st, item, name, v, path, off)
  if name == "SIGN" and v.s_type == 2 and v.signature.len ~= ECCSI_SIGNATURE_LEN then
    finding(st, item, path .. ".signature", off + 2, string.format(
      "ECCSI signature is %d octets, RFC 6507 needs %d (r, s, PVT); TS 33.180's '32' is a known error",
      v.signature.len, ECCSI_SIGNATURE_LEN), v.signature.len)
  end
  if name == "KEMAC" and KEMAC_ENCR_ALGS[v.encr_alg] == nil then
    finding(st, item, path .. ".encr_alg", off + 1,
            string.format("unknown KEMAC encryption algorithm %d", v.encr_alg), 1)
  end
end

-- RFC 3830 §6: payloads follow each other while Next Payload is not 0; SIGN is always last.
dissect_chain = function(st, off, tree, np, np_path, np_off, prefix)
  local index = 0
  while np ~= 0 do
    local pd = PAYLOADS[np]
    if pd == nil then
      return fail(st, tree, np_path, np_off, string.format(
        "unknown payload type %d: the rest of the message cannot be parsed", np))
    end
    local path = prefix .. "[" .. fmt_int(index) .. "](" .. pd.name .. ")"
    if off >= st.limit then
      return fail(st, tree, path, off, "data ends where " .. np_path .. " announces a " ..
                  pd.name .. " payload")
    end
    local item = tree:add(F[pd.json], st.tvb(off, 0))
    local v = {}
    local r = pd.fn(st, off, item, path, v)
    if not r then
      item:set_len(st.limit - off)
      return nil
    end
    item:set_len(r - off)
    check_payload(st, item, pd.name, v, path, off)
    derived_payload(st, item, pd.name, v, path)
    if st.keylog then keylog_payload(st, item, pd.name, v, off) end
    if pd.name == "T" and not st.has_t and (v.ts_type == 0 or v.ts_type == 1) then
      st.t_off = v._off.ts_value  -- the first T, NTP-UTC or NTP (RFC 3830 §6.6)
    end
    if pd.name == "T" then st.has_t = true end
    if pd.name == "RAND" then st.has_rand = true end
    if np == 4 then return r end
    np, np_path, np_off = v.next_payload, path .. ".next_payload", off
    off, index = r, index + 1
  end
  return off
end

-- One MIKEY message (RFC 3830 §6.1 header, then the payload chain).
local function decode_message(st, tree, padded)
  local item = tree:add(F["mikey.hdr"], st.tvb(st.base, 0))
  local hv = {}
  local off = D.HDR(st, st.base, item, "HDR", hv)
  if not off then item:set_len(st.limit - st.base); return hv end
  item:set_len(off - st.base)
  st.hdr = hv
  if st.keylog then keylog_hdr(st, item) end
  if padded then
    tree:add(F["mikey.hdr_padding"], st.tvb(off, 2))
    finding(st, tree, "hdr_padding", off, "2 zero octets after the Empty CS ID map (wolfSSL quirk)", 2)
    off = off + 2
  end
  local r = dissect_chain(st, off, tree, hv.next_payload, "HDR.next_payload", st.base + 2, "payloads")
  if r and r < st.limit then
    st.trailing = st.limit - r
    if padded then
      fail(st, tree, "trailing", r, string.format("%d octet(s) after the last payload", st.limit - r))
    else
      tree:add(F["mikey.trailing"], st.tvb(r, st.limit - r))
      local note = ""
      if st.limit - r == 1 and st.tvb(r, 1):uint() == 0 then
        note = " (a single 0x00, as Milestone XProtect sends)"
      end
      finding(st, tree, "trailing", r, string.format("%d octet(s) after the last payload%s",
              st.limit - r, note), st.limit - r)
    end
  end
  -- seed 004 Annex X.1: a TLS crypto session has S = 0, #P = 0 and no session data
  if st.error == nil and hv.cs_id_map_type == 2 and hv.tls_check then
    for _, c in ipairs(hv.tls_check) do finding(st, item, c[1], c[2], c[3], c[4]) end
  end
  return hv
end

local function new_state(tvb, off, len)
  return {tvb = tvb, base = off, limit = off + len, findings = {}}
end

-- RFC 3830 §5.4 for every I_MESSAGE, as mcsec dissect (dissectors/session.py): the same
-- I_MESSAGE (data type, CSB ID, RAND, T — and octets) delivered again to the same host is
-- a replay of the frame it first came in; a copy inside the same frame is not.
local I_MESSAGE_TYPES = {}
for _, t in ipairs({0, 2, 4, 7, 9, 11, 12, 14, 16, 17, 26}) do I_MESSAGE_TYPES[t] = true end
local SEEN, SEEN_RESULT = {}, {}  -- (host, octets) -> first frame; (frame, host, octets) -> result

local function replay_and_skew(st, pinfo, top, hv, off, len)
  local r = st.tvb(off, 0)
  if I_MESSAGE_TYPES[hv.data_type] and st.has_t and st.has_rand then
    local key = tostring(pinfo.dst) .. "|" .. tostring(st.tvb(off, len):bytes())
    local rkey = tostring(pinfo.number) .. "|" .. key
    local first
    if not pinfo.visited then
      first = SEEN[key]
      if first == nil then SEEN[key] = pinfo.number end
      if first == pinfo.number then first = nil end
      SEEN_RESULT[rkey] = first or false
    else
      first = SEEN_RESULT[rkey] or nil
    end
    if first then gen(top:add(F["mikey.replay"], r, first)) end
  end
  local limit = tonumber(proto.prefs.max_clock_skew)
  if st.t_off and limit and limit >= 0 then
    local t = st.tvb(st.t_off, 4):uint() - 2208988800 + st.tvb(st.t_off + 4, 4):uint() / 4294967296
    local skew = t - pinfo.abs_ts
    if math.abs(skew) > limit then
      gen(top:add(F["mikey.clock_skew"], r, math.floor(skew * 1000 + 0.5) / 1000))
    end
  end
end

local function dissect_mikey(tvb, pinfo, tree, off, len, what)
  off = off or 0
  len = len or tvb:len()
  -- dry run: wolfSSL pads an Empty map with 2 zero octets (reference mikey.md §2.6)
  local padded = false
  local probe = new_state(tvb, off, len)
  local hv = decode_message(probe, NULLTREE, false)
  if (probe.error ~= nil or probe.trailing) and hv.cs_id_map_type == 1 and hv.next_payload ~= 0
     and len >= 12 and tvb(off + 10, 2):uint() == 0 then
    local p2 = new_state(tvb, off, len)
    decode_message(p2, NULLTREE, true)
    padded = (p2.error == nil)
  end
  local top
  if proto_field_ok then top = tree:add(proto_field, tvb(off, len))
  else top = tree:add(proto, tvb(off, len)) end
  if what then top:append_text(" (" .. what .. ")") end
  local st = new_state(tvb, off, len)
  st.keylog = keylog_for(tvb, pinfo, top, off, len)
  hv = decode_message(st, top, padded)
  if st.keylog then keylog_top(st, top) end
  if st.error == nil then replay_and_skew(st, pinfo, top, hv, off, len) end
  local dt = hv.data_type and VALS.DATA_TYPES[hv.data_type]
  if dt then top:append_text(": " .. dt) end
  local info = "MIKEY " .. (dt or "?")
  if st.error then
    info = info .. " [Malformed: " .. st.error .. "]"
    top:append_text(" [Malformed]")
  end
  local carrier = tostring(pinfo.cols.protocol)
  if what == nil and (carrier == "UDP" or carrier == "TCP") then
    pinfo.cols.protocol = "MIKEY"
    pinfo.cols.info:set(info)
  else
    pinfo.cols.info:append(" " .. info)
  end
  return len
end

-- A body sent with Content-Transfer-Encoding: base64 (seed 004's multipart application/mikey
-- part) reaches us as text unless Wireshark's multipart "remove base64" preference is on; a
-- MIKEY message itself starts with version 1 (RFC 3830 §6.1), never a base64 character.
local function base64_body(tvb)
  if tvb:len() < 4 or tvb(0, 1):uint() == 1 then return nil end
  local s = tvb(0, tvb:len()):raw()
  if not s:match("^[A-Za-z0-9+/=%s]+$") then return nil end
  local ok, bytes = pcall(function()
    return ByteArray.new(s:gsub("%s", ""), true):base64_decode() end)
  if ok and bytes and bytes:len() > 0 then return bytes end
  return nil
end

function proto.dissector(tvb, pinfo, tree)
  local bytes = base64_body(tvb)
  if bytes then
    local mtvb = bytes:tvb("MIKEY (base64 Content-Transfer-Encoding)")
    dissect_mikey(mtvb, pinfo, tree, 0, mtvb:len(), "base64 body")
    return tvb:len()
  end
  return dissect_mikey(tvb, pinfo, tree)
end

-- re-read the keylog file at every (re)dissection: it may have been rewritten meanwhile
function proto.init()
  KEYLOG = {}
  SEEN, SEEN_RESULT = {}, {}
end

DissectorTable.get("udp.port"):add(2269, proto)
DissectorTable.get("tcp.port"):add(2269, proto)
DissectorTable.get("key_mgmt"):add("mikey", proto)
DissectorTable.get("media_type"):add("application/mikey", proto)

-- Media-level a=key-mgmt:mikey (RFC 4567 §3.1): Wireshark's SDP dissector does not decode it.
local media_attr = Field.new("sdp.media_attr")
local mediapost = Proto.new("mcsec_mikey_sdp", "MIKEY in SDP media descriptions (mcsec)")
function mediapost.dissector(tvb, pinfo, tree)
  if not proto.prefs.media_level then return end
  local attrs = {media_attr()}
  for i, fi in ipairs(attrs) do
    local s = tostring(fi.value)
    local b64 = s:match("^key%-mgmt:mikey%s+([A-Za-z0-9+/=]+)%s*$")
    if b64 then
      local ok, bytes = pcall(function() return ByteArray.new(b64, true):base64_decode() end)
      if ok and bytes and bytes:len() > 0 then
        local mtvb = bytes:tvb("MIKEY (media-level a=key-mgmt)")
        dissect_mikey(mtvb, pinfo, tree, 0, mtvb:len(), "SDP media-level a=key-mgmt")
      end
    end
  end
end
register_postdissector(mediapost)
