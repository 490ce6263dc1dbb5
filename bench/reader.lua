-- wrk script: each connection is one reader polling the URL every BENCH_INTERVAL_MS or so (a count
-- widget, a page left open and reloaded), not a flood: wrk waits between a reader's requests
-- and times only the answers. The wait varies by up to a half either way, so readers do not
-- poll in step.
local interval = tonumber(os.getenv("BENCH_INTERVAL_MS") or "1000")

function delay()
  return math.random(math.floor(interval / 2), math.floor(interval * 3 / 2))
end
