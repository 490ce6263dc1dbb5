"""The pages a petition's public log has: the verify page, and the receipt a signer sees after confirming.

The verify page does its work in the visitor's browser (static/verify.js, driven by
static/js/verify-page.js): the server only says where the log is and what it shows itself.
A receipt in the link's fragment (#entry=N&nonce=...) never reaches the server, and neither
does the address a signer types to check it.

The receipt after confirming holds the signature's nonce, which only the signer who pressed
the button may see: the confirming view puts the signature's id in the (signed) session, the
petition page it redirects to takes it out once and shows the nonce with "no-store".
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from functools import cache

from babel import Locale, UnknownLocaleError
from flask import render_template, session
from flask_babel import get_locale
from sqlalchemy import select
from werkzeug.wrappers import Response

from petitions.extensions import db
from petitions.infra import countries
from petitions.infra.mail import external_url
from petitions.models import Signature
from petitions.transparency import keys, receipts
from petitions.web.public import bp
from petitions.web.queries import public_petition_or_404
from petitions.web.verifiable import log_interval, log_status

# A log this long (about 100 bytes an entry) is verified as soon as the page opens; a longer one
# waits for the visitor to press the button, since the browser downloads all of it.
AUTOSTART_ENTRIES = 100_000

# The session key under which the confirming view leaves the signature whose receipt to show.
RECEIPT_KEY = "receipt"

# Whole numbers among which each plural category of a language has a first member: the categories
# whole numbers reach (CLDR's "many" of Spanish and French starts at a million).
_PLURAL_CANDIDATES = (*range(201), 1_000, 10_000, 100_000, 1_000_000, 10_000_000)

bp.add_app_template_global(log_interval, "log_interval")


@cache
def _plural_samples(locale: str) -> tuple[tuple[str, int], ...]:
    try:
        rule = Locale.parse(locale).plural_form
    except (UnknownLocaleError, ValueError):
        rule = Locale.parse("en").plural_form
    first: dict[str, int] = {}
    for n in _PLURAL_CANDIDATES:
        first.setdefault(rule(n), n)
    return tuple(sorted(first.items()))


@bp.app_template_global("plural_samples")
def plural_samples() -> tuple[tuple[str, int], ...]:
    """(CLDR plural category, a whole number in it) for the page's language: one of each, for the verify page's script.

    The script picks a message's form by Intl.PluralRules, which names CLDR categories; the catalogue's
    ngettext, given a number of that category, gives the form gettext would use for it.
    """
    return _plural_samples(str(get_locale() or "en"))


@bp.get("/petitions/<slug>/verify")
def log_verify(slug: str) -> str:
    """Explains the petition's log and verifies it in the browser; with a receipt in the fragment, checks it too."""
    petition = public_petition_or_404(slug)
    status = log_status(petition.id, petition.slug)
    petition_url = external_url("public.petition", slug=petition.slug)
    key = str(keys.verifier())
    command = f"python -m petitions.verify {shlex.quote(petition_url)} --key {shlex.quote(key)}"
    return render_template(
        "public/log_verify.html",
        petition=petition,
        log=status,
        key=key,
        retired_keys=[str(k) for k in keys.retired()],
        country_names=countries.country_names(str(get_locale() or "en")),
        command=command,
        autostart=status is not None and status.size <= AUTOSTART_ENTRIES,
    )


@dataclass(frozen=True)
class Receipt:
    """What a signer keeps of their signature: the nonce, and the entry once the log holds it."""

    nonce: str
    entry: int | None
    verify_url: str


def remember_receipt(signature_id: int) -> None:
    """Show this signature's receipt on the next page of this session (the petition page after confirming)."""
    session[RECEIPT_KEY] = signature_id


def take_receipt(petition_id: int, slug: str) -> Receipt | None:
    """The receipt the confirming view left for this petition, taken out of the session; None if none."""
    if RECEIPT_KEY not in session:
        return None
    signature_id = session.pop(RECEIPT_KEY)
    if not isinstance(signature_id, int):
        return None
    row = db.session.execute(
        select(Signature.log_nonce, Signature.log_entry).where(
            Signature.id == signature_id,
            Signature.petition_id == petition_id,
            Signature.confirmed_at.is_not(None),
            Signature.withdrawn_at.is_(None),
        )
    ).one_or_none()
    if row is None or row.log_nonce is None:  # withdrawn or erased since, or another petition's
        return None
    if row.log_entry is None:  # not in the log yet: the verify page finds the entry by the commitment
        return Receipt(row.log_nonce, None, f"{receipts.verify_url(slug)}#nonce={row.log_nonce}")
    return Receipt(row.log_nonce, row.log_entry, receipts.verify_url(slug, row.log_entry, row.log_nonce))


def private(response: Response) -> Response:
    """A page holding a signer's receipt: kept by no cache, and its address sent nowhere."""
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response
