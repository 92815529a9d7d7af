-- wrk script: replay the URL paths of a file (one a line) in order, each
-- connection starting at its own offset; prints p50/p95/p99 at the end.
--   URLS=paths.txt wrk -t2 -c4 -d20s -s benchmarks/replay.lua http://127.0.0.1:8000
local paths = {}
for line in io.lines(os.getenv("URLS")) do
  paths[#paths + 1] = line
end

local threads = {}
function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

local i = 0
local headers = {}
function init(args)
  i = id * 37
  -- wrk.format() with headers of its own drops those of -H (a session cookie): keep them.
  for name, value in pairs(wrk.headers) do
    headers[name] = value
  end
  headers["Accept-Encoding"] = "gzip"
end

function request()
  i = i + 1
  return wrk.format("GET", paths[(i % #paths) + 1], headers)
end

function done(summary, latency, requests)
  io.write(string.format(
    "wrk: n=%d p50=%.1f p95=%.1f p99=%.1f max=%.1f mean=%.1f ms, %.1f req/s, %d errors\n",
    summary.requests, latency:percentile(50) / 1000, latency:percentile(95) / 1000,
    latency:percentile(99) / 1000, latency.max / 1000, latency.mean / 1000,
    summary.requests / (summary.duration / 1e6),
    summary.errors.connect + summary.errors.read + summary.errors.write
      + summary.errors.status + summary.errors.timeout))
end
