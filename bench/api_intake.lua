-- wrk script for bench/api_load.py: closed-loop intake POSTs, each a new signal.
--   wrk -t1 -c8 -d20s -s bench/api_intake.lua http://127.0.0.1:PORT -- TOKEN CUSTOMER_ID RUN_ID
local token, customer, run_id
local seq = 0

init = function(args)
  token, customer, run_id = args[1], args[2], args[3]
end

request = function()
  seq = seq + 1
  local body = string.format(
    '{"title":"Monitor alert %d","customer":%s,"channel":"monitoring","external_id":"%s-%d","arr_at_risk":"60000"}',
    seq, customer, run_id, seq)
  return wrk.format("POST", "/api/v1/intake/", {
    ["Authorization"] = "Token " .. token,
    ["Accept"] = "application/json",
    ["Content-Type"] = "application/json",
  }, body)
end

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "RESULT requests=%d seconds=%.3f p50=%.3f p95=%.3f p99=%.3f max=%.3f socket_errors=%d non2xx=%d\n",
    summary.requests, summary.duration / 1e6, latency:percentile(50) / 1000, latency:percentile(95) / 1000,
    latency:percentile(99) / 1000, latency.max / 1000, e.connect + e.read + e.write + e.timeout, e.status))
end
