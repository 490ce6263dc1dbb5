"""The widget, the badge, oEmbed and live events. The widget may be framed by any site and sets no cookie."""

from __future__ import annotations

import random
from urllib.parse import parse_qs, urlsplit

from babel import numbers
from flask import abort, current_app, render_template, request
from flask_babel import format_decimal, get_locale, gettext, ngettext
from markupsafe import escape
from sqlalchemy import select
from werkzeug.wrappers import Response

from petitions.clock import utcnow
from petitions.counting import counts
from petitions.extensions import N_, current_app_object, db
from petitions.infra.live import busy, cached_count, count_doc, stream
from petitions.infra.mail import external_url
from petitions.models import Petition
from petitions.transparency import receipts
from petitions.web.http import cacheable, json_response
from petitions.web.i18n import supported
from petitions.web.press import bp
from petitions.web.press.snippets import CHART_HEIGHT, CHART_WIDTH, WIDGET_HEIGHT, WIDGET_WIDTH, chart_code, widget_code
from petitions.web.queries import public_petition_or_404
from petitions.web.security import frameable
from petitions.web.verifiable import cached_log_status, log_status

# Seconds before a reader turned away by a full process should try a stream again (on average).
BUSY_RETRY_SECONDS = 30

# The petition page's embed box shows {{ embed_code(petition) }}: the snippet, escaped once by the template.
bp.add_app_template_global(widget_code, "embed_code")


@bp.get("/embed/<slug>")
@frameable
def widget(slug: str) -> Response:
    """A small live counter card for an <iframe>: no cookies, no third-party requests.

    In the language of its `?lang=`, else of the reader's Accept-Language (and then it says
    `Vary: Accept-Language`): web/i18n.py's selector decides, and its docstring says why.
    """
    petition = public_petition_or_404(slug)
    theme = "dark" if request.args.get("theme") == "dark" else "light"
    locale = get_locale()
    html = render_template(
        "press/widget.html",
        petition=petition,
        status=petition.effective_status(utcnow()),
        groups=counts.public_groups(petition.id),
        theme=theme,
        # What widget.js puts between groups of digits when the count moves (1,234; 1.234; 1 234).
        group_symbol=numbers.get_group_symbol(locale) if locale is not None else ",",
        petition_url=external_url("public.petition", slug=petition.slug),
        log=log_status(petition.id, petition.slug),
        verify_url=receipts.verify_url(petition.slug),
    )
    response = current_app.response_class(html, mimetype="text/html")
    return cacheable(response)


BADGE = (
    '<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="20" role="img" aria-label="{label}: {value}">\n'
    "<title>{label}: {value}{verifiable}</title>\n"
    '<linearGradient id="s" x2="0" y2="100%"><stop offset="0" stop-color="#bbb" stop-opacity=".1"/>'
    '<stop offset="1" stop-opacity=".1"/></linearGradient>\n'
    '<clipPath id="r"><rect width="{w}" height="20" rx="3" fill="#fff"/></clipPath>\n'
    '<g clip-path="url(#r)"><rect width="{lw}" height="20" fill="#1d3557"/>'
    '<rect x="{lw}" width="{vw}" height="20" fill="#00703c"/><rect width="{w}" height="20" fill="url(#s)"/></g>\n'
    '<g fill="#fff" text-anchor="middle" font-family="Verdana,Geneva,DejaVu Sans,sans-serif" font-size="11">\n'
    '<text x="{lx}" y="14">{label}</text><text x="{vx}" y="14">{value}</text></g>\n'
    "</svg>"
)


def _verifiable(slug: str) -> str:
    """What the badge's title adds: the public log's latest checkpoint, and where to check it."""
    log = cached_log_status(slug)
    if log is None:
        return " " + gettext("(public log starting: %(url)s)", url=receipts.verify_url(slug))
    entries = ngettext("%(n)s entry", "%(n)s entries", log.size, n=format_decimal(log.size))
    return " " + gettext(
        "(independently verifiable: %(entries)s in its public log, root %(root)s… %(url)s)",
        entries=entries,
        root=log.short_root,
        url=log.verify_url,
    )


def _text_width(text: str) -> int:
    return int(len(text) * 6.8) + 12


