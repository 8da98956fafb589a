-- wrk script for the span-ingest benchmark (bench/spans.py writes the body and runs it).
--
--   wrk -t2 -c32 -d15s --latency -s bench/spans_load.lua http://127.0.0.1:PORT \
--       -- BODY_FILE HOST:PORT PROJECT_ID SENTRY_KEY NONCE [envelope|otlp]
--
-- BODY_FILE is one envelope (an error event, or a span item of a segment with its child
-- spans) in which every id that must be new per request is the placeholder
-- "TRACEIDTRACEIDTRACEIDTRACEIDTRAC" (32 characters, as long as a trace or event id, so
-- item lengths stay right). Each request replaces it with NONCE (8 hex, new per wrk run)
-- .. thread (8 hex) .. counter (16 hex), so no request is a duplicate. With `otlp` the
-- body is an OTLP/HTTP protobuf export posted to the project's OTLP traces endpoint, its
-- 16-byte trace id the placeholder "OTLPTRACEID16BYT", replaced by 16 such characters.

local thread_counter = 0

function setup(thread)
   thread:set("tid", thread_counter)
   thread_counter = thread_counter + 1
end

local template, head
local nonce = "00000000"
local seq = 0
local PLACEHOLDER = "TRACEIDTRACEIDTRACEIDTRACEIDTRAC"
local OTLP_PLACEHOLDER = "OTLPTRACEID16BYT"
local otlp = false

function init(args)
   local path, hostport, project, key = args[1], args[2], args[3], args[4]
   nonce = args[5] or "00000000"
   otlp = args[6] == "otlp"
   local f = assert(io.open(path, "rb"))
   template = f:read("*a")
   f:close()
   local target, content_type = "/api/" .. project .. "/envelope/", "application/x-sentry-envelope"
   if otlp then
      target, content_type = "/api/" .. project .. "/integration/otlp/v1/traces/", "application/x-protobuf"
   end
   head = "POST " .. target .. " HTTP/1.1\r\n"
      .. "Host: " .. hostport .. "\r\n"
      .. "X-Sentry-Auth: Sentry sentry_key=" .. key .. ", sentry_version=7, sentry_client=sentry.python/3.0.0\r\n"
      .. "Content-Type: " .. content_type .. "\r\n"
      .. "Content-Length: " .. #template .. "\r\n\r\n"
end

function request()
   seq = seq + 1
   if otlp then
      local id = string.format("%s%02x%06x", nonce, tid % 256, seq % 0x1000000)
      return head .. template:gsub(OTLP_PLACEHOLDER, id)
   end
   local id = string.format("%s%08x%016x", nonce, tid, seq)
   local body = template:gsub(PLACEHOLDER, id)
   return head .. body
end
