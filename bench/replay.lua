-- Replays pre-signed POST requests from a file, each once, split between wrk's threads.
--
--   WRK_ACKED=FILE wrk -t1 -c64 -d10s -s bench/replay.lua URL -- REQUESTS THREADS
--
-- REQUESTS holds one request a line: id TAB path TAB content type TAB header TAB value TAB body.
-- Each request carries its id as X-Request-Id; the gateway echoes it, so the ids answered 200
-- are written to the file WRK_ACKED names, one a line, in the order the answers came
-- (answers of servers that do not echo it are only counted). A thread that runs out of requests starts its share again: the
-- summary then says "wrapped", and the file was too short for the run.
-- done() prints one JSON line: requests answered, 200s, other statuses, socket errors,
-- seconds, latency percentiles (ms).

local threads = {}
local counter = 0

function setup(thread)
  thread:set("tid", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

function init(args)
  local file, nthreads = args[1], tonumber(args[2])
  requests = {}
  local i = 0
  for line in io.lines(file) do
    if i % nthreads == tid then
      local id, path, ctype, name, value, body =
        line:match("^([^\t]*)\t([^\t]*)\t([^\t]*)\t([^\t]*)\t([^\t]*)\t(.*)$")
      local headers = { ["Content-Type"] = ctype, ["X-Request-Id"] = id }
      if name ~= "" then
        headers[name] = value
      end
      requests[#requests + 1] = wrk.format("POST", path, headers, body)
    end
    i = i + 1
  end
  sent, ok, other, wrapped = 0, 0, 0, 0
  acked = {}
end

function request()
  sent = sent + 1
  if sent > #requests then
    wrapped = 1
  end
  return requests[((sent - 1) % #requests) + 1]
end

function response(status, headers, body)
  if status == 200 then
    ok = ok + 1
    local id = headers["X-Request-Id"] or headers["x-request-id"]
    if id then
      acked[#acked + 1] = id
    end
  else
    other = other + 1
  end
end

function done(summary, latency, requests)
  local ok_all, other_all, sent_all, wrapped_all = 0, 0, 0, 0
  local out = io.open(os.getenv("WRK_ACKED"), "w")
  for _, thread in ipairs(threads) do
    ok_all = ok_all + thread:get("ok")
    other_all = other_all + thread:get("other")
    sent_all = sent_all + thread:get("sent")
    wrapped_all = math.max(wrapped_all, thread:get("wrapped"))
    for _, id in ipairs(thread:get("acked")) do
      out:write(id, "\n")
    end
  end
  out:close()
  local errors = summary.errors
  io.write(string.format(
    '{"answered": %d, "ok": %d, "other": %d, "sent": %d, "wrapped": %d, "socket_errors": %d, '
      .. '"seconds": %.4f, "p50_ms": %.3f, "p90_ms": %.3f, "p99_ms": %.3f, "max_ms": %.3f}\n',
    summary.requests, ok_all, other_all, sent_all, wrapped_all,
    errors.connect + errors.read + errors.write + errors.timeout,
    summary.duration / 1e6,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000,
    latency:percentile(99) / 1000, latency.max / 1000))
end
