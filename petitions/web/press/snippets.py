"""The code this site hands people to paste into their own pages, built here and only here.

Each function returns the snippet as plain text (a str, not Markup), with every attribute value
escaped for a double-quoted HTML attribute. Where the snippet is shown, it is escaped once more
for that place: a template's autoescaping inside a <textarea>, JSON's own quoting in oEmbed.
Written straight into a template as markup, a title's `"` would end the attribute and its
`<img onerror=...>` would become an element on the press site that pastes the code.
"""

from __future__ import annotations

from urllib.parse import urlencode

from flask_babel import gettext
from markupsafe import escape

from petitions.infra.mail import external_url
from petitions.models import Petition

WIDGET_WIDTH, WIDGET_HEIGHT = 400, 200
CHART_WIDTH, CHART_HEIGHT = 600, 400


def attribute(value: object) -> str:
    """A value for a double-quoted HTML attribute: on one line, with & < > " ' as entities."""
    return str(escape(" ".join(str(value).split())))


def iframe(src: str, title: str, width: int = WIDGET_WIDTH, height: int = WIDGET_HEIGHT) -> str:
    """One <iframe> element as text to paste, whatever src and title hold."""
    return (
        f'<iframe src="{attribute(src)}" width="{int(width)}" height="{int(height)}" title="{attribute(title)}" '
        'style="border:0;max-width:100%" loading="lazy"></iframe>'
    )


def widget_code(
    petition: Petition, width: int = WIDGET_WIDTH, height: int = WIDGET_HEIGHT, lang: str | None = None
) -> str:
    """The embed code of a petition's live counter: its widget's <iframe> on BASE_URL, titled by the petition;
    with `lang` (a code of LANGUAGES), the widget's ?lang=, so that every reader of the press site
    sees that language and caches keep one copy of it (web/i18n.py)."""
    src = external_url("press.widget", slug=petition.slug)
    if lang:
        src += "?" + urlencode({"lang": lang})
    return iframe(src, petition.title, width, height)


def chart_code(
    petition: Petition, width: int = CHART_WIDTH, height: int = CHART_HEIGHT, lang: str | None = None
) -> str:
    """The embed code of a petition's chart of signatures over time: its <iframe> on BASE_URL; with
    `lang`, the chart's ?lang=, as widget_code does."""
    title = gettext("%(title)s: signatures over time", title=petition.title)
    src = external_url("press.chart", slug=petition.slug)
    if lang:
        src += "?" + urlencode({"lang": lang})
    return iframe(src, title, width, height)
