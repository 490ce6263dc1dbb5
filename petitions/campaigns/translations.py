"""A petition's text in other languages: the campaigner's translations, their review, and what a reader sees.

A petition is written in one language (Petition.language, NULL meaning DEFAULT_LOCALE) and its
campaigner may add its title, target, summary and body in any other of LANGUAGES. Readers see
the text in their page's language when there is one, else the original; the page says which
it is and links to the others. The signature still counts for the petition, whatever the
language it was read in; the log and every count are the same for all languages.

Translations are what the public reads, so they are reviewed the way edits of the text are
(campaigns/lifecycle.update_petition): before the petition is first public, they are reviewed
with it; once it has been public, under MODERATION=pre a new or changed translation waits
('pending') while readers keep the published one, and under MODERATION=post it is published at
once and the petition is flagged for the moderators. An administrator's own changes apply at once.

Like the rest of the domain, these functions flush and never commit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select

from petitions.counting.counts import lock
from petitions.exceptions import DomainError
from petitions.extensions import N_, db
from petitions.infra.database import rowcount
from petitions.infra.text import render_markdown
from petitions.models import Petition, PetitionTranslation, User
from petitions.models.translation import TRANSLATED_FIELDS
from petitions.moderation import audit


class NotTranslatable(DomainError):
    """The language is not one of the site's, or it is the petition's own."""


@dataclass(frozen=True)
class TranslationData:
    """A translation as the campaigner typed it, already validated for shape."""

    title: str
    target: str
    summary: str
    body: str


@dataclass(frozen=True)
class Text:
    """What a reader sees of a petition: in their language when it has been translated, else the original."""

    locale: str  # the language the text is written in (a LANGUAGES code)
    title: str
    target: str
    summary: str
    body_html: str
    translated: bool  # True when this is a translation, not the text people sign as written
    original: str  # the language the petition was written in
    available: tuple[str, ...]  # every language it can be read in, the original first


def original_language(petition: Petition, default: str) -> str:
    """The language the petition was written in."""
    return petition.language or default


def _rows(petition_id: int, *statuses: str) -> list[PetitionTranslation]:
    return list(
        db.session.scalars(
            select(PetitionTranslation)
            .where(PetitionTranslation.petition_id == petition_id, PetitionTranslation.status.in_(statuses))
            .order_by(PetitionTranslation.locale)
        )
    )


def published(petition_id: int) -> dict[str, PetitionTranslation]:
    """The translations readers see, by language."""
    return {row.locale: row for row in _rows(petition_id, "published")}


def by_language(petition_id: int) -> dict[str, dict[str, PetitionTranslation]]:
    """Every translation of a petition, by language then status: what its campaigner manages."""
    found: dict[str, dict[str, PetitionTranslation]] = {}
    for row in _rows(petition_id, "published", "pending", "rejected"):
        found.setdefault(row.locale, {})[row.status] = row
    return found


def pending() -> list[PetitionTranslation]:
    """Translations waiting for a moderator (MODERATION=pre), oldest first."""
    return list(
        db.session.scalars(
            select(PetitionTranslation)
            .where(PetitionTranslation.status == "pending")
            .order_by(PetitionTranslation.updated_at, PetitionTranslation.id)
        )
    )


def text_for(petition: Petition, locale: str, *, default: str, languages: tuple[str, ...]) -> Text:
    """The petition's text in `locale` when it has a published translation into it, else the original."""
    original = original_language(petition, default)
    translations = published(petition.id)
    available = (original, *(code for code in languages if code in translations and code != original))
    row = translations.get(locale) if locale != original else None
    if row is None:
        return Text(
            original, petition.title, petition.target, petition.summary, petition.body_html, False, original, available
        )
    return Text(locale, row.title, row.target, row.summary, row.body_html, True, original, available)


def _check_language(petition: Petition, locale: str, *, default: str, languages: tuple[str, ...]) -> None:
    if locale not in languages:
        raise NotTranslatable(N_("This site does not offer that language."))
    if locale == original_language(petition, default):
        raise NotTranslatable(N_("The petition is written in this language: edit the petition itself instead."))


