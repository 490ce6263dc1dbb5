-- wrk script: POST the signing form with a fresh address each time (one session, one CSRF token).
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
  form_prefix = "csrf_token=" .. os.getenv("BENCH_CSRF") .. "&started=" .. os.getenv("BENCH_STARTED") ..
                "&name=Bench+Signer&country=GB&email=" .. (os.getenv("BENCH_RUN") or "")
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
  wrk.headers["Cookie"] = os.getenv("BENCH_COOKIE")
end

function request()
  counter = counter + 1
  return wrk.format(nil, nil, nil, form_prefix .. "t" .. thread_id .. "-" .. counter .. "%40example.org")
end
