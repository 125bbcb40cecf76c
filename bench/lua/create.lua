-- Scenario "create": POST /v1/customers, each request with its own
-- Idempotency-Key, so that every request really creates a customer.
--
-- Arguments (after wrk's "--"): key=SECRET_KEY nonce=UNIQUE_PER_RUN
--   ids_file=PATH (ids of created customers are appended, for "retrieve")
--   errors_file=PATH (optional: samples of non-2xx responses)

local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local common = dofile(here .. "common.lua")
common.install_reporting()

local headers = nil
local key_prefix = nil
local counter = 0
local ids_out = nil

function init(args)
   local parsed = common.parse_args(args)
   common.init_thread(parsed)
   headers = common.base_headers(common.require_arg(parsed, "key"))
   headers["Content-Type"] = "application/x-www-form-urlencoded"
   -- The nonce makes keys unique across runs and warm-ups; the thread number
   -- makes them unique across wrk threads of one run.
   key_prefix = common.require_arg(parsed, "nonce") .. "-" .. tostring(thread_number or 1)
   ids_out = assert(io.open(common.require_arg(parsed, "ids_file"), "a"))
   -- Line buffering: wrk may be stopped by a signal, and ids must not be lost
   -- in a buffer; a write per created customer is cheap next to a request.
   ids_out:setvbuf("line")
end

function request()
   counter = counter + 1
   local serial = key_prefix .. "-" .. counter
   headers["Idempotency-Key"] = "bench-" .. serial
   local body = "email=bench-" .. serial .. "%40example.test&name=Bench+Customer+" .. counter
   return wrk.format("POST", "/v1/customers", headers, body)
end

function response(status, _headers, body)
   if common.record_response(status, body) then
      local id = body:match('"id"%s*:%s*"(cus_[^"]+)"')
      if id ~= nil then
         ids_out:write(id, "\n")
      end
   end
end
