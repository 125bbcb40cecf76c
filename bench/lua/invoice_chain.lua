-- Scenario "invoice" of bench/invoices.py: each connection bills one customer
-- over and over, as an integration with collection_method=charge_automatically
-- does, one invoice being four requests made one after the other:
--
--   1. POST /v1/invoiceitems            customer, amount and currency (or pricing[price])
--   2. POST /v1/invoices                customer, collection_method=charge_automatically,
--                                       auto_advance=false, pending_invoice_items_behavior=include
--   3. POST /v1/invoices/{id}/finalize
--   4. POST /v1/invoices/{id}/pay       the customer's default payment method
--
-- wrk calls request() and response() without saying which connection they are
-- for, so bench/invoices.py runs one wrk thread per connection: every thread
-- has a Lua state of its own, and the chain's state below is its connection's.
-- Each thread bills its own customer (line `thread_number` of customers_file),
-- so no other chain's pending item can be taken by its invoice.
--
-- The chain advances in response(); request() only builds the request of the
-- current step, so calling it again (wrk does once at start-up, to check the
-- script, and after a reconnect) sends the same step with the same
-- Idempotency-Key: "bench-in-", the run's nonce, the thread, the chain and the
-- step. A response other than 2xx abandons the chain: the next request starts a
-- new invoice.
--
-- Arguments (after wrk's "--"): key=SECRET_KEY nonce=UNIQUE_PER_RUN
--   customers_file=PATH (one customer id per line, one line per thread)
--   amount=MINOR_UNITS currency=CODE, or price=PRICE_ID (then pricing[price])
--   answered_file=PATH (done() appends the invoice id of every chain whose pay
--     answered 2xx; "no-invoice-id" for a 2xx invoice creation without an in_ id)
--   errors_file=PATH (optional: samples of non-2xx responses)

local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local common = dofile(here .. "common.lua")
common.install_reporting()

-- The steps of one invoice, in the order they are sent.
local ITEM, CREATE, FINALIZE, PAY = 1, 2, 3, 4

local headers = nil
local key_prefix = nil
local item_body = nil
local create_body = nil

-- Per thread, globals so that done() can read them with thread:get(): the ids of the
-- invoices paid, and where to write them. They are kept in memory and written once, by
-- done(), rather than through a file per thread: wrk's event loops only take file
-- descriptors below 10 + 3 x connections, and one thread per connection already uses
-- two of them each (its epoll and its socket).
paid_invoices = {}
answered_path = nil

local chain = 1 -- this connection's invoices, counted from 1
local step = ITEM
local invoice_id = nil

local function nth_line(path, n)
   -- Read whole and closed at once (io.lines would hold the file open until collected).
   local file = assert(io.open(path, "r"))
   local text = file:read("*a")
   file:close()
   local count = 0
   for line in text:gmatch("[^\n]+") do
      count = count + 1
      if count == n then
         return line
      end
   end
   error(path .. " has no line " .. n .. " (one customer per connection is needed)")
end

local function item_fields(parsed)
   local price = parsed["price"]
   if price ~= nil and price ~= "" then
      return "pricing%5Bprice%5D=" .. price
   end
   return "amount=" .. common.require_arg(parsed, "amount")
      .. "&currency=" .. common.require_arg(parsed, "currency")
end

function init(args)
   local parsed = common.parse_args(args)
   common.init_thread(parsed)
   local number = thread_number or 1
   local customer = nth_line(common.require_arg(parsed, "customers_file"), number)
   headers = common.base_headers(common.require_arg(parsed, "key"))
   headers["Content-Type"] = "application/x-www-form-urlencoded"
   key_prefix = "bench-in-" .. common.require_arg(parsed, "nonce") .. "-" .. tostring(number)
   item_body = "customer=" .. customer .. "&" .. item_fields(parsed)
   create_body = "customer=" .. customer
      .. "&collection_method=charge_automatically&auto_advance=false"
      .. "&pending_invoice_items_behavior=include"
   answered_path = common.require_arg(parsed, "answered_file")
end

local function start_next_chain()
   chain = chain + 1
   step = ITEM
   invoice_id = nil
end

function request()
   headers["Idempotency-Key"] = key_prefix .. "-" .. chain .. "-" .. step
   if step == ITEM then
      return wrk.format("POST", "/v1/invoiceitems", headers, item_body)
   elseif step == CREATE then
      return wrk.format("POST", "/v1/invoices", headers, create_body)
   elseif step == FINALIZE then
      return wrk.format("POST", "/v1/invoices/" .. invoice_id .. "/finalize", headers, "")
   end
   return wrk.format("POST", "/v1/invoices/" .. invoice_id .. "/pay", headers, "")
end

function response(status, _headers, body)
   if not common.record_response(status, body) then
      start_next_chain()
      return
   end
   if step == CREATE then
      -- The invoice's own id is the only "id" that starts with in_ (lines are il_).
      invoice_id = body:match('"id"%s*:%s*"(in_[^"]+)"')
      if invoice_id == nil then
         -- Never expected; bench/invoices.py counts these lines as failures.
         paid_invoices[#paid_invoices + 1] = "no-invoice-id"
         start_next_chain()
         return
      end
   elseif step == PAY then
      paid_invoices[#paid_invoices + 1] = invoice_id
      start_next_chain()
      return
   end
   step = step + 1
end

-- setup() and done() run in wrk's main Lua state: common.lua's, plus the threads kept
-- so that done() can collect every thread's paid invoices before the result line.
local report_setup, report_done = setup, done
local threads = {}

function setup(thread)
   report_setup(thread)
   threads[#threads + 1] = thread
end

function done(summary, latency, requests)
   for _, thread in ipairs(threads) do
      local path = thread:get("answered_path")
      if path ~= nil then
         local out = assert(io.open(path, "a"))
         for _, invoice in ipairs(thread:get("paid_invoices") or {}) do
            out:write(invoice, "\n")
         end
         out:close()
      end
   end
   report_done(summary, latency, requests)
end
