-- wrk script of the bench_api example (crates/kaptain-server/examples/bench_api.rs).
--
--   BENCH_API_RATE=RATE BENCH_API_THREADS=T wrk -tT ... -s bench_api.lua URL
--
-- No RATE (or 0): closed loop, every connection sends its next request as soon as the previous
-- answer arrives (the server's maximum throughput). RATE > 0: paced; each wrk thread hands
-- out send slots RATE/threads per second apart and a connection waits for its slot
-- (`delay()`), so the thread sends at most that rate whatever the latency. A slot missed
-- because every connection was busy is skipped, not caught up: the achieved rate then falls
-- below RATE (the caller prints it). Latencies are measured by wrk from the moment a request
-- is written, so time spent waiting for a slot is not counted.
--
-- `done()` prints one machine-readable line, `BENCH key=value ...` (times in microseconds).

local ffi = require("ffi")
ffi.cdef [[
typedef struct { long tv_sec; long tv_nsec; } bench_api_timespec;
int clock_gettime(int clk_id, bench_api_timespec *tp);
]]
local CLOCK_MONOTONIC = 1
local ts = ffi.new("bench_api_timespec")

local function now_us()
  ffi.C.clock_gettime(CLOCK_MONOTONIC, ts)
  return tonumber(ts.tv_sec) * 1e6 + tonumber(ts.tv_nsec) / 1e3
end

local rate = tonumber(os.getenv("BENCH_API_RATE") or "0") or 0
local threads = tonumber(os.getenv("BENCH_API_THREADS") or "1") or 1

-- wrk only waits for `delay()` when the script defines it: closed-loop runs do not.
if rate > 0 then
  local interval_us = 1e6 * threads / rate
  local next_slot = 0
  function delay()
    local now = now_us()
    local slot = math.max(next_slot, now)
    next_slot = slot + interval_us
    return math.floor((slot - now) / 1000 + 0.5)
  end
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "BENCH requests=%d duration_us=%d p50_us=%d p90_us=%d p99_us=%d max_us=%d "
      .. "errors_connect=%d errors_read=%d errors_write=%d errors_status=%d errors_timeout=%d\n",
    summary.requests, summary.duration,
    latency:percentile(50.0), latency:percentile(90.0), latency:percentile(99.0), latency.max,
    e.connect, e.read, e.write, e.status, e.timeout))
end
