"""The links in a signer's emails, and those emails' contexts, made by the mail worker when it sends them.

A link is signed (infra/tokens), bound to one purpose, to one signature and to that
signature's mailbox by a digest of its key (email_digest), and expires. The emails to a
signer are queued as a template name and a small context (signer_context); the worker signs
their links when it sends them, so they are valid for their whole life from the moment they
arrive.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

from flask import current_app
from sqlalchemy import ColumnElement, Row, String, bindparam, func

from petitions.exceptions import TokenInvalid
from petitions.extensions import N_, db
from petitions.infra import tokens
from petitions.infra.mail import (
    Fill,
    OutboxRow,
    external_url,
    mail_locale,
    mail_texts,
    rendered_late_filled,
    token_url,
)
from petitions.infra.text import one_line
from petitions.models import Petition, Signature
from petitions.signatures.mailboxes import legacy_key

# How many hex digits of the mailbox key's SHA-256 a link carries.
_DIGEST_LENGTH = 16


def email_digest(normalized: str) -> str:
    """The digest of a mailbox key that binds a link to the mailbox. The Python form of email_digest_sql()."""
    return hashlib.sha256(normalized.encode()).hexdigest()[:_DIGEST_LENGTH]


def email_digest_sql(column: str) -> str:
    """The SQL form of email_digest(), as PostgreSQL text over a column of mailbox keys
    (for the one-statement confirmation, confirming._CONFIRM_ONE)."""
    return f"left(encode(sha256(convert_to({column}, 'UTF8')), 'hex'), {_DIGEST_LENGTH})"


def token_for(signature_id: int, digest: str, purpose: str) -> str:
    """A signed token naming a signature (by id and mailbox digest) for one purpose."""
    return tokens.make_token(purpose, [signature_id, digest])


def signature_token(signature: Signature, purpose: str = tokens.CONFIRM_SIGNATURE) -> str:
    """A token for a link about this signature, bound to its id, its mailbox and the purpose."""
    return token_for(signature.id, email_digest(signature.email_normalized), purpose)


def confirmation_token(signature: Signature) -> str:
    """The token in a signature's confirmation link."""
    return signature_token(signature, tokens.CONFIRM_SIGNATURE)


def _links(signature_id: int, digest: str, updates: bool) -> dict[str, str]:
    """The signed links of an email to a signer: confirm, withdraw, and (when they asked for updates) stop updates."""
    links = {
        "confirm_url": token_url("public.verify", token_for(signature_id, digest, tokens.CONFIRM_SIGNATURE)),
        "withdraw_url": token_url("public.withdraw", token_for(signature_id, digest, tokens.WITHDRAW_SIGNATURE)),
    }
    if updates:  # the link to stop updates is only in the emails of signers who asked for them
        links["unsubscribe_url"] = token_url("public.unsubscribe", token_for(signature_id, digest, tokens.UNSUBSCRIBE))
    return links


def signer_links(signature: Signature) -> dict[str, str | None]:
    """The links every email to a signer carries: confirm, withdraw, and (when they asked for updates) stop updates."""
    return {
        "unsubscribe_url": None,
        **_links(signature.id, email_digest(signature.email_normalized), signature.updates),
    }


CONFIRMATION_EMAIL = "confirm_signature"
ALREADY_SIGNED_EMAIL = "already_signed"


_SUBJECTS = {
    CONFIRMATION_EMAIL: N_("Please confirm your signature: %(title)s"),
    ALREADY_SIGNED_EMAIL: N_("You have already signed: %(title)s"),
}


_MAX_SUBJECTS = 1024  # petitions whose subjects are kept per application; all are dropped past it


def subject(template: str, title: str, locale: str | None) -> str:
    """The subject of an email to a signer about a petition, in the signer's language, cut to the column's
    255 characters."""
    return subjects(template, title)[mail_locale(locale)]


def subjects(template: str, title: str) -> dict[str, str]:
    """The subject in each of LANGUAGES (mail_texts), for a statement that picks by a signature's stored
    language. Kept per petition title: every signing on PostgreSQL passes them all, and making
    them (a catalogue look-up in each language) would cost the signing several times what the
    look-up in this dict does."""
    kept: dict[tuple[str, str], dict[str, str]] = current_app.extensions.setdefault("signer_subjects", {})
    texts = kept.get((template, title))
    if texts is None:
        if len(kept) >= _MAX_SUBJECTS:
            kept.clear()
        texts = kept[(template, title)] = mail_texts(_SUBJECTS[template], title=title)
    return texts


