-- wrk script for bench/api_load.py: closed-loop GETs of one API scenario.
--   wrk -t1 -c20 -d20s -s bench/api_load.lua http://127.0.0.1:PORT -- TOKEN MODE [IDS_FILE]
-- MODE: list | filtered | pages | detail (a random case id from IDS_FILE per request).
local token, mode
local ids = {}

init = function(args)
  token, mode = args[1], args[2]
  if args[3] then
    for line in io.lines(args[3]) do ids[#ids + 1] = line end
  end
  math.randomseed(os.time())
end

request = function()
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
  return wrk.format("GET", path, { ["Authorization"] = "Token " .. token, ["Accept"] = "application/json" })
end

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "RESULT requests=%d seconds=%.3f p50=%.3f p95=%.3f p99=%.3f max=%.3f socket_errors=%d non2xx=%d\n",
    summary.requests, summary.duration / 1e6, latency:percentile(50) / 1000, latency:percentile(95) / 1000,
    latency:percentile(99) / 1000, latency.max / 1000, e.connect + e.read + e.write + e.timeout, e.status))
end
