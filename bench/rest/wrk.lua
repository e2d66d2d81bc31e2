-- bench/rest: the wrk request script (the optional second load generator, run.ts --generators).
-- Args: <file with one path per line> <threads>. Each thread walks the list from its own
-- offset; every request is one GET of the next path, with the headers given by -H.
-- `done` prints one machine-readable line, WRKJSON {...}, with latency in microseconds.

local paths = {}
local counter = 0
local created = 0

function setup(thread)
  thread:set("tid", created)
  created = created + 1
end

function init(args)
  for line in io.lines(args[1]) do
    paths[#paths + 1] = line
  end
  counter = math.floor((tid or 0) * #paths / tonumber(args[2] or 1))
end

function request()
  counter = counter + 1
  return wrk.format(nil, paths[(counter % #paths) + 1])
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests":%d,"durationUs":%d,"bytes":%d,"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},"latencyUs":{"p50":%d,"p90":%d,"p99":%d,"p999":%d,"max":%d,"mean":%.1f}}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency:percentile(99.9), latency.max, latency.mean))
end