def signer_context(
    name: str, petition: Petition | Row[Any], digest: str, updates: bool, locale: str | None
) -> dict[str, Any]:
    """What an email to a signer, rendered by the worker, needs to know (`locale`, the signer's language, is
    what render.message_locale reads). The Python form of signer_context_sql()."""
    return {
        "name": name,
        "title": petition.title,
        "slug": petition.slug,
        "digest": digest,
        "updates": updates,
        "locale": locale,
    }


def signer_context_sql(
    name: ColumnElement[str], updates: ColumnElement[bool], locale: ColumnElement[str | None]
) -> ColumnElement[Any]:
    """The SQL form of signer_context() (PostgreSQL's json_build_object), for an email that PostgreSQL's
    one-statement signing queues; the petition's title and slug, and the digest, are the
    parameters petition_title, petition_slug and digest."""
    return func.json_build_object(
        "name",
        name,
        "title",
        bindparam("petition_title", type_=String()),
        "slug",
        bindparam("petition_slug", type_=String()),
        "digest",
        bindparam("digest", type_=String()),
        "updates",
        updates,
        "locale",
        locale,
    )


def _late_context(message: OutboxRow) -> tuple[int, dict[str, Any]]:
    """The signature an email to a signer is about, and the context its request stored."""
    context = message.context
    if message.signature_id is None or not context:
        raise ValueError("an email to a signer without its signature or context")
    return message.signature_id, context


# Both emails to a signer are sent in a prepared form (mail/prepared.py): built once per petition
# title, choice of updates and signer's language, with the name and links filled in.


@rendered_late_filled(CONFIRMATION_EMAIL)
def _confirmation_fill(message: OutboxRow) -> Fill:
    """The context of a new signature's confirmation email, made by the mail worker when it sends it.

    The signing request stored only what the email says (the signer's name, the petition's
    title, whether they asked for updates) and the digest of the mailbox the links are bound
    to; the links are signed now, so they are valid for their whole lifetime from arrival.
    """
    signature_id, context = _late_context(message)
    title, updates, locale = context["title"], bool(context["updates"]), context.get("locale")

    def make(slots: dict[str, str]) -> dict[str, Any]:
        return {
            "signature": {"name": slots["name"], "updates": updates},
            "petition": {"title": title},
            "unsubscribe_url": None,
            **{k: v for k, v in slots.items() if k != "name"},
        }

    # The name as the template prints it (one_line): a slot is filled in as it is.
    slots = {"name": one_line(context["name"]), **_links(signature_id, context["digest"], updates)}
    return Fill(key=(title, updates, locale), slots=slots, context=make)


@rendered_late_filled(ALREADY_SIGNED_EMAIL)
def _already_signed_fill(message: OutboxRow) -> Fill:
    """The context of "you have already signed", queued by a repeated signing of a confirmed signature."""
    signature_id, context = _late_context(message)
    title, updates, locale = context["title"], bool(context["updates"]), context.get("locale")
    petition_url = external_url("public.petition", slug=context["slug"])

    def make(slots: dict[str, str]) -> dict[str, Any]:
        return {"petition": {"title": title}, "petition_url": petition_url, "unsubscribe_url": None, **slots}

    return Fill(
        key=(title, updates, locale, petition_url), slots=_links(signature_id, context["digest"], updates), context=make
    )


def read_link(token: str, *, purpose: str, now: datetime, max_age: int | None) -> tuple[int, str]:
    """(signature id, mailbox digest) of a genuine, unexpired link; raises TokenInvalid or TokenExpired.

    `max_age` None is SIGNATURE_TOKEN_MAX_AGE.
    """
    if max_age is None:
        max_age = current_app.config["SIGNATURE_TOKEN_MAX_AGE"]
    payload = tokens.read_token(purpose, token, max_age=max_age, now=now)
    try:
        return int(payload[0]), str(payload[1])
    except (TypeError, ValueError, IndexError, KeyError):
        raise TokenInvalid() from None


def bound_to(digest: str, email_normalized: str, email: str) -> bool:
    """True when a link's mailbox digest is this signature's: of its key, or of the key it had
    before the provider rules (links sent then stay valid; migration 0008)."""
    return digest == email_digest(email_normalized) or digest == email_digest(legacy_key(email))


def signature_from_token(
    token: str, *, now: datetime, purpose: str = tokens.CONFIRM_SIGNATURE, max_age: int | None = None
) -> Signature:
    """The signature a link names; raises TokenInvalid or TokenExpired."""
    signature_id, digest = read_link(token, purpose=purpose, now=now, max_age=max_age)
    signature = db.session.get(Signature, signature_id)
    if signature is None or not bound_to(digest, signature.email_normalized, signature.email):
        raise TokenInvalid()
    return signature
