-- wrk script for the span-ingest benchmark (bench/spans.py writes the body and runs it).
--
--   wrk -t2 -c32 -d15s --latency -s bench/spans_load.lua http://127.0.0.1:PORT \
--       -- BODY_FILE HOST:PORT PROJECT_ID SENTRY_KEY NONCE
--
-- BODY_FILE is one envelope (an error event, or a span item of a segment with its child
-- spans) in which every id that must be new per request is the placeholder
-- "TRACEIDTRACEIDTRACEIDTRACEIDTRAC" (32 characters, as long as a trace or event id, so
-- item lengths stay right). Each request replaces it with NONCE (8 hex, new per wrk run)
-- .. thread (8 hex) .. counter (16 hex), so no request is a duplicate.

local thread_counter = 0

function setup(thread)
   thread:set("tid", thread_counter)
   thread_counter = thread_counter + 1
end

local template, head
local nonce = "00000000"
local seq = 0
local PLACEHOLDER = "TRACEIDTRACEIDTRACEIDTRACEIDTRAC"

function init(args)
   local path, hostport, project, key = args[1], args[2], args[3], args[4]
   nonce = args[5] or "00000000"
   local f = assert(io.open(path, "rb"))
   template = f:read("*a")
   f:close()
   head = "POST /api/" .. project .. "/envelope/ HTTP/1.1\r\n"
      .. "Host: " .. hostport .. "\r\n"
      .. "X-Sentry-Auth: Sentry sentry_key=" .. key .. ", sentry_version=7, sentry_client=sentry.python/3.0.0\r\n"
      .. "Content-Type: application/x-sentry-envelope\r\n"
      .. "Content-Length: " .. #template .. "\r\n\r\n"
end

function request()
   seq = seq + 1
   local id = string.format("%s%08x%016x", nonce, tid, seq)
   local body = template:gsub(PLACEHOLDER, id)
   return head .. body
end
