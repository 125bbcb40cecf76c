-- Scenario "list": GET /v1/customers?limit=N (the first page, newest first).
--
-- Arguments: key=SECRET_KEY limit=N errors_file=PATH

local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local common = dofile(here .. "common.lua")
common.install_reporting()

local list_request = nil

function init(args)
   local parsed = common.parse_args(args)
   common.init_thread(parsed)
   local headers = common.base_headers(common.require_arg(parsed, "key"))
   local path = "/v1/customers?limit=" .. common.require_arg(parsed, "limit")
   list_request = wrk.format("GET", path, headers)
end

function request()
   return list_request
end

function response(status, _headers, body)
   common.record_response(status, body)
end
