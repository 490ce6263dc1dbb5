"""Build petitions/web/press/world.json, the country shapes of the map, from the world-atlas npm package.

    python tools/worldmap.py [node_modules/world-atlas] > petitions/web/press/world.json   (make world-map)

world-atlas is Natural Earth's Admin 0 countries (public domain) as TopoJSON, with ISO 3166-1
numeric ids. Countries come from the 1:110m file; those too small to be in it (Malta, Singapore,
the small island states) from the 1:50m file, drawn as a dot at the middle of their largest
part so that every country a signer can pick has a shape to colour. Features without an ISO id
(Kosovo, Somaliland, N. Cyprus) are left out. The projection is Natural Earth I (Šavrič, Patterson
and Jenny), as d3-geo's geoNaturalEarth1 draws it; paths are written with whole-unit relative
moves, which keeps the map small while a unit stays below the 1:110m data's own precision.

Only the standard library and pycountry (a dependency of the site) are needed; the output is
the same byte for byte on every run, so tests/tools/test_worldmap.py checks the committed file.
"""

from __future__ import annotations

import itertools
import json
import math
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path

import pycountry

WIDTH = 2000  # units across the whole map
DOT_RADIUS = 3  # units, for the countries only the 1:50m file has
Point = tuple[float, float]


def decode_arcs(topology: dict) -> list[list[Point]]:
    """Every arc of a quantized TopoJSON topology as (longitude, latitude) points."""
    (sx, sy), (tx, ty) = topology["transform"]["scale"], topology["transform"]["translate"]
    arcs = []
    for arc in topology["arcs"]:
        x = y = 0
        points = []
        for dx, dy in arc:  # delta-encoded: each position is the sum of those before
            x, y = x + dx, y + dy
            points.append((x * sx + tx, y * sy + ty))
        arcs.append(points)
    return arcs


def ring(arcs: list[list[Point]], indexes: Iterable[int]) -> list[Point]:
    """One closed ring from its arcs; ~i is arc i reversed, and each arc starts where the last ended."""
    points: list[Point] = []
    for index in indexes:
        arc = arcs[index] if index >= 0 else arcs[~index][::-1]
        points.extend(arc[1:] if points else arc)
    return points


def polygons(geometry: dict, arcs: list[list[Point]]) -> list[list[list[Point]]]:
    """A Polygon's or MultiPolygon's polygons, each a list of rings (outer ring first)."""
    if geometry["type"] == "Polygon":
        return [[ring(arcs, r) for r in geometry["arcs"]]]
    if geometry["type"] == "MultiPolygon":
        return [[ring(arcs, r) for r in polygon] for polygon in geometry["arcs"]]
    return []


def across_antimeridian(points: list[Point]) -> list[list[Point]]:
    """A ring as rings that stay within longitudes -180 to 180, so none is drawn across the whole map.

    Natural Earth's rings of Russia and Fiji step from 180 to -180 and back: made continuous, such a
    ring runs past 180 (or -180), and is drawn twice, once on each side, each copy clipped at the edge.
    A ring that goes round a pole (Antarctica) is closed along the pole's line instead.
    """
    offset, continuous = 0.0, [points[0]]
    for (lon0, _), (lon1, lat1) in zip(points, points[1:], strict=False):
        if abs(lon1 - lon0) > 180:
            offset -= math.copysign(360, lon1 - lon0)
        continuous.append((lon1 + offset, lat1))
    if offset == 0 and all(-180 <= lon <= 180 for lon, _ in continuous):
        return [points]
    if offset != 0:  # round a pole: go down to it at the jump, along it, and back up
        pole = -90.0 if sum(lat for _, lat in points) < 0 else 90.0
        closed: list[Point] = [points[0]]
        for (lon0, _), (lon1, lat1) in zip(points, points[1:], strict=False):
            if abs(lon1 - lon0) > 180:
                closed += [(math.copysign(180, lon0), pole), (math.copysign(180, lon1), pole)]
            closed.append((lon1, lat1))
        return [closed]
    copies = [_clip([(lon + shift, lat) for lon, lat in continuous]) for shift in (0, 360, -360)]
    return [c for c in copies if len(c) >= 3]


def _clip(points: list[Point]) -> list[Point]:
    """The ring clipped to longitudes -180 to 180 (Sutherland-Hodgman, one edge after the other)."""
    for inside, edge in ((lambda lon: lon <= 180, 180.0), (lambda lon: lon >= -180, -180.0)):
        kept: list[Point] = []
        for a, b in zip(points, points[1:] + points[:1], strict=True):
            if inside(b[0]) != inside(a[0]):  # the edge crosses: where, by the longitude
                t = (edge - a[0]) / (b[0] - a[0])
                kept.append((edge, a[1] + t * (b[1] - a[1])))
            if inside(b[0]):
                kept.append(b)
        points = kept
        if not points:
            break
    return points


def natural_earth(lam: float, phi: float) -> Point:
    """Natural Earth I of a point in radians, unscaled, y growing northwards."""
    phi2 = phi * phi
    phi4 = phi2 * phi2
    x = lam * (0.8707 - 0.131979 * phi2 + phi4 * (-0.013791 + phi4 * (0.003971 * phi2 - 0.001529 * phi4)))
    y = phi * (1.007226 + phi2 * (0.015085 + phi4 * (-0.044475 + 0.028874 * phi2 - 0.005916 * phi4)))
    return x, y


