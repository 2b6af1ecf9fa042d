-- wrk script for bench/api_load.py: closed-loop requests of one API scenario.
--   wrk -t1 -c20 -d20s -s bench/api_load.lua http://127.0.0.1:PORT -- TOKEN MODE [ARGS]
-- MODE: list | filtered | pages | detail IDS_FILE (a random case id per request)
--       | intake CUSTOMER_ID RUN_ID (POST a new signal, external id RUN_ID-<n>, per request)
local token, mode, customer, run_id
local ids = {}
local seq = 0

init = function(args)
  token, mode = args[1], args[2]
  if mode == "detail" then
    for line in io.lines(args[3]) do ids[#ids + 1] = line end
  elseif mode == "intake" then
    customer, run_id = args[3], args[4]
  end
  math.randomseed(os.time())
end

request = function()
  local headers = { ["Authorization"] = "Token " .. token, ["Accept"] = "application/json" }
  if mode == "intake" then
    seq = seq + 1
    headers["Content-Type"] = "application/json"
    local body = string.format(
      '{"title":"Monitor alert %d","customer":%s,"channel":"monitoring","external_id":"%s-%d","arr_at_risk":"60000"}',
      seq, customer, run_id, seq)
    return wrk.format("POST", "/api/v1/intake/", headers, body)
  end
  local path
  if mode == "detail" then
    path = "/api/v1/incidents/" .. ids[math.random(#ids)] .. "/"
  elseif mode == "pages" then
    path = "/api/v1/incidents/?page=" .. math.random(200)
  elseif mode == "filtered" then
    path = "/api/v1/incidents/?status=new&severity=S2"
  else
    path = "/api/v1/incidents/"
  end
  return wrk.format("GET", path, headers)
end

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "RESULT requests=%d seconds=%.3f p50=%.3f p95=%.3f p99=%.3f max=%.3f socket_errors=%d non2xx=%d\n",
    summary.requests, summary.duration / 1e6, latency:percentile(50) / 1000, latency:percentile(95) / 1000,
    latency:percentile(99) / 1000, latency.max / 1000, e.connect + e.read + e.write + e.timeout, e.status))
end
