-- Scenario "retrieve": GET /v1/customers/{id} for ids picked at random from a
-- file (one id per line) written by bench/customers.py.
--
-- Arguments: key=SECRET_KEY ids_file=PATH seed=NUMBER errors_file=PATH

local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local common = dofile(here .. "common.lua")
common.install_reporting()

-- Requests are built once in init(): wrk's own advice for fast servers, and
-- it keeps Lua string building out of the measured loop.
local requests = {}

function init(args)
   local parsed = common.parse_args(args)
   common.init_thread(parsed)
   local headers = common.base_headers(common.require_arg(parsed, "key"))
   for id in io.lines(common.require_arg(parsed, "ids_file")) do
      if id ~= "" then
         requests[#requests + 1] = wrk.format("GET", "/v1/customers/" .. id, headers)
      end
   end
   if #requests == 0 then
      error("ids_file holds no ids")
   end
   math.randomseed(tonumber(common.require_arg(parsed, "seed")) + (thread_number or 1))
end

function request()
   return requests[math.random(#requests)]
end

function response(status, _headers, body)
   common.record_response(status, body)
end
