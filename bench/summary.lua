-- wrk's hooks for bench/wrk.py. done(): one machine-readable line (latencies in microseconds).
-- With BENCH_GAP_MS set, delay(): each connection waits an exponentially distributed gap of
-- that mean before each request (paced load at a chosen rate; Poisson arrivals, no bursts).
local gap_ms = tonumber(os.getenv("BENCH_GAP_MS") or "0")
if gap_ms > 0 then
  math.randomseed(os.time())
  delay = function()
    return -math.log(1 - math.random()) * gap_ms
  end
end

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "BENCH_SUMMARY {\"requests\":%d,\"duration_us\":%d,\"p50_us\":%d,\"p99_us\":%d," ..
    "\"connect\":%d,\"read\":%d,\"write\":%d,\"status\":%d,\"timeout\":%d}\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect, e.read, e.write, e.status, e.timeout))
end
