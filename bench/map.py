"""Benchmark: the world map's size as served (target under 150 kB, under 60 kB gzipped), and its cost.

The map is drawn from petitions/web/press/world.json (tools/worldmap.py) for three petitions: one
without signatures, one signed from ten countries, and one signed from every country in the
largest colour step (the most markup there can be). Printed: bytes as served, gzipped (level 6,
as nginx and most CDNs compress) and the time to draw one, beside the time to draw the badge-sized
JSON of the count in the same run, for scale.

Run: .venv/bin/python bench/map.py
"""

from __future__ import annotations

import gzip
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from petitions.infra.countries import country_names  # noqa: E402
from petitions.web.press import maps  # noqa: E402

ROUNDS = 200


def per_call(fn, rounds: int = ROUNDS) -> float:
    """Best of three runs of `rounds` calls, in microseconds per call."""
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(rounds):
            fn()
        best = min(best, (time.perf_counter() - start) / rounds)
    return best * 1e6


def main() -> None:
    """Print the table."""
    ten = dict(zip(["GB", "US", "FR", "DE", "ES", "IT", "IE", "CA", "AU", "MT"], range(50_000, 0, -5_000), strict=True))
    cases = {
        "no signatures": {},
        "10 countries": ten,
        "every country, 1,234,567 each": {code: 1_234_567 for code in country_names()},
    }
    count_doc = {"slug": "x", "signature_count": 1234567, "goal": 2000000, "status": "open", "updated_at": "now"}
    json_us = per_call(lambda: json.dumps(count_doc, separators=(",", ":")), 20_000)
    print(f"World map (GET /petitions/<slug>/map.svg), {len(maps.world()['shapes'])} country shapes")
    print(f"{'petition':<32}{'bytes':>10}{'gzip -6':>10}{'draw (µs)':>12}{'x count JSON':>14}")
    for name, by_country in cases.items():
        svg = maps.render("A petition title of average length, about sixty characters", by_country).encode()
        us = per_call(lambda by_country=by_country: maps.render("t", by_country))
        print(f"{name:<32}{len(svg):>10,}{len(gzip.compress(svg, 6)):>10,}{us:>12,.0f}{us / json_us:>14,.0f}")
    print("Targets: under 150,000 bytes, under 60,000 gzipped.")


if __name__ == "__main__":
    main()
