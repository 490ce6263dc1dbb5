-- wrk script: POST the signing form with a fresh address and a fresh form stamp each time, as
-- people each signing from the page they opened (one session, one CSRF token).
-- BENCH_STAMPS names a file of form stamps, one per line; wrk's threads take turns through it
-- (a stamp used twice makes the second signing suspected: the benchmark checks none was).
-- BENCH_RUN, when set, makes the addresses of one run differ from those of another.
local counter = 0
local thread_id = 0
local threads = {}

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

function init(args)
  thread_id = id
  stamps = {}
  local n = 0
  for line in io.lines(os.getenv("BENCH_STAMPS")) do
    if n % tonumber(os.getenv("BENCH_THREADS")) == id then
      table.insert(stamps, line)
    end
    n = n + 1
  end
  form_prefix = "csrf_token=" .. os.getenv("BENCH_CSRF") .. "&name=Bench+Signer&country=GB&email=" .. (os.getenv("BENCH_RUN") or "")
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
  wrk.headers["Cookie"] = os.getenv("BENCH_COOKIE")
end

function request()
  counter = counter + 1
  local stamp = stamps[(counter - 1) % #stamps + 1]
  return wrk.format(nil, nil, nil, form_prefix .. "t" .. thread_id .. "-" .. counter .. "%40example.org&started=" .. stamp)
end
