-- udpeer.lua: a Wireshark dissector for udpeer heartbeat datagrams (see README "Wire format").
--
-- It shows the Adler-32 checksum with a good/bad mark (computed here over bytes 4..end),
-- the send time as a date with its unit inferred from the value, the advertised IPv4
-- address and UDP port (0.0.0.0, what a sender on IPv6 writes, stands for the UDP source),
-- and the text; over IPv4 and IPv6 alike. It decodes UDP port 5005, and any other UDP port
-- by heuristic: a datagram of at least 18 bytes whose checksum matches.
--
-- Load it:
--   * once:   wireshark -X lua_script:wireshark/udpeer.lua   (tshark takes the same flag)
--   * always: copy it into the personal Lua plugins folder shown in
--             Help > About Wireshark > Folders ("Personal Lua Plugins", for example
--             ~/.local/lib/wireshark/plugins/ on Linux), then Analyze > Reload Lua Plugins.
-- Then filter with `udpeer`, `udpeer.checksum.status == "Bad"`, `udpeer.text contains "x"`.
-- Another port: Analyze > Decode As… > UDP port > UDPEER, or tshark -d udp.port==N,udpeer.
--
-- Written for Lua 5.1 to 5.4 (Wireshark 3.x uses 5.2, 4.4 and later 5.4): plain arithmetic,
-- no bit operators, so it loads in each of them.

local HEADER_BYTES = 18
local DEFAULT_PORT = 5005
-- Adler-32 (RFC 1950): MOD is the largest prime below 2^16; NMAX bytes can be summed before
-- s2 could exceed 2^32 - 1, so the sums are reduced once per NMAX bytes.
local MOD = 65521
local NMAX = 5552

local udpeer = Proto("udpeer", "udpeer heartbeat")

local status_names = { [0] = "Bad", [1] = "Good" }

local f = udpeer.fields
f.checksum = ProtoField.uint32("udpeer.checksum", "Checksum", base.HEX)
f.checksum_calculated = ProtoField.uint32("udpeer.checksum.calculated", "Calculated checksum",
  base.HEX)
f.checksum_status = ProtoField.uint8("udpeer.checksum.status", "Checksum status", base.DEC,
  status_names)
f.timestamp = ProtoField.uint64("udpeer.timestamp", "Timestamp", base.DEC)
f.unit = ProtoField.string("udpeer.timestamp.unit", "Timestamp unit")
f.sent_at = ProtoField.absolute_time("udpeer.sent_at", "Sent at", base.UTC)
f.elapsed = ProtoField.double("udpeer.elapsed_ms", "Captured after (ms)")
f.address = ProtoField.ipv4("udpeer.address", "Advertised address")
f.port = ProtoField.uint16("udpeer.port", "Advertised port", base.DEC)
f.text = ProtoField.string("udpeer.text", "Text")
f.length = ProtoField.uint16("udpeer.length", "Length", base.DEC)

local e_bad_checksum = ProtoExpert.new("udpeer.checksum.bad", "Bad checksum",
  expert.group.CHECKSUM, expert.severity.ERROR)
local e_short = ProtoExpert.new("udpeer.short",
  "Shorter than the 18-byte heartbeat header", expert.group.MALFORMED, expert.severity.ERROR)
local e_clock = ProtoExpert.new("udpeer.clock",
  "Sent after it was captured: the two clocks disagree", expert.group.SEQUENCE,
  expert.severity.WARN)
udpeer.experts = { e_bad_checksum, e_short, e_clock }

-- Adler-32 of the bytes of `tvb` from `offset` to the end, as a number in 0..2^32-1.
local function adler32(tvb, offset)
  local length = tvb:len() - offset
  local s1, s2 = 1, 0
  if length > 0 then
    local data = tvb:raw(offset, length)
    local i = 1
    while i <= length do
      local chunk_end = math.min(i + NMAX - 1, length)
      for j = i, chunk_end do
        s1 = s1 + data:byte(j)
        s2 = s2 + s1
      end
      s1 = s1 % MOD
      s2 = s2 % MOD
      i = chunk_end + 1
    end
  end
  return s2 * 65536 + s1
end

-- Unit of a raw timestamp, inferred from its magnitude as the README's "Wire format" says, and the number of
-- that unit in one second.
local function infer_unit(value)
  if value < 1e11 then return "s", 1 end
  if value < 1e14 then return "ms", 1000 end
  if value < 1e17 then return "us", 1000000 end
  return "ns", 1000000000
end

