-- wrk script for the benchmarks (ingest.py, allocation.py): POST prebuilt requests,
-- each one once.
--
-- Thread N reads STREAM.N (written by ingest.write_stream): one request per line,
-- "<path or empty for the URL's>\t<Name: value;Name: value>\t<body>". Requests are
-- built once in init(), so the timed loop only hands out the next prebuilt request.
-- BENCH_PACE_MS set: every request waits a random 0.5–1.5 × that many ms first
-- (wrk's delay()), so C connections send about C × 1000 / BENCH_PACE_MS per second.
-- done() prints one line "BENCH {json}" with wrk's figures and how many requests
-- each thread handed out (the bench checks the database against that).

local threads = {}
local next_id = 0

function setup(thread)
   thread:set("id", next_id)
   next_id = next_id + 1
   table.insert(threads, thread)
end

function init(args)
   local stream = args[1]
   prebuilt = {}
   issued = 0
   exhausted = 0
   for line in io.lines(stream .. "." .. id) do
      local path, header_text, body = line:match("^([^\t]*)\t([^\t]*)\t(.*)$")
      local headers = {}
      for name, value in header_text:gmatch("([^:;]+): ([^;]*)") do
         headers[name] = value
      end
      prebuilt[#prebuilt + 1] = wrk.format("POST", path ~= "" and path or nil, headers, body)
   end
   math.randomseed(12345 + id)
end

local pace = tonumber(os.getenv("BENCH_PACE_MS") or "")
if pace and pace > 0 then
   function delay()
      return pace * (0.5 + math.random())
   end
end

function request()
   if issued >= #prebuilt then
      exhausted = 1  -- the bench refuses the run: its stream was too short
      return wrk.format("GET", "/healthz")
   end
   issued = issued + 1
   return prebuilt[issued]
end

function done(summary, latency, requests)
   local issued_by_thread = {}
   local exhausted_threads = 0
   for _, thread in ipairs(threads) do
      table.insert(issued_by_thread, tostring(thread:get("issued")))
      exhausted_threads = exhausted_threads + thread:get("exhausted")
   end
   local e = summary.errors
   io.write(string.format(
      'BENCH {"requests": %d, "duration_us": %d, "connect_errors": %d, "read_errors": %d, '
      .. '"write_errors": %d, "status_errors": %d, "timeouts": %d, "p50_us": %d, '
      .. '"p90_us": %d, "p99_us": %d, "p999_us": %d, "max_us": %d, "issued": [%s], '
      .. '"exhausted_threads": %d}\n',
      summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
      latency:percentile(50), latency:percentile(90), latency:percentile(99),
      latency:percentile(99.9), latency.max, table.concat(issued_by_thread, ", "),
      exhausted_threads))
end
