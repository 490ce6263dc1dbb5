"""Sharing a petition without trackers: plain share links, Mastodon on the reader's own server, a QR code, a poster.

Every share link is an ordinary URL built here: no third-party script, pixel or image is ever
loaded by our pages, so a reader's visit is nobody else's business until they choose to share.
Mastodon has no central site, so the reader names their server in a small GET form; the view
checks that it is a host name and redirects only to https://<that host>/share.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from urllib.parse import quote, urlencode

import segno
from flask import current_app, redirect, render_template, request, url_for
from flask_babel import gettext as _
from markupsafe import Markup, escape
from werkzeug.wrappers import Response

from petitions.models import Petition
from petitions.web.http import cacheable
from petitions.web.public import bp
from petitions.web.queries import public_petition_or_404

# A QR code never changes for a given address: let every cache keep it for a day.
QR_MAX_AGE = 86_400

_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_USER = re.compile(r"^[a-z0-9_.-]{1,64}$")
_TOP_LEVEL = re.compile(r"^(?:[a-z]{2,63}|xn--[a-z0-9-]{1,59})$")


@dataclass(frozen=True)
class ShareLink:
    """One place to share to: its name as shown, and the URL that opens it with the petition filled in."""

    key: str
    name: str
    url: str


def petition_url(petition: Petition) -> str:
    """The petition's public address, as shared and as the QR code holds it."""
    base: str = current_app.config["BASE_URL"]
    return base + url_for("public.petition", slug=petition.slug)


def _q(value: str) -> str:
    """Percent-encode everything but unreserved characters (RFC 3986), as mailto: and query values need."""
    return quote(value, safe="")


def links_for(url: str, title: str) -> list[ShareLink]:
    """The share links for a petition at `url` titled `title`, each a plain URL (escaped for any title)."""
    text = f"{title} {url}"
    return [
        ShareLink("email", _("Email"), f"mailto:?subject={_q(title)}&body={_q(title + chr(10) + chr(10) + url)}"),
        ShareLink("whatsapp", "WhatsApp", "https://wa.me/?" + urlencode({"text": text}, quote_via=quote)),
        ShareLink("facebook", "Facebook", "https://www.facebook.com/sharer/sharer.php?" + urlencode({"u": url})),
        ShareLink("x", "X", "https://x.com/intent/tweet?" + urlencode({"text": title, "url": url}, quote_via=quote)),
        ShareLink(
            "bluesky", "Bluesky", "https://bsky.app/intent/compose?" + urlencode({"text": text}, quote_via=quote)
        ),
        ShareLink(
            "telegram", "Telegram", "https://t.me/share/url?" + urlencode({"url": url, "text": title}, quote_via=quote)
        ),
        ShareLink("linkedin", "LinkedIn", "https://www.linkedin.com/sharing/share-offsite/?" + urlencode({"url": url})),
        ShareLink(
            "reddit",
            "Reddit",
            "https://www.reddit.com/submit?" + urlencode({"url": url, "title": title}, quote_via=quote),
        ),
    ]


def share_links(petition: Petition) -> list[ShareLink]:
    """The share links of a petition (a template global for templates/public/_share.html)."""
    return links_for(petition_url(petition), petition.title)


bp.add_app_template_global(share_links, "share_links")
bp.add_app_template_global(petition_url, "petition_url")


def mastodon_host(typed: str) -> str | None:
    """The host name of a Mastodon server as a reader may type it, or None if it is not one.

    Takes `mastodon.social`, `https://mastodon.social/@me`, `@me@mastodon.social` or `me@mastodon.social`;
    refuses anything that is not a plain DNS name of at least two labels with a real top-level
    label: no port, no IP address, no path or query, nothing the redirect could be bent with.
    """
    host = typed.strip().lower().removeprefix("https://").removeprefix("http://")
    host = host.partition("/")[0]  # a profile's address: only its server counts
    if "@" in host:  # a handle, @name@server or name@server: the server is after the name
        user, _at, host = host.removeprefix("@").partition("@")
        if not _USER.match(user):
            return None
    if not host or len(host) > 253:
        return None
    try:
        host = host.encode("idna").decode("ascii")  # a non-ASCII name in its DNS form
    except UnicodeError:
        return None
    labels = host.split(".")
    if len(labels) < 2 or not all(_LABEL.match(label) for label in labels) or not _TOP_LEVEL.match(labels[-1]):
        return None
    return host


def mastodon_share_url(host: str, petition: Petition) -> str:
    """Mastodon's compose page on `host` (already checked by mastodon_host), with the petition filled in."""
    return f"https://{host}/share?" + urlencode({"text": f"{petition.title} {petition_url(petition)}"}, quote_via=quote)


@bp.get("/petitions/<slug>/share/mastodon")
def share_mastodon(slug: str) -> Response | tuple[str, int]:
    """Send the reader to their own Mastodon server's share page; a name that is not a server gets the form again."""
    petition = public_petition_or_404(slug)
    typed = request.args.get("instance", "")[:300]
    host = mastodon_host(typed)
    if host is not None:
        return redirect(mastodon_share_url(host, petition), 303)
    if typed.strip():
        error = _("“%(typed)s” is not the name of a server. Type only its name, like mastodon.social.", typed=typed)
    else:
        error = _("Type the name of your Mastodon server, like mastodon.social.")
    return render_template("public/share_mastodon.html", petition=petition, typed=typed, error=error), 400


@bp.get("/petitions/<slug>/qr.svg")
def qr(slug: str) -> Response:
    """A QR code of the petition's address, as SVG; public and cacheable like the badge."""
    petition = public_petition_or_404(slug)
    url = petition_url(petition)
    out = io.BytesIO()
    segno.make(url, error="m").save(out, kind="svg", scale=10, border=4, title=url)
    response = current_app.response_class(out.getvalue(), mimetype="image/svg+xml")
    response.headers["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'"
    return cacheable(response, max_age=QR_MAX_AGE, stale=QR_MAX_AGE)


def scalable_qr(url: str, label: str) -> Markup:
    """A QR code of `url` as inline SVG with a viewBox, so print CSS can make it any size; named `label`."""
    out = io.BytesIO()
    segno.make(url, error="m").save(out, kind="svg", xmldecl=False, svgns=True, omitsize=True, border=4, svgclass="qr")
    svg = out.getvalue().decode("ascii").replace("<svg ", f'<svg role="img" aria-label="{escape(label)}" ', 1)
    return Markup(svg)  # noqa: S704 (segno writes only numbers and path data; the label is escaped)


@bp.get("/petitions/<slug>/poster")
def poster(slug: str) -> str:
    """A poster to print on A4: the title, the target, the summary, the QR code and the address."""
    petition = public_petition_or_404(slug)
    url = petition_url(petition)
    return render_template(
        "public/poster.html",
        petition=petition,
        url=url,
        qr=scalable_qr(url, _("A QR code of the petition's address: %(url)s", url=url)),
    )
