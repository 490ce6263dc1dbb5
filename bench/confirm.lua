-- wrk script: press "Confirm my signature" for a different pending signature each time.
-- BENCH_TOKENS names a file of /verify/<token> paths, one per line; wrk's threads take turns
-- through it, so no link is pressed twice unless the file runs out (then the ends are repeats).
local threads = {}

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
  thread:set("count", 0)
end

function init(args)
  paths = {}
  local n = 0
  for line in io.lines(os.getenv("BENCH_TOKENS")) do
    if n % tonumber(os.getenv("BENCH_THREADS")) == id then
      table.insert(paths, line)
    end
    n = n + 1
  end
  next_path = 1
  body = "csrf_token=" .. os.getenv("BENCH_CSRF")
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
  wrk.headers["Cookie"] = os.getenv("BENCH_COOKIE")
end

function request()
  local path = paths[next_path]
  next_path = next_path % #paths + 1
  count = count + 1
  return wrk.format(nil, path, nil, body)
end

function done(summary, latency, requests)
  local sent = 0
  for _, thread in ipairs(threads) do
    sent = sent + thread:get("count")
  end
  io.write(string.format("links pressed: %d\n", sent))
end
