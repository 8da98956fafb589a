-- wrk script for the error-ingest benchmark (bench/errors.py writes the data and runs it).
--
--   wrk -t2 -c32 -d30s --latency --timeout 10s -s bench/errors_load.lua http://127.0.0.1:PORT \
--       -- DATA_DIR HOST:PORT PROJECT_ID SENTRY_KEY NONCE
--
-- DATA_DIR holds `bodies.bin` (the byte segments of every body) and `bodies.idx` (one line
-- per body: kind, content length, the offsets and lengths of its four segments in
-- bodies.bin, and for gzip bodies the CRC-32 of the template and a 32x16 table, see below).
-- bodies.idx lists the bodies in the order they are sent: errors.py interleaves plain and
-- gzip bodies so that the wanted share is gzip.
--
-- Every request carries a new event_id (the envelope header's and the event's, which are the
-- same), so no request is a duplicate: NONCE (8 hex, new per wrk run) .. thread (8 hex) ..
-- counter (16 hex). A body is  s1 .. id .. s2 .. id .. s3 [.. crc32 .. s4].
--
-- Gzip bodies: the two ids sit in an uncompressed (stored) deflate block at the start of
-- the gzip stream, the rest of the envelope is normally compressed after it, so the id can
-- be written per request; the gzip trailer's CRC-32 is then fixed up with a table: CRC-32 is
-- affine, so crc(template with id) = crc(template) xor T[1][c1] xor ... xor T[32][c32],
-- where T[j][c] is the effect of hex digit c at position j of both ids (errors.py computes
-- T). The per-request work is 32 table look-ups, not a CRC over 5 KB.

local bit = require("bit")
local bxor, band, rshift = bit.bxor, bit.band, bit.rshift
local char, format, concat = string.char, string.format, table.concat

local thread_counter = 0

function setup(thread)
   thread:set("tid", thread_counter)
   thread_counter = thread_counter + 1
end

local bodies = {}
local nbodies = 0
local nonce = "00000000"
local seq = 0
local hexval = {}

local function read_all(path)
   local f = assert(io.open(path, "rb"))
   local d = f:read("*a")
   f:close()
   return d
end

function init(args)
   local dir, hostport, project, key = args[1], args[2], args[3], args[4]
   nonce = args[5] or "00000000"
   for i = 0, 9 do hexval[48 + i] = i end
   for i = 0, 5 do hexval[97 + i] = 10 + i end
   local blob = read_all(dir .. "/bodies.bin")
   local base_head = "POST /api/" .. project .. "/envelope/ HTTP/1.1\r\n"
      .. "Host: " .. hostport .. "\r\n"
      .. "User-Agent: sentry.python/2.75.0\r\n"
      .. "X-Sentry-Auth: Sentry sentry_key=" .. key .. ", sentry_version=7, sentry_client=sentry.python/2.75.0\r\n"
      .. "Content-Type: application/x-sentry-envelope\r\n"
   for line in io.lines(dir .. "/bodies.idx") do
      local f = {}
      for w in line:gmatch("%S+") do f[#f + 1] = w end
      local b = { gzip = (f[1] == "G") }
      local clen = tonumber(f[2])
      local seg = {}
      for k = 0, 3 do
         local off, len = tonumber(f[3 + 2 * k]), tonumber(f[4 + 2 * k])
         seg[k + 1] = blob:sub(off + 1, off + len)
      end
      b.s1, b.s2, b.s3, b.s4 = seg[1], seg[2], seg[3], seg[4]
      local head = base_head
      if b.gzip then
         head = head .. "Content-Encoding: gzip\r\n"
         b.crc = tonumber(f[11])
         local t = {}
         for k = 12, #f do t[k - 11] = tonumber(f[k]) end
         b.tab = t
      end
      b.head = head .. "Content-Length: " .. clen .. "\r\n\r\n"
      nbodies = nbodies + 1
      bodies[nbodies] = b
   end
   -- Threads start at different places of the rotation.
   seq = (tid or 0) * 7919
end

local count = 0

function request()
   count = count + 1
   seq = seq + 1
   local b = bodies[(seq % nbodies) + 1]
   local id = format("%s%08x%08x%08x", nonce, tid or 0, math.floor(count / 4294967296), count % 4294967296)
   if not b.gzip then
      return concat({ b.head, b.s1, id, b.s2, id, b.s3 })
   end
   local crc, tab = b.crc, b.tab
   for j = 1, 32 do
      crc = bxor(crc, tab[(j - 1) * 16 + hexval[id:byte(j)] + 1])
   end
   local c4 = char(band(crc, 255), band(rshift(crc, 8), 255), band(rshift(crc, 16), 255), band(rshift(crc, 24), 255))
   return concat({ b.head, b.s1, id, b.s2, id, b.s3, c4, b.s4 })
end

-- The latency percentiles are wrk's own (nearest rank over its per-microsecond histogram,
-- the numbers of its --latency table), not benchlib.pct's linear interpolation.
function done(summary, latency, requests)
   local e = summary.errors
   io.write(format(
      'WRKJSON {"duration_us":%d,"requests":%d,"bytes":%d,"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d,'
      .. '"lat_mean_us":%.1f,"lat_max_us":%d,"lat_p50_us":%d,"lat_p90_us":%d,"lat_p99_us":%d,"lat_p999_us":%d}\n',
      summary.duration, summary.requests, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
      latency.mean, latency.max, latency:percentile(50), latency:percentile(90), latency:percentile(99),
      latency:percentile(99.9)))
end
