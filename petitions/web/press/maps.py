"""The world map of a petition's signatures by country: an SVG choropleth, cacheable like the badge.

The shapes are world.json beside this file, made from Natural Earth's public-domain countries by
tools/worldmap.py (`make world-map`), never edited by hand. Each country is one <path> with its
ISO alpha-2 code and count in `data-country` and `data-count`, and a <title> that a pointer's
hover and a screen reader both find; the petition page puts the same numbers in a table beside it.
"""

from __future__ import annotations

import json
import math
from functools import cache
from pathlib import Path
from typing import Any

from flask import current_app
from flask_babel import get_locale, gettext, ngettext
from markupsafe import escape
from werkzeug.wrappers import Response

from petitions.counting import counts
from petitions.infra.countries import country_names
from petitions.web.http import cacheable
from petitions.web.i18n import thousands
from petitions.web.press import bp
from petitions.web.queries import public_petition_or_404

WORLD = Path(__file__).with_name("world.json")
# ColorBrewer's YlGnBu, a sequential palette safe for every common colour blindness, lightest
# step left out so that "a few" stays apart from the grey of "none". Fewer classes take the darkest.
PALETTE = ("#c7e9b4", "#7fcdbb", "#41b6c4", "#2c7fb8", "#253494")
NONE = "#e3e3e3"
LEGEND_HEIGHT = 80  # map units below the land for the legend
# Shown width in CSS pixels; the drawing scales with it.
WIDTH = 960


@cache
def world() -> dict[str, Any]:
    """The shapes: {"width", "height", "shapes": {alpha-2: path data}}, read once per process."""
    doc: dict[str, Any] = json.loads(WORLD.read_text(encoding="utf-8"))
    return doc


def size() -> tuple[int, int]:
    """The map's width and height in CSS pixels, for an <img> of it."""
    data = world()
    return WIDTH, round(WIDTH * (data["height"] + LEGEND_HEIGHT) / data["width"])


bp.add_app_template_global(size, "map_size")


def classes(most: int) -> list[int]:
    """The lower bound of each colour step: 1, then up to four powers of ten ending at the largest count's.

    Counts by country spread over orders of magnitude (thousands from one country, a handful from
    most), so steps by decades keep the small ones visible and each step's label is a round number.
    """
    if most < 10:
        return [1]
    top = int(math.log10(most))
    return [1] + [10**k for k in range(max(1, top - 3), top + 1)]


def label(bounds: list[int], i: int) -> str:
    """The legend's words for step i: "1–999", "1,000–9,999", "1,000,000 or more" (in the page's locale)."""
    if i == len(bounds) - 1:
        return gettext("%(num)s or more", num=thousands(bounds[i]))
    return f"{thousands(bounds[i])}–{thousands(bounds[i + 1] - 1)}"


def step(bounds: list[int], n: int) -> int:
    """The colour step of a count: 0 for none, else 1 + the index of the last bound it reaches."""
    return 0 if n <= 0 else sum(1 for b in bounds if n >= b)


def _plural(n: int) -> str:
    return ngettext("%(count)s signature", "%(count)s signatures", n, count=thousands(n))


def render(title: str, by_country: dict[str, int]) -> str:
    """The map as an SVG document for a petition titled `title` with these counts by country."""
    data = world()
    width, height = data["width"], data["height"]
    shown_width, shown_height = size()
    names = country_names(str(get_locale() or "en"))
    bounds = classes(max(by_country.values(), default=0))
    colours = (NONE, *PALETTE[len(PALETTE) - len(bounds) :])
    total = sum(by_country.values())
    none = gettext("no signatures")
    top = ", ".join(f"{names.get(code, code)} {thousands(n)}" for code, n in list(by_country.items())[:5])
    summary = ngettext(
        "%(signatures)s from %(count)s country",
        "%(signatures)s from %(count)s countries",
        len(by_country),
        signatures=_plural(total),
        count=thousands(len(by_country)),
    )
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height + LEGEND_HEIGHT}" '
        f'width="{shown_width}" height="{shown_height}" aria-labelledby="map-title map-desc">',
        f'<title id="map-title">{escape(gettext("%(title)s: signatures by country", title=title))}</title>',
        f'<desc id="map-desc">{summary}{": " + escape(top) if top else ""}.</desc>',
        "<style>path{stroke:#fff;stroke-width:.8}text{font:26px system-ui,sans-serif;fill:#1a1a1a}"
        + "".join(f".c{i}{{fill:{c}}}" for i, c in enumerate(colours))
        + "</style>",
        f'<rect width="{width}" height="{height + LEGEND_HEIGHT}" fill="#fff"/>',
        "<g>",
    ]
    for code, d in data["shapes"].items():
        n = by_country.get(code, 0)
        name = escape(names.get(code, code))
        said = _plural(n) if n else none
        out.append(
            f'<path data-country="{code}" data-count="{n}" class="c{step(bounds, n)}" d="{d}">'
            f"<title>{name}: {escape(said)}</title></path>"
        )
    out.append(f'</g><g transform="translate(20 {height + 20})">')
    x = 0
    # TRANSLATORS: the map's legend for the countries with no signatures.
    for i, words in enumerate([gettext("none"), *(label(bounds, i) for i in range(len(bounds)))]):
        out.append(f'<rect x="{x}" width="36" height="36" class="c{i}" stroke="#767676"/>')
        out.append(f'<text x="{x + 46}" y="27">{escape(words)}</text>')
        x += 46 + 16 * len(words) + 40
    out.append("</g></svg>")
    return "\n".join(out)


@bp.get("/petitions/<slug>/map.svg")
def world_map(slug: str) -> Response:
    """A world choropleth of the petition's signatures by country, cacheable and CORS open like the badge;
    its words in the language of ?lang= (web/i18n.py), else DEFAULT_LOCALE."""
    petition = public_petition_or_404(slug)
    svg = render(petition.title, counts.by_country(petition.id))
    response = current_app.response_class(svg, mimetype="image/svg+xml")
    response.headers["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'"
    return cacheable(response)
