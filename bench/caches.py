"""The per-process TTL cache: the hand-made one (petitions/infra/ttlcache.py) against cachetools, side by side.

Both caches answer what a viral petition's readers all ask for: the count document and what
signing needs of a petition, with the shipped settings (COUNT_MAX_AGE and PETITION_CACHE_SECONDS
as in petitions/config.py, 10,000 keys). cachetools is used as its documentation says for
threads: a TTLCache behind cachetools.cached with a lock, the key the slug itself.

Two figures, each the median over rounds that alternate the two caches (so a drift of the
machine falls on both): a hit on one of 100 hot keys, and a miss that loads and stores a new
key. The noise line times the hand-made cache against a second copy of itself the same way:
a ratio no further from 1 than that line's is no difference at all.

Run with `make bench`, or alone: .venv/bin/python bench/caches.py (no database needed).
"""

from __future__ import annotations

import os
import statistics
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import cachetools

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from petitions.config import Defaults, cache_budget  # noqa: E402
from petitions.infra.ttlcache import TTLCache  # noqa: E402

ROUNDS = int(os.environ.get("BENCH_CACHE_ROUNDS", "300"))
CALLS = 2_000  # per timed batch: well inside the shortest TTL, so every hit stays a hit
HOT = [f"petition-{n}" for n in range(100)]
SIZE = 10_000  # the hand-made cache's default, which both callers use


def load(slug: str) -> dict[str, str]:
    """What a loader returns, minus the database: a small document."""
    return {"slug": slug}


Run = Callable[[list[str]], None]  # looks every key up in one cache, as its callers do
Maker = Callable[[float], Run]


def hand_made(ttl: float) -> Run:
    cache: TTLCache[dict[str, str]] = TTLCache(ttl, SIZE)

    def run(keys: list[str]) -> None:
        for key in keys:
            cache.get(key, load)

    return run


def library(ttl: float) -> Run:
    # key=str: a slug is its own key (str of a str is the same object), the cheapest key there is.
    get = cachetools.cached(cachetools.TTLCache(maxsize=SIZE, ttl=ttl), key=str, lock=threading.Lock())(load)

    def run(keys: list[str]) -> None:
        for key in keys:
            get(key)

    return run


def per_call(run: Run, keys: list[str]) -> float:
    """Seconds per lookup of a run over the keys, timed as one batch."""
    t = time.perf_counter()
    run(keys)
    return (time.perf_counter() - t) / len(keys)


def hit(make: Maker, ttl: float) -> float:
    run = make(ttl)
    run(HOT)  # primed: every timed lookup is a hit
    return per_call(run, (HOT * (CALLS // len(HOT) + 1))[:CALLS])


def miss(make: Maker, ttl: float, round_no: int) -> float:
    run = make(ttl)  # empty: every timed lookup loads and stores a key never asked before
    return per_call(run, [f"new-{round_no}-{n}" for n in range(CALLS)])


def side_by_side(a: Maker, b: Maker, ttl: float) -> tuple[float, float, float, float]:
    """Median seconds per call of a and b on hits, then on misses, in alternating rounds."""
    samples: list[list[float]] = [[], [], [], []]
    for round_no in range(ROUNDS + 10):
        order = [(a, 0), (b, 1)] if round_no % 2 == 0 else [(b, 1), (a, 0)]
        for make, side in order:
            h, m = hit(make, ttl), miss(make, ttl, round_no)
            if round_no >= 10:  # the first rounds warm up
                samples[side].append(h)
                samples[2 + side].append(m)
    a_hit, b_hit, a_miss, b_miss = (statistics.median(s) for s in samples)
    return a_hit, b_hit, a_miss, b_miss


def main() -> None:
    count_ttl = cache_budget({"COUNT_MAX_AGE": Defaults.COUNT_MAX_AGE})[0] / 2  # as live.count_cache
    brief_ttl = float(Defaults.PETITION_CACHE_SECONDS)  # as web/queries.visible_petition_brief_or_404
    print(
        f"caches: the hand-made TTL cache vs cachetools {cachetools.__version__} (TTLCache, cached with a lock),"
        f" median of {ROUNDS} alternated rounds of {CALLS:,} calls, one thread"
    )
    print(f"{'cache (TTL)':<28}{'path':<16}{'hand-made (ns)':>16}{'cachetools (ns)':>17}{'ratio':>8}")
    for label, ttl in ((f"count ({count_ttl:g} s)", count_ttl), (f"petition brief ({brief_ttl:g} s)", brief_ttl)):
        ours_hit, theirs_hit, ours_miss, theirs_miss = side_by_side(hand_made, library, ttl)
        for path, ours, theirs in (("get, hit", ours_hit, theirs_hit), ("get, miss+set", ours_miss, theirs_miss)):
            print(f"{label:<28}{path:<16}{ours * 1e9:>16.0f}{theirs * 1e9:>17.0f}{theirs / ours:>8.2f}")
    same_hit, again_hit, same_miss, again_miss = side_by_side(hand_made, hand_made, count_ttl)
    print(
        f"noise: the hand-made cache against itself: hit {again_hit / same_hit:.2f},"
        f" miss+set {again_miss / same_miss:.2f} (1.00 is none)"
    )
    print("ratio: cachetools' time per call over the hand-made one's; above 1, cachetools is slower")


if __name__ == "__main__":
    main()
