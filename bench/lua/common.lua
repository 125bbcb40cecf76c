-- Shared plumbing for the wrk scripts of bench/customers.py and
-- bench/payment_intents.py.
--
-- wrk runs one Lua state per thread plus one for setup()/done(); every state
-- loads the scenario script, which loads this file with dofile(). Each
-- scenario script calls common.install_reporting() so that all scenarios
-- report in the same machine-readable form: one line starting with
-- RESULT_MARKER followed by a JSON object, printed by done().

local common = {}

-- bench/bench_harness.py looks for this prefix in wrk's standard output.
local RESULT_MARKER = "KASSA_WRK_RESULT "

-- Only the first few failing responses per thread are written out: enough to
-- see what went wrong without turning an error storm into a disk storm.
local MAX_ERROR_SAMPLES = 5

-- Error bodies are cut to this many bytes in the samples file.
local MAX_ERROR_BODY_BYTES = 400

-- Latency percentiles reported, as (JSON name, percentile) pairs.
local PERCENTILES = {
   { "p50", 50.0 },
   { "p90", 90.0 },
   { "p99", 99.0 },
   { "p99_9", 99.9 },
}

-- Turns wrk's "-- key=value key=value" script arguments into a table.
function common.parse_args(args)
   local parsed = {}
   for _, arg in ipairs(args) do
      local key, value = arg:match("^([%w_]+)=(.*)$")
      if key == nil then
         error("script argument is not key=value: " .. arg)
      end
      parsed[key] = value
   end
   return parsed
end

function common.require_arg(parsed, key)
   local value = parsed[key]
   if value == nil or value == "" then
      error("missing script argument " .. key .. "=...")
   end
   return value
end

-- Headers every request carries. wrk.format() does not merge the table it is
-- given with wrk.headers, so the Host header that wrk computed is copied here.
function common.base_headers(secret_key)
   return {
      ["Host"] = wrk.headers["Host"],
      ["Authorization"] = "Bearer " .. secret_key,
      ["User-Agent"] = "kassa-bench-wrk",
   }
end

-- Per-thread response bookkeeping, read back by done() via thread:get().
-- Globals (not locals) because thread:get() can only read globals.
responses_2xx = 0
responses_other = 0
status_counts = {}

local error_file_path = nil
local error_file = nil
local error_samples_written = 0

-- Remembers the optional error-samples file (argument errors_file=PATH); it
-- is only created when a first error is seen.
function common.init_thread(parsed)
   local path = parsed["errors_file"]
   if path ~= nil and path ~= "" then
      error_file_path = path
   end
end

local function write_error_sample(status, body)
   if error_file_path == nil or error_samples_written >= MAX_ERROR_SAMPLES then
      return
   end
   if error_file == nil then
      error_file = assert(io.open(error_file_path, "a"))
      error_file:setvbuf("line")
   end
   error_samples_written = error_samples_written + 1
   local snippet = (body or ""):sub(1, MAX_ERROR_BODY_BYTES):gsub("[\r\n\t]", " ")
   error_file:write(status, "\t", snippet, "\n")
end

-- Counts one response; returns true when the status is 2xx.
function common.record_response(status, body)
   local key = tostring(status)
   status_counts[key] = (status_counts[key] or 0) + 1
   if status >= 200 and status < 300 then
      responses_2xx = responses_2xx + 1
      return true
   end
   responses_other = responses_other + 1
   write_error_sample(status, body)
   return false
end

-- setup()/done() run in wrk's main Lua state; `threads` lives only there.
local threads = {}

local function setup(thread)
   table.insert(threads, thread)
   thread:set("thread_number", #threads)
end

local function json_number_map(map)
   local parts = {}
   for key, value in pairs(map) do
      parts[#parts + 1] = string.format('"%s":%d', key, value)
   end
   return "{" .. table.concat(parts, ",") .. "}"
end

local function sum_thread_counts()
   local ok, other, statuses = 0, 0, {}
   for _, thread in ipairs(threads) do
      ok = ok + (thread:get("responses_2xx") or 0)
      other = other + (thread:get("responses_other") or 0)
      for status, count in pairs(thread:get("status_counts") or {}) do
         statuses[status] = (statuses[status] or 0) + count
      end
   end
   return ok, other, statuses
end

local function latency_json(latency)
   local parts = {
      string.format('"min":%d', latency.min),
      string.format('"mean":%.1f', latency.mean),
      string.format('"stdev":%.1f', latency.stdev),
      string.format('"max":%d', latency.max),
   }
   for _, entry in ipairs(PERCENTILES) do
      parts[#parts + 1] = string.format('"%s":%d', entry[1], latency:percentile(entry[2]))
   end
   return "{" .. table.concat(parts, ",") .. "}"
end

local function done(summary, latency, _requests)
   local ok, other, statuses = sum_thread_counts()
   local errors = summary.errors
   local line = string.format(
      '{"duration_us":%d,"requests":%d,"bytes":%d,"responses_2xx":%d,'
         .. '"responses_other":%d,"status_counts":%s,'
         .. '"socket_errors":{"connect":%d,"read":%d,"write":%d,"timeout":%d},'
         .. '"latency_us":%s}',
      summary.duration,
      summary.requests,
      summary.bytes,
      ok,
      other,
      json_number_map(statuses),
      errors.connect,
      errors.read,
      errors.write,
      errors.timeout,
      latency_json(latency)
   )
   io.write(RESULT_MARKER, line, "\n")
   io.flush()
end

function common.install_reporting()
   _G.setup = setup
   _G.done = done
end

return common