@bp.get("/petitions/<slug>/badge.svg")
def badge(slug: str) -> Response:
    """An SVG badge with the count, cacheable like the JSON."""
    doc = cached_count(slug)
    if doc is None:
        abort(404, description=N_("No petition has that slug."))
    # In the language of its ?lang=, else DEFAULT_LOCALE, never Accept-Language: the micro-cache replays
    # it by its path alone (web/i18n.py).
    label = request.args.get("label", "")[:30] or gettext("signatures")
    value = format_decimal(doc["signature_count"])
    lw, vw = _text_width(label), _text_width(value)
    verifiable = escape(_verifiable(slug))
    svg = BADGE.format(
        w=lw + vw, lw=lw, vw=vw, lx=lw / 2, vx=lw + vw / 2, label=escape(label), value=value, verifiable=verifiable
    )
    response = current_app.response_class(svg, mimetype="image/svg+xml")
    response.headers["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'"
    return cacheable(response)


@bp.get("/oembed")
def oembed() -> Response:
    """oEmbed (rich type) for a petition URL of this site: the widget's iframe, in the language of `lang`
    (of the oEmbed URL, else of the petition URL given), or without one each reader's; the chart's
    iframe for a chart URL."""
    fmt = request.args.get("format", "json")
    if fmt != "json":
        return json_response({"error": "Only format=json is supported."}, 501)
    url = request.args.get("url", "")
    base = urlsplit(current_app.config["BASE_URL"])
    try:
        parts = urlsplit(url)
    except ValueError:
        return json_response({"error": "That is not a URL."}, 404)
    segments = [s for s in parts.path.split("/") if s]
    is_chart = len(segments) == 3 and segments[0] == "embed" and segments[2] == "chart"
    if (parts.scheme, parts.netloc) != (base.scheme, base.netloc) or not (
        is_chart or (len(segments) == 2 and segments[0] in ("petitions", "embed"))
    ):
        return json_response({"error": "That URL is not a petition of this site."}, 404)
    petition = db.session.scalar(select(Petition).where(Petition.slug == segments[1]))
    if petition is None or not petition.is_public():
        return json_response({"error": "No petition has that URL."}, 404)
    full_width, full_height = (CHART_WIDTH, CHART_HEIGHT) if is_chart else (WIDGET_WIDTH, WIDGET_HEIGHT)
    try:
        width = min(full_width, int(request.args.get("maxwidth", full_width)))
        height = min(full_height, int(request.args.get("maxheight", full_height)))
    except ValueError:
        return json_response({"error": "maxwidth and maxheight must be whole numbers."}, 400)
    width, height = max(200, width), max(120, height)
    lang = supported(request.args.get("lang")) or supported(next(iter(parse_qs(parts.query).get("lang", [])), None))
    doc = {
        "version": "1.0",
        "type": "rich",
        "provider_name": "Petitions",
        "provider_url": current_app.config["BASE_URL"],
        "title": gettext("%(title)s: signatures over time", title=petition.title) if is_chart else petition.title,
        "html": chart_code(petition, width, height, lang=lang)
        if is_chart
        else widget_code(petition, width, height, lang=lang),
        "width": width,
        "height": height,
        "cache_age": 3600,
    }
    return cacheable(json_response(doc), max_age=300, stale=60)


@bp.get("/petitions/<slug>/events")
def events(slug: str) -> Response:
    """Server-Sent Events: an event `count` with the count JSON whenever it changes."""
    petition = public_petition_or_404(slug)
    app = current_app_object()
    db.session.remove()  # a stream holds no database connection
    events = stream(app, petition)
    if events is None:  # this process holds all the streams it may: the count now, and come back later
        # Spread over a range so that readers turned away together do not all come back together.
        retry = random.randint(BUSY_RETRY_SECONDS // 2, BUSY_RETRY_SECONDS * 3 // 2)  # noqa: S311 (not a secret)
        response = Response(busy(count_doc(petition, utcnow()), retry), mimetype="text/event-stream")
        response.headers["Retry-After"] = str(retry)
    else:
        response = Response(events, mimetype="text/event-stream")
    response.headers["Cache-Control"] = "no-cache"
    response.headers["X-Accel-Buffering"] = "no"
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response
