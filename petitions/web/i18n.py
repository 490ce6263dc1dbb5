"""The interface language of each request, the language switcher, and numbers in the reader's locale.

The locale of a page, in order: `?lang=xx` (then remembered in the `lang` cookie), the `lang`
cookie, the signed-in account's setting, the browser's Accept-Language, DEFAULT_LOCALE. Only
codes in LANGUAGES are ever chosen; anything else is ignored.

The responses that caches share (the widget, the badge, oEmbed, the JSON API) never depend on
a cookie or an account: their language comes from the URL (`?lang=`), so a CDN or the
micro-cache (web/microcache.py), which key on the URL, can hand the same bytes to everyone.
Without `?lang=` the badge, the map, oEmbed and the JSON are in DEFAULT_LOCALE: the micro-cache replays
the badge by its path alone, whatever the request's headers, so it must never vary by them.
The widget and the chart, framed on press sites for readers of every language, follow the reader's
Accept-Language when their URL names no language, and then say so (`Vary: Accept-Language`): a
cache that honours Vary keeps one copy per header value, one that does not will not store it.
The copied embed code names a language (press/snippets.py), so most widgets are keyed on the
URL anyway. Every other page says what it varies on (`Vary: Accept-Language, Cookie`); those
pages read the session too and are private anyway (security.private_by_default), so the header
is what keeps a browser's own cache honest.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from urllib.parse import urlencode

from babel import Locale
from flask import Flask, current_app, g, has_request_context, request, url_for
from flask_babel import format_decimal, format_percent, get_locale, gettext, refresh
from flask_login import current_user
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.wrappers import Response

from petitions.counting.counts import FewerThan
from petitions.extensions import db
from petitions.extensions import lazy_text as _l
from petitions.infra import dates

COOKIE = "lang"
COOKIE_MAX_AGE = 365 * 24 * 3600
# Endpoints whose answers are shared by caches keyed on the URL alone (see the module's docstring).
SHARED = frozenset(
    {"press.widget", "press.chart", "press.badge", "press.card", "press.world_map", "press.oembed", "press.events"}
)
# The shared answers framed on press sites, which follow Accept-Language when their URL names no language
# (and say Vary).
BY_BROWSER = frozenset({"press.widget", "press.chart"})


def languages() -> tuple[str, ...]:
    """The interface languages offered (LANGUAGES, parsed by config.load)."""
    codes: tuple[str, ...] = current_app.config["LANGUAGES"]
    return codes


def supported(code: str | None) -> str | None:
    """The code if it is one of LANGUAGES (dashes taken as underscores), else None."""
    if not code:
        return None
    code = code.strip().replace("-", "_")
    return code if code in languages() else None


def select_locale() -> str:
    """Flask-Babel's locale selector: the first of ?lang, the cookie, the account, Accept-Language."""
    default: str = current_app.config["DEFAULT_LOCALE"]
    if not has_request_context():
        return default  # the worker and the CLI: an email says its own language (infra/mail/render.email_language)
    if request.endpoint in SHARED or request.blueprint == "api":
        chosen = supported(request.args.get("lang"))
        if chosen is None and request.endpoint in BY_BROWSER:
            g.locale_by_browser = True
            return request.accept_languages.best_match(languages()) or default
        return chosen or default
    g.locale_negotiated = True
    chosen = supported(request.args.get("lang"))
    if chosen:
        g.locale_to_remember = chosen
        return chosen
    return (
        supported(request.cookies.get(COOKIE))
        or _account_locale()
        or request.accept_languages.best_match(languages())
        or default
    )


def _account_locale() -> str | None:
    """The signed-in account's language, when it chose one."""
    try:
        if not current_user or not current_user.is_authenticated:
            return None
    except SQLAlchemyError:
        # The error page of a database that is down needs its words too: it goes without the account.
        db.session.rollback()
        return None
    return supported(current_user.locale)


def remember_and_vary(response: Response) -> Response:
    """Remember a ?lang= choice in the cookie; say that a negotiated page varies by language."""
    if g.pop("locale_by_browser", False):  # the widget without ?lang= (the module's docstring)
        response.vary.add("Accept-Language")
    if not g.get("locale_negotiated"):
        return response
    if "public" in response.headers.get("Cache-Control", ""):
        return response  # shared on purpose: never a cookie (http.SessionInterface says why)
    response.vary.update(("Accept-Language", "Cookie"))
    chosen = g.get("locale_to_remember")
    if chosen and request.cookies.get(COOKIE) != chosen:
        set_language_cookie(response, chosen)
    return response