HALF_WIDTH, HALF_HEIGHT = natural_earth(math.pi, 0)[0], natural_earth(0, math.pi / 2)[1]
SCALE = WIDTH / (2 * HALF_WIDTH)
HEIGHT = math.ceil(2 * HALF_HEIGHT * SCALE)


def project(lon: float, lat: float) -> Point:
    """A point in degrees on the map: WIDTH units across, from (0, 0) at the top left, y growing southwards."""
    x, y = natural_earth(math.radians(lon), math.radians(lat))
    return (x + HALF_WIDTH) * SCALE, (HALF_HEIGHT - y) * SCALE


def _area(points: list[Point]) -> float:
    return abs(sum(x0 * y1 - x1 * y0 for (x0, y0), (x1, y1) in zip(points, points[1:] + points[:1], strict=True))) / 2


def path(rings: Iterable[list[Point]]) -> str:
    """SVG path data for projected rings: whole units, relative moves, repeated points dropped."""
    out = []
    for points in rings:
        moves: list[tuple[int, int]] = []
        for x, y in points:
            p = (round(x), round(y))
            if not moves or p != moves[-1]:
                moves.append(p)
        if len(moves) > 1 and moves[-1] == moves[0]:
            moves.pop()  # z closes the ring
        if len(moves) < 3:
            continue  # smaller than a unit: nothing to see
        (x0, y0), rest = moves[0], moves[1:]
        steps = "".join(_pair(x1 - xa, y1 - ya) for (xa, ya), (x1, y1) in zip(moves, rest, strict=False))
        out.append(f"M{x0} {y0}l{steps.lstrip(' ')}z")
    return "".join(out)


def _pair(dx: int, dy: int) -> str:
    """One relative move, separated from the one before only where a minus sign does not do it."""
    return f"{' ' if dx >= 0 else ''}{dx}{' ' if dy >= 0 else ''}{dy}"


def dot(x: float, y: float, r: int = DOT_RADIUS) -> str:
    """A small disc as path data (two arcs), for a country too small for the 1:110m shapes."""
    return f"M{round(x) - r} {round(y)}a{r} {r} 0 1 0 {2 * r} 0a{r} {r} 0 1 0 {-2 * r} 0z"


def alpha2(numeric: str | None) -> str | None:
    """ISO 3166-1 alpha-2 of a numeric id, or None (no id, or one ISO does not list)."""
    if not numeric:
        return None
    country = pycountry.countries.get(numeric=numeric)
    return country.alpha_2 if country else None


def _features(topology: dict) -> Iterator[tuple[str, list[list[list[Point]]]]]:
    arcs = decode_arcs(topology)
    for geometry in topology["objects"]["countries"]["geometries"]:
        code = alpha2(geometry.get("id"))
        if code:
            projected = [
                [[project(lon, lat) for lon, lat in part] for r in polygon for part in across_antimeridian(r)]
                for polygon in polygons(geometry, arcs)
            ]
            yield code, projected


def shapes(small: dict, medium: dict) -> tuple[dict[str, str], int]:
    """Path data by alpha-2 code, and the height of the map: 1:110m shapes, dots for the countries only
    1:50m has (or too small to draw at this scale), all moved up to start at the top of the land."""
    large = list(_features(small))
    top = math.floor(min(y for _, projected in large for polygon in projected for r in polygon for _, y in r)) - 1

    def up(points: list[Point]) -> list[Point]:
        return [(x, y - top) for x, y in points]

    found: dict[str, str] = {}
    for code, projected in large:
        found[code] = found.get(code, "") + path(up(r) for polygon in projected for r in polygon)
    for code, projected in itertools.chain(large, _features(medium)):
        if found.get(code) or not projected:
            continue
        outer = up(max((polygon[0] for polygon in projected), key=_area))
        xs, ys = [x for x, _ in outer], [y for _, y in outer]
        found[code] = dot((min(xs) + max(xs)) / 2, (min(ys) + max(ys)) / 2)
    return {code: d for code, d in sorted(found.items()) if d}, HEIGHT - top


def build(package: Path) -> dict[str, object]:
    """The document world.json holds."""
    small = json.loads((package / "countries-110m.json").read_text())
    medium = json.loads((package / "countries-50m.json").read_text())
    version = json.loads((package / "package.json").read_text())["version"]
    found, height = shapes(small, medium)
    return {
        "source": f"world-atlas {version} (Natural Earth, public domain), made by tools/worldmap.py",
        "width": WIDTH,
        "height": height,
        "shapes": found,
    }


def dumps(doc: dict[str, object]) -> str:
    """One country a line, so a new edition of the shapes shows as a readable diff."""
    shapes = doc["shapes"]
    if not isinstance(shapes, dict):
        raise TypeError("shapes must be a dict")
    head = {k: v for k, v in doc.items() if k != "shapes"}
    lines = ",\n".join(f"{json.dumps(code)}:{json.dumps(d)}" for code, d in shapes.items())
    return json.dumps(head, ensure_ascii=False)[:-1] + ',"shapes":{\n' + lines + "\n}}\n"


def main(argv: list[str]) -> int:
    """Write world.json for the package folder given (default node_modules/world-atlas) to standard output."""
    package = Path(argv[1]) if len(argv) > 1 else Path(__file__).resolve().parent.parent / "node_modules/world-atlas"
    sys.stdout.write(dumps(build(package)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
