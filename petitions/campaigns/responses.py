"""The target's response and a petition's victory, posted by its campaigner or an administrator.

Posting a response, in one transaction: the response row, `outcome = 'won'` when it comes with
the victory, an update to the signers who asked for them (written in each signer's language by
campaigns/updates.py) and the `petition.responded` webhook event. A victory does not close the
petition: `status` keeps saying whether it takes signatures, `outcome` says what it achieved.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from flask_babel import gettext as _

from petitions.campaigns import updates
from petitions.exceptions import DomainError
from petitions.extensions import db
from petitions.infra.text import refused_markup, render_markdown
from petitions.models import Petition, PetitionResponse, User
from petitions.moderation import audit
from petitions.webhooks import events

WON = "won"


class ResponseError(DomainError):
    """The response cannot be posted as it is; the message says why, and nothing was stored."""


@dataclass(frozen=True)
class ResponseData:
    """A response as the form gives it: Markdown, the day the target answered, and whether the petition won."""

    text: str
    responded_on: date
    won: bool = False


def _audit_if_admin(petition: Petition, actor: User, action: str, now: datetime, **details: object) -> None:
    """An administrator acting on someone else's petition leaves an entry in the audit log."""
    if actor.is_admin and petition.owner_id != actor.id:
        audit.record(actor, action, "petition", petition.id, details={"slug": petition.slug, **details}, now=now)


def post_response(petition: Petition, author: User, data: ResponseData, *, now: datetime) -> PetitionResponse:
    """Record the target's response, mark a victory, queue the signers' update and the webhook event."""
    if not petition.is_public():
        raise ResponseError(_("A response can be posted once the petition is public."))
    if data.responded_on > now.date():
        raise ResponseError(_("The date of the response cannot be in the future."))
    refused = refused_markup(data.text)
    if refused:
        raise ResponseError(
            _(
                "The response may use Markdown only, without HTML or scripts. Please remove: %(found)s",
                found=", ".join(refused),
            )
        )
    response = PetitionResponse(
        petition_id=petition.id,
        author_id=author.id,
        text=data.text,
        text_html=render_markdown(data.text),
        responded_on=data.responded_on,
        created_at=now,
        won=data.won,
    )
    db.session.add(response)
    if data.won:
        petition.outcome = WON
    db.session.flush()
    updates.announce_response(petition, response, author, now=now)
    events.responded(petition, response, now=now)
    _audit_if_admin(petition, author, "petition.respond", now, won=data.won)
    return response


def set_outcome(petition: Petition, actor: User, outcome: str | None, *, now: datetime) -> None:
    """Mark the petition won (`outcome='won'`) or take the mark back (None); its status stays as it is."""
    if outcome not in (None, WON):
        raise ResponseError(_("Unknown outcome."))
    if not petition.is_public():
        raise ResponseError(_("A petition can be marked as won once it is public."))
    petition.outcome = outcome
    db.session.flush()
    _audit_if_admin(petition, actor, "petition.outcome", now, outcome=outcome)