def set_language_cookie(response: Response, code: str | None) -> None:
    """Remember the language in the `lang` cookie, or forget it (None): then the account or browser decides."""
    if code is None:
        response.delete_cookie(COOKIE, samesite="Lax")
        return
    response.set_cookie(
        COOKIE,
        code,
        max_age=COOKIE_MAX_AGE,
        samesite="Lax",
        httponly=True,
        secure=bool(current_app.config.get("SESSION_COOKIE_SECURE")),
    )


def _fresh_locale() -> None:
    # Flask-Babel keeps the locale in `g`, which outlives a request when an app context was
    # already pushed around it (tests, the CLI); each request chooses its own.
    refresh()


def language_name(code: str) -> str:
    """A language named in itself: English, Español, Français, Deutsch."""
    name = Locale.parse(code).get_display_name(code) or code
    return name[:1].upper() + name[1:]


def language_in_page(code: str) -> str:
    """A language named in the page's language, for a sentence: "Spanish", "espagnol", "Spanisch"."""
    return Locale.parse(code).get_display_name(get_locale() or "en") or code


def language_links() -> list[tuple[str, str, str, bool]]:
    """The footer's switcher: (code, its name in itself, the current page with ?lang=code, is it the current one)."""
    current = str(get_locale())
    args = {k: v for k, v in request.args.items() if k != "lang"} if has_request_context() else {}
    # A page answering a form (a POST) may have no GET at its address: the switcher leads home from there.
    path = request.path if has_request_context() and request.method in ("GET", "HEAD") else url_for("public.index")
    links = []
    for code in languages():
        query = urlencode({**args, "lang": code})
        links.append((code.replace("_", "-"), language_name(code), f"{path}?{query}", code == current))
    return links


def html_lang() -> str:
    """The page's language as <html lang> wants it (BCP 47: pt-BR, not pt_BR)."""
    return str(get_locale()).replace("_", "-")


def text_direction() -> str:
    """rtl for a right-to-left language (Arabic, Hebrew, Persian, Urdu...), else ltr."""
    locale = get_locale()
    return locale.text_direction if locale is not None else "ltr"


# A petition's status as pages show it (the code itself stays in URLs, the JSON and the CSV).
# TRANSLATORS: the status of a petition (la pétition, die Petition, la petición).
_STATUS_NAMES = {
    "draft": _l("draft"),
    "pending": _l("pending"),
    "open": _l("open"),
    "closed": _l("closed"),
    "hidden": _l("hidden"),
}


def status_name(status: str) -> str:
    """A petition's status in the page's language ("open" in English, "abierta" in Spanish)."""
    return str(_STATUS_NAMES.get(status, status))


def thousands(value: int | FewerThan) -> str:
    """A count in the page's locale: 12,345 in English, 12.345 in German, 12 345 in French."""
    if isinstance(value, FewerThan):
        return gettext("fewer than %(n)s", n=format_decimal(value.limit))
    return format_decimal(value)


def day(value: date | datetime) -> str:
    """A day in the page's language (infra/dates.day): March 1, 2025; 1. März 2025."""
    return dates.day(value, get_locale() or "en")


def moment(value: datetime) -> str:
    """A day and time in the page's language, UTC (the page says so): Mar 1, 2025, 14:05."""
    return dates.moment(value, get_locale() or "en")


def clock(value: datetime) -> str:
    """The time of day, UTC, 24-hour: 14:05."""
    return dates.clock(value, get_locale() or "en")


def share(part: int, whole: int) -> str:
    """part of whole as a percentage with one decimal, in the page's locale: 12.5% (12,5% in German)."""
    return format_percent(part / whole if whole else 0, format="#,##0.0%")


def init_app(app: Flask) -> None:
    """Bind Flask-Babel with the selector; the hooks, the filter and the template helpers."""
    from petitions.extensions import babel

    babel.init_app(app, locale_selector=select_locale)
    app.before_request(_fresh_locale)
    app.after_request(remember_and_vary)
    app.teardown_request(lambda _exc: _fresh_locale())
    app.add_template_filter(thousands, "thousands")
    app.add_template_filter(day, "day")
    app.add_template_filter(moment, "moment")
    app.add_template_filter(clock, "clock")

    @app.context_processor
    def i18n_helpers() -> dict[str, Any]:
        return {
            "html_lang": html_lang,
            "text_direction": text_direction,
            "language_links": language_links,
            "language_name": language_name,
            "language_in_page": language_in_page,
            "status_name": status_name,
            "share": share,
        }
