-- Scenario "confirm" of bench/payment_intents.py: POST /v1/payment_intents
-- with payment_method=pm_card_visa, allowed_payment_method_types[]=card and confirm=true,
-- so that every request creates a PaymentIntent, confirms it and charges the test
-- card at once (cards only: the confirmation needs no return_url).
-- Each request has its own Idempotency-Key: "bench-pi-", the run's nonce (a
-- random prefix), the wrk thread number and a per-thread counter.
--
-- Arguments (after wrk's "--"): key=SECRET_KEY nonce=UNIQUE_PER_RUN
--   amount=MINOR_UNITS currency=CODE
--   answered_file=PATH ("pi_... ch_..." per 2xx response is appended: the
--     intent and its latest charge, which bench/payment_intents.py checks)
--   errors_file=PATH (optional: samples of non-2xx responses)

local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local common = dofile(here .. "common.lua")
common.install_reporting()

local headers = nil
local key_prefix = nil
local body = nil
local counter = 0
local answered_out = nil

function init(args)
   local parsed = common.parse_args(args)
   common.init_thread(parsed)
   headers = common.base_headers(common.require_arg(parsed, "key"))
   headers["Content-Type"] = "application/x-www-form-urlencoded"
   key_prefix = "bench-pi-" .. common.require_arg(parsed, "nonce") .. "-" .. tostring(thread_number or 1)
   -- The same body every time: only the Idempotency-Key differs between requests.
   body = "amount=" .. common.require_arg(parsed, "amount")
      .. "&currency=" .. common.require_arg(parsed, "currency")
      .. "&payment_method=pm_card_visa&allowed_payment_method_types[]=card&confirm=true"
   answered_out = assert(io.open(common.require_arg(parsed, "answered_file"), "a"))
   -- Line buffering: wrk may be stopped by a signal, and no answer may be lost
   -- in a buffer; a write per response is cheap next to a request.
   answered_out:setvbuf("line")
end

function request()
   counter = counter + 1
   headers["Idempotency-Key"] = key_prefix .. "-" .. counter
   return wrk.format("POST", "/v1/payment_intents", headers, body)
end

function response(status, _headers, response_body)
   if common.record_response(status, response_body) then
      -- The intent's own id is the only "id" that starts with pi_.
      local intent = response_body:match('"id"%s*:%s*"(pi_[^"]+)"') or "missing-intent-id"
      local charge = response_body:match('"latest_charge"%s*:%s*"(ch_[^"]+)"') or "no-charge"
      answered_out:write(intent, " ", charge, "\n")
   end
end
