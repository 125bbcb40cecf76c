-- Seeding: creates exactly the customers numbered [first, first + count)
-- through POST /v1/customers, then tells bench/customers.py it is finished.
--
-- Idempotency keys are derived from the customer number alone, so a chunk
-- that is retried (after errors or a stop) never creates a customer twice:
-- the server replays the stored response instead. This is what lets the seed
-- be resumed and keeps the stored count exact.
--
-- wrk has no "stop after N requests" option and its main thread sleeps for
-- the whole -d duration even after thread:stop(); so when the last response
-- is in, this script prints CHUNK_DONE_MARKER and stops its thread, and
-- bench/customers.py, which reads the marker, ends wrk early with SIGINT.
-- Meant for one wrk thread (-t 1): the numbering is not split across threads.
--
-- Arguments: key=SECRET_KEY first=N count=N ids_file=PATH errors_file=PATH

local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local common = dofile(here .. "common.lua")
common.install_reporting()

local CHUNK_DONE_MARKER = "KASSA_SEED_CHUNK_DONE"

-- Delay for connections that have nothing left to send: long enough that they
-- stay idle until the thread stops (a chunk is bounded by wrk's -d anyway).
local IDLE_DELAY_MS = 3600 * 1000

local headers = nil
local first_number = 0
local end_number = 0
local promised = 0 -- requests that delay() allowed; wrk calls request() after each
local sent = 0
local answered = 0
local ids_out = nil

function init(args)
   local parsed = common.parse_args(args)
   common.init_thread(parsed)
   headers = common.base_headers(common.require_arg(parsed, "key"))
   headers["Content-Type"] = "application/x-www-form-urlencoded"
   first_number = tonumber(common.require_arg(parsed, "first"))
   end_number = first_number + tonumber(common.require_arg(parsed, "count"))
   ids_out = assert(io.open(common.require_arg(parsed, "ids_file"), "a"))
   ids_out:setvbuf("line")
end

-- wrk calls delay() before every request it sends, so this is where a
-- customer number is reserved, or the connection is parked once none is left.
function delay()
   if first_number + promised >= end_number then
      return IDLE_DELAY_MS
   end
   promised = promised + 1
   return 0
end

function request()
   local number = first_number + sent
   -- wrk also calls request() once before the run, only to inspect the
   -- request (script_verify_request), and never sends that one: it is the
   -- call that no delay() has promised, and it must not use up a number.
   if sent < promised then
      sent = sent + 1
   end
   headers["Idempotency-Key"] = "bench-seed-" .. number
   local body = "email=seed-" .. number .. "%40example.test&name=Seed+Customer+" .. number
   return wrk.format("POST", "/v1/customers", headers, body)
end

function response(status, _headers, body)
   if common.record_response(status, body) then
      local id = body:match('"id"%s*:%s*"(cus_[^"]+)"')
      if id ~= nil then
         ids_out:write(id, "\n")
      end
   end
   answered = answered + 1
   if answered == end_number - first_number then
      io.write(CHUNK_DONE_MARKER, "\n")
      io.flush()
      wrk.thread:stop()
   end
end
