"""The map's shapes: made from the world-atlas package by tools/worldmap.py, and nothing else."""

from __future__ import annotations

import json
import sys

import pytest

from petitions.infra.countries import country_names
from tests.helpers import ROOT

sys.path.insert(0, str(ROOT / "tools"))
import worldmap  # noqa: E402

PACKAGE = ROOT / "node_modules" / "world-atlas"
COMMITTED = ROOT / "petitions" / "web" / "press" / "world.json"


def test_the_committed_shapes_are_the_converters_output_of_the_package() -> None:
    if not (PACKAGE / "countries-110m.json").exists():
        pytest.fail(f"world-atlas is missing at {PACKAGE}: run 'npm ci'")
    assert worldmap.dumps(worldmap.build(PACKAGE)) == COMMITTED.read_text(encoding="utf-8"), "run 'make world-map'"


def test_arcs_are_decoded_from_quantized_deltas_and_reversed_by_their_complement() -> None:
    topology = {"transform": {"scale": [0.5, 0.25], "translate": [-10, 20]}, "arcs": [[[0, 0], [2, 4], [2, -4]]]}
    arcs = worldmap.decode_arcs(topology)
    assert arcs == [[(-10, 20), (-9, 21), (-8, 20)]]
    assert worldmap.ring(arcs, [0, ~0]) == [(-10, 20), (-9, 21), (-8, 20), (-9, 21), (-10, 20)]


def test_a_ring_across_the_antimeridian_is_drawn_on_both_sides_and_one_round_a_pole_along_it() -> None:
    across = [(170.0, 10.0), (-170.0, 10.0), (-170.0, 0.0), (170.0, 0.0), (170.0, 10.0)]
    parts = worldmap.across_antimeridian(across)
    assert len(parts) == 2
    assert all(-180 <= lon <= 180 for part in parts for lon, _ in part)
    assert {round(min(lon for lon, _ in p)) for p in parts} == {-180, 170}
    polar = [(-180.0, -70.0), (0.0, -70.0), (180.0, -70.0), (-180.0, -70.0)]
    (closed,) = worldmap.across_antimeridian(polar)
    assert (180.0, -90.0) in closed and (-180.0, -90.0) in closed


def test_the_projection_is_natural_earth_and_paths_are_relative_whole_units() -> None:
    assert worldmap.project(-180, 0)[0] == pytest.approx(0)
    assert worldmap.project(180, 0)[0] == pytest.approx(worldmap.WIDTH)
    assert worldmap.path([[(0.2, 0.4), (10.4, 0.2), (10.0, 10.0), (0.0, 10.0), (0.0, 0.0)]]) == "M0 0l10 0 0 10-10 0z"
    assert worldmap.path([[(0.1, 0.1), (0.2, 0.2), (0.3, 0.1)]]) == ""  # under a unit: nothing to draw


def test_every_shape_is_an_iso_country_and_small_countries_get_a_dot() -> None:
    doc = json.loads(COMMITTED.read_text(encoding="utf-8"))
    shapes = doc["shapes"]
    assert len(shapes) > 230
    assert set(shapes) <= set(country_names())
    assert shapes["FR"].startswith("M") and "a" not in shapes["FR"]
    for small in ("MT", "SG", "MC", "LI"):
        assert "a3 3 0 1 0" in shapes[small], small
