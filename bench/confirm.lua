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
  size = #paths
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
  -- Each thread presses the links of its own share of the file: one faster than the other
  -- comes to the end of its share first and starts again, pressing links a second time.
  local sent, again = 0, 0
  for _, thread in ipairs(threads) do
    local count, size = thread:get("count"), thread:get("size")
    sent = sent + count
    if count > size then
      again = again + count - size
    end
  end
  io.write(string.format("links pressed: %d\nlinks pressed again: %d\n", sent, again))
end