local function dissect(tvb, pinfo, tree)
  local length = tvb:len()
  pinfo.cols.protocol = "UDPEER"
  local root = tree:add(udpeer, tvb(), "udpeer heartbeat")
  root:add(f.length, length):set_generated()

  if length < HEADER_BYTES then
    root:add_proto_expert_info(e_short)
    pinfo.cols.info = string.format("udpeer: %d bytes, too short for a heartbeat", length)
    return length
  end

  -- Checksum, with the value computed here beside it.
  local carried = tvb(0, 4):uint()
  local calculated = adler32(tvb, 4)
  local good = carried == calculated
  local checksum_item = root:add(f.checksum, tvb(0, 4))
  if good then
    checksum_item:append_text(" [correct]")
  else
    checksum_item:append_text(string.format(" [incorrect, should be 0x%08x]", calculated))
    checksum_item:add_proto_expert_info(e_bad_checksum)
  end
  checksum_item:add(f.checksum_calculated, calculated):set_generated()
  checksum_item:add(f.checksum_status, good and 1 or 0):set_generated()

  -- Timestamp: the raw value, its inferred unit, and the date it stands for.
  local raw = tvb(4, 8):uint64()
  -- As a double, the same way protocol.ts reads it; exact below 2^53.
  local value = tvb(4, 4):uint() * 4294967296.0 + tvb(8, 4):uint()
  local unit, per_second = infer_unit(value)
  local timestamp_item = root:add(f.timestamp, tvb(4, 8))
  timestamp_item:append_text(" (" .. unit .. ")")
  timestamp_item:add(f.unit, unit):set_generated()
  -- Whole seconds and the remainder in UInt64 arithmetic, exact for nanoseconds too.
  -- math.floor keeps them integers for Lua 5.3+, where NSTime wants integers.
  local seconds = math.floor((raw / per_second):tonumber())
  local nanoseconds = math.floor((raw % per_second):tonumber() * (1000000000 / per_second))
  root:add(f.sent_at, tvb(4, 8), NSTime.new(seconds, nanoseconds))
  -- abs_ts is a double in seconds: good to about a microsecond, so round to that.
  local elapsed_ms = (pinfo.abs_ts - (seconds + nanoseconds / 1e9)) * 1000
  elapsed_ms = math.floor(elapsed_ms * 1000 + 0.5) / 1000
  local elapsed_item = root:add(f.elapsed, elapsed_ms)
  elapsed_item:set_generated()
  if elapsed_ms < 0 then elapsed_item:add_proto_expert_info(e_clock) end

  local address_item = root:add(f.address, tvb(12, 4))
  root:add(f.port, tvb(16, 2))
  local advertised = string.format("%s:%d", tostring(tvb(12, 4):ipv4()), tvb(16, 2):uint())
  if tvb(12, 4):uint() == 0 then
    -- 0.0.0.0: the sender did not say (a sender on IPv6 writes it); its address is the UDP
    -- source, shown in brackets when it is IPv6.
    address_item:append_text(" (not given: the sender is the UDP source)")
    local source = tostring(pinfo.src)
    if string.find(source, ":", 1, true) then source = "[" .. source .. "]" end
    advertised = string.format("%s:%d", source, tvb(16, 2):uint())
  end
  local text = ""
  if length > HEADER_BYTES then
    local text_item
    text_item, text = root:add_packet_field(f.text, tvb(HEADER_BYTES), ENC_UTF_8)
    text = text or tvb(HEADER_BYTES):string(ENC_UTF_8)
  end

  root:append_text(string.format(", %s, %s", advertised, good and "checksum good" or
    "BAD CHECKSUM"))
  pinfo.cols.info = string.format("udpeer %s%s \"%s\"", advertised,
    good and "" or " [BAD CHECKSUM]", text)
  return length
end

function udpeer.dissector(tvb, pinfo, tree)
  return dissect(tvb, pinfo, tree)
end

-- Other ports: claim a datagram only when it is long enough and its checksum matches. Both
-- halves of an Adler-32 are below 65521, a cheap test that rejects most other traffic first.
local function heuristic(tvb, pinfo, tree)
  local length = tvb:len()
  if length < HEADER_BYTES then return false end
  if tvb(0, 2):uint() >= MOD or tvb(2, 2):uint() >= MOD then return false end
  if tvb(0, 4):uint() ~= adler32(tvb, 4) then return false end
  dissect(tvb, pinfo, tree)
  return true
end

DissectorTable.get("udp.port"):add(DEFAULT_PORT, udpeer)
udpeer:register_heuristic("udp", heuristic)