def save(
    petition: Petition,
    locale: str,
    data: TranslationData,
    *,
    editor: User,
    now: datetime,
    moderation: str,
    default: str,
    languages: tuple[str, ...],
) -> bool:
    """Add or change the petition's text in `locale`. Returns True when it waits for a moderator.

    Raises NotTranslatable for a language the site does not offer or the petition's own.
    """
    _check_language(petition, locale, default=default, languages=languages)
    lock(petition)  # one writer per petition: two saves racing must not both insert the language's row
    rows = by_language(petition.id).get(locale, {})
    reviewed = petition.opened_at is not None and not editor.is_admin
    status = "pending" if moderation == "pre" and reviewed else "published"
    current = rows.get("published")
    if (
        status == "pending"
        and current is not None
        and all(getattr(current, name) == getattr(data, name) for name in TRANSLATED_FIELDS)
    ):
        # Back to what readers already see: nothing left to review.
        _drop(rows, "pending")
        db.session.flush()
        return False
    row = rows.get(status)
    if row is None:
        row = PetitionTranslation(petition_id=petition.id, locale=locale, status=status, created_at=now)
        db.session.add(row)
    for name in TRANSLATED_FIELDS:
        setattr(row, name, getattr(data, name))
    row.body_html = render_markdown(data.body)
    row.updated_at = now
    if status == "published":
        _drop(rows, "pending")  # out of date now
        if reviewed:
            petition.edited_since_review_at = now  # MODERATION=post: the moderators look at what readers now read
    _drop(rows, "rejected")
    petition.updated_at = now
    db.session.flush()
    return status == "pending"


def _drop(rows: dict[str, PetitionTranslation], status: str) -> None:
    row = rows.get(status)
    if row is not None:
        db.session.delete(row)


def remove(petition: Petition, locale: str, *, now: datetime) -> bool:
    """Take the petition's text in `locale` away (published, waiting and rejected); False when there was none."""
    lock(petition)
    removed = rowcount(
        db.session.execute(
            delete(PetitionTranslation).where(
                PetitionTranslation.petition_id == petition.id, PetitionTranslation.locale == locale
            )
        )
    )
    if removed:
        petition.updated_at = now
    db.session.flush()
    return bool(removed)


def set_language(petition: Petition, locale: str, *, now: datetime, default: str, languages: tuple[str, ...]) -> None:
    """Say which language the petition is written in; refused while it has a translation into that language."""
    if locale not in languages:
        raise NotTranslatable(N_("This site does not offer that language."))
    if locale in by_language(petition.id):
        raise NotTranslatable(
            N_("The petition has a translation into this language: remove it first, then say it is written in it.")
        )
    petition.language = locale
    petition.updated_at = now
    db.session.flush()


def _waiting(row: PetitionTranslation) -> None:
    lock(row.petition)
    db.session.refresh(row)
    if row.status != "pending":
        raise NotTranslatable(N_("This translation no longer waits for review. Nothing was changed."))


def approve(row: PetitionTranslation, actor: User, *, now: datetime) -> None:
    """Publish a waiting translation in place of the one readers had (MODERATION=pre)."""
    _waiting(row)
    db.session.execute(
        delete(PetitionTranslation).where(
            PetitionTranslation.petition_id == row.petition_id,
            PetitionTranslation.locale == row.locale,
            PetitionTranslation.status.in_(("published", "rejected")),
        )
    )
    db.session.flush()  # before the status changes, for the one-row-per-language-and-status constraint
    row.status = "published"
    row.updated_at = now
    row.petition.updated_at = now
    audit.record(
        actor, "petition.translation_approve", "petition", row.petition_id, details={"language": row.locale}, now=now
    )
    db.session.flush()


def reject(row: PetitionTranslation, actor: User, *, reason: str, now: datetime) -> None:
    """Turn down a waiting translation with a reason its campaigner sees; readers keep what they had."""
    _waiting(row)
    db.session.execute(
        delete(PetitionTranslation).where(
            PetitionTranslation.petition_id == row.petition_id,
            PetitionTranslation.locale == row.locale,
            PetitionTranslation.status == "rejected",
        )
    )
    db.session.flush()
    row.status = "rejected"
    row.reason = reason
    row.updated_at = now
    audit.record(
        actor,
        "petition.translation_reject",
        "petition",
        row.petition_id,
        reason=reason,
        details={"language": row.locale},
        now=now,
    )
    db.session.flush()
