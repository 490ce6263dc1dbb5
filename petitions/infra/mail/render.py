"""The text of an email: templates, absolute links, and the messages the worker renders when it sends them."""

from __future__ import annotations

from collections.abc import Callable, Hashable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeAlias

from flask import current_app
from flask_babel import force_locale, gettext
from jinja2 import TemplateNotFound

if TYPE_CHECKING:
    from sqlalchemy import Row

    from petitions.models import OutboxMessage


def external_url(endpoint: str, **values: Any) -> str:
    """An absolute URL on BASE_URL, built without needing a request (the worker and CLI have none)."""
    adapter = current_app.url_map.bind("localhost")
    base: str = current_app.config["BASE_URL"]
    return base + adapter.build(endpoint, values)


def mail_locale(locale: str | None) -> str:
    """The language an email to someone whose language is `locale` is written in: theirs when it is one of
    LANGUAGES, else DEFAULT_LOCALE (no language stored, or one the site no longer offers)."""
    if locale and locale in current_app.config["LANGUAGES"]:
        return locale
    default: str = current_app.config["DEFAULT_LOCALE"]
    return default


def email_language(locale: str | None) -> AbstractContextManager[None]:
    """The language an email to someone whose language is `locale` is written in (mail_locale), whatever
    the page that caused it spoke.

    An email rendered now (in the request) and one rendered later by the worker (outside any
    request) must not come out in two languages, nor a subject in one and its body in another:
    both come from the recipient's stored language (a signature's, an account's), never from the
    request's.
    """
    cm: AbstractContextManager[None] = force_locale(mail_locale(locale))
    return cm


def mail_text(message: str, locale: str | None = None, **variables: Any) -> str:
    """A marked string (an email's subject) in the language of `locale` (email_language), its %(name)s filled in."""
    with email_language(locale):
        text: str = gettext(message, **variables)
    return text


def mail_texts(message: str, **variables: Any) -> dict[str, str]:
    """mail_text() in each of LANGUAGES: the subjects a statement picks from by each row's language
    (`COALESCE(:subjects ->> locale, :subjects ->> :default)`), cut to the column's 255 characters."""
    return {code: mail_text(message, code, **variables)[:255] for code in current_app.config["LANGUAGES"]}


def message_locale(row: OutboxRow) -> str | None:
    """The language a late-rendered message is written in: its context's `locale` (its recipient's)."""
    context = row.context
    return context.get("locale") if isinstance(context, dict) else None


def render(
    template: str,
    context: dict[str, Any],
    html_context: dict[str, Any] | None = None,
    *,
    locale: str | None = None,
) -> tuple[str, str | None]:
    """(text, html or None) of templates/email/<template>.txt and, when present, .html
    (rendered with `html_context` when given, else the same context), in the language of `locale`."""
    context.setdefault("site_url", current_app.config["BASE_URL"])
    # Rendered by Jinja alone: an email has no business with the request's context processors
    # (the signed-in user, the CSRF token), whose work would be thrown away on every message.
    env = current_app.jinja_env
    with email_language(locale):
        text = env.get_template(f"email/{template}.txt").render(context)
        if html_context is not None:
            html_context.setdefault("site_url", current_app.config["BASE_URL"])
        try:
            html: str | None = env.get_template(f"email/{template}.html").render(
                context if html_context is None else html_context
            )
        except TemplateNotFound:  # a message may be plain text only
            html = None
    return text, html


def html_escaped(template: str) -> bool:
    """Whether Jinja escapes what the template's .html prints (its autoescape setting for that name)."""
    select = current_app.jinja_env.autoescape
    return bool(select(f"email/{template}.html") if callable(select) else select)


# Messages the worker renders when it sends them: template name -> a function of the outbox
# row that gives the template's context. Queuing one costs the request no templating and no
# signed links (a signing's confirmation email, the hottest message there is); its links are
# signed when sent, so they are valid for their whole lifetime from the moment they arrive.
# An outbox message as the worker reads it: the ORM object, or a plain row of its columns.
OutboxRow: TypeAlias = "OutboxMessage | Row[Any]"
_LATE: dict[str, Callable[[OutboxRow], dict[str, Any]]] = {}


class Unsendable(Exception):
    """Raised by a rendered_late context function when the message's cause is gone: it is kept, never sent."""


def rendered_late(
    template: str,
) -> Callable[[Callable[[OutboxRow], dict[str, Any]]], Callable[[OutboxRow], dict[str, Any]]]:
    """Register the function that makes the context of `template` messages queued with queue_late_email()."""

    def register(make_context: Callable[[OutboxRow], dict[str, Any]]) -> Callable[[OutboxRow], dict[str, Any]]:
        _LATE[template] = make_context
        return make_context

    return register


@dataclass(frozen=True)
class Fill:
    """A late-rendered message as its prepared form needs it (see prepared.py).

    `slots` are the values that change from one message to the next (a name, signed links),
    each printed by the templates as it is: a filter it needs is applied before, here. `key`
    is everything else the text depends on (a title, whether a paragraph is shown), so that
    messages with equal keys differ only in their slots. `context` makes the templates'
    context from slot values: the real ones, or the markers the prepared form is cut at.
    """

    key: tuple[Hashable, ...]
    slots: dict[str, str]
    context: Callable[[dict[str, str]], dict[str, Any]]


_FILLS: dict[str, Callable[[OutboxRow], Fill]] = {}


def rendered_late_filled(template: str) -> Callable[[Callable[[OutboxRow], Fill]], Callable[[OutboxRow], Fill]]:
    """rendered_late() for a message the worker may send in a prepared form: register a function of
    the outbox row that gives its Fill; its context is the Fill's context of its own slots."""

    def register(make_fill: Callable[[OutboxRow], Fill]) -> Callable[[OutboxRow], Fill]:
        _FILLS[template] = make_fill

        def context(row: OutboxRow) -> dict[str, Any]:
            fill = make_fill(row)
            return fill.context(fill.slots)

        _LATE[template] = context
        return make_fill

    return register


def fill_of(row: OutboxRow) -> Fill | None:
    """The Fill of a late-rendered message whose template registered one (rendered_late_filled), else None."""
    if row.body_text is not None:
        return None
    make_fill = _FILLS.get(row.template or "")
    return None if make_fill is None else make_fill(row)


def require_rendered_late(template: str) -> None:
    """Refuse to queue a message for late rendering that no worker could render."""
    if template not in _LATE:
        raise KeyError(f"no context function registered for the email template {template!r}")


def body_of(row: OutboxRow) -> tuple[str, str | None]:
    """(text, html) of an outbox message: as queued, or rendered now for one queued with queue_late_email()."""
    if row.body_text is not None:
        return row.body_text, row.body_html
    return render(row.template or "", _LATE[row.template or ""](row), locale=message_locale(row))


_TOKEN_MARK = "tokenmark0"  # noqa: S105 (a marker cut out of a URL, not a secret)


def token_url(endpoint: str, token: str) -> str:
    """external_url(endpoint, token=token), the URL around the token built once per endpoint and BASE_URL.

    A signed token (URL-safe base64 and dots) is never quoted, so only the token changes; the
    worker signs two or three such links per message.
    """
    urls: dict[tuple[str, str], tuple[str, str]] = current_app.extensions.setdefault("mail_token_urls", {})
    key = (endpoint, current_app.config["BASE_URL"])
    around = urls.get(key)
    if around is None:
        head, _, tail = external_url(endpoint, token=_TOKEN_MARK).partition(_TOKEN_MARK)
        around = urls[key] = (head, tail)
    return around[0] + token + around[1]
