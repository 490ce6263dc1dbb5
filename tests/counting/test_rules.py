"""Each rule written once, in Python and in SQL side by side: here both forms meet one table of cases.

counting/rules.py (what counts, what waits for its confirmation, what is held as suspected,
which supporter groups a signature counts toward), signatures/repeats.py (what a repeated
signing gets) and the mailbox digest of links.py: every form is run against the same cases on
SQLite and on PostgreSQL, and they must agree with each other and with the table. The forms
written as PostgreSQL text run on PostgreSQL only, where the code runs them.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import timedelta

import pytest
from flask import Flask
from sqlalchemy import select, text

from petitions.clock import utcnow
from petitions.counting import counts, rules
from petitions.extensions import db
from petitions.models import GroupDomain, OutboxMessage, Petition, Signature, SupporterGroup
from petitions.signatures import links, repeats, signing
from petitions.signatures.links import ALREADY_SIGNED_EMAIL, CONFIRMATION_EMAIL
from tests.helpers import is_postgres, make_petition

# --- signatures in every state a row can be in --------------------------------------------------


@dataclass(frozen=True)
class State:
    """A signature's state, and what each rule says of it."""

    confirmed: bool
    invalidated: bool
    suspected: str | None
    withdrawn: bool
    counts: bool
    awaits_confirmation: bool
    held_as_suspected: bool
    repeat_email: str | None  # what a repeated signing (with a resend left) sends


STATES = {
    "pending": State(False, False, None, False, False, True, False, CONFIRMATION_EMAIL),
    "confirmed": State(True, False, None, False, True, False, False, ALREADY_SIGNED_EMAIL),
    "invalidated, pending": State(False, True, None, False, False, False, False, None),
    "invalidated, confirmed": State(True, True, None, False, False, False, False, None),
    "suspected, pending": State(False, True, "fast", False, False, False, True, None),
    "suspected, confirmed": State(True, True, "stamp-reused", False, False, False, True, None),
    "withdrawn while invalidated": State(False, True, None, True, False, False, False, None),
    "withdrawn after confirming, invalidated": State(True, True, None, True, False, False, False, None),
    "withdrawn while suspected": State(True, True, "fast", True, False, False, False, None),
}


# The languages a signature may have been signed in: Spanish (the `spanish` mark's catalogue), the
# default, none stored (older rows), and one the site does not offer (any more): both the default's.
LOCALES = ("es", "en", None, "xx")


def add_signature(
    petition: Petition, state: State, email: str, *, resend_count: int = 0, locale: str | None = None
) -> Signature:
    """A signature row in this state (flushed), as the site stores one: withdrawn and suspected rows are invalidated."""
    now = utcnow() - timedelta(hours=1)
    signature = Signature(
        petition_id=petition.id,
        name="" if state.withdrawn else "Sam Signer",
        email=email,
        email_normalized=email,
        email_domain=email.rpartition("@")[2],
        country="GB",
        show_name=False,
        updates=not state.withdrawn,
        created_at=now,
        confirmed_at=now if state.confirmed else None,
        invalidated_at=now if state.invalidated else None,
        suspected=state.suspected,
        withdrawn_at=now if state.withdrawn else None,
        resend_count=resend_count,
        locale=locale,
    )
    db.session.add(signature)
    db.session.flush()
    return signature


def ids_where(*conditions) -> set[int]:
    return set(db.session.scalars(select(Signature.id).where(*conditions)))


def test_what_counts_waits_or_is_held_is_the_same_in_python_and_in_sql(ctx: Flask) -> None:
    petition = make_petition()
    rows = {name: add_signature(petition, state, f"s{i}@example.org") for i, (name, state) in enumerate(STATES.items())}
    name_of = {s.id: name for name, s in rows.items()}

    def named(ids: set[int]) -> set[str]:
        return {name_of[i] for i in ids}

    # the table, the Python forms and the Core forms
    want_counts = {name for name, state in STATES.items() if state.counts}
    want_awaiting = {name for name, state in STATES.items() if state.awaits_confirmation}
    want_held = {name for name, state in STATES.items() if state.held_as_suspected}
    assert {name for name, s in rows.items() if rules.counts(s)} == want_counts
    assert named(ids_where(*rules.counted())) == want_counts
    assert {name for name, s in rows.items() if rules.awaits_confirmation(s)} == want_awaiting
    assert named(ids_where(*rules.awaiting_confirmation())) == want_awaiting
    assert {name for name, s in rows.items() if rules.held_as_suspected(s)} == want_held
    assert named(ids_where(*rules.holding_as_suspected())) == want_held
    # the text form in PostgreSQL's one-statement confirmation is plain SQL: it runs here on both databases
    awaiting_text = db.session.scalars(text(f"SELECT id FROM signatures WHERE {rules.AWAITING_CONFIRMATION_SQL}"))
    assert named(set(awaiting_text)) == want_awaiting

    # awaiting confirmation is exactly "confirming it makes it count"
    for name, s in rows.items():
        if s.confirmed_at is None:
            s.confirmed_at = utcnow()
            assert rules.counts(s) == STATES[name].awaits_confirmation, name
    db.session.rollback()


def test_the_mailbox_digest_of_a_link_is_the_same_in_python_and_in_sql(app: Flask, ctx: Flask) -> None:
    keys = ["sam@example.org", "josé@example.org", "+abc@example.com", "dave@proton.me"]
    python = [links.email_digest(k) for k in keys]
    assert all(len(d) == 16 for d in python)
    if is_postgres(app):  # only PostgreSQL's one-statement confirmation checks it in SQL
        sql = text(f"SELECT {links.email_digest_sql('CAST(:key AS varchar)')}")
        assert [db.session.scalar(sql, {"key": k}) for k in keys] == python


# --- supporter groups ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Membership:
    """A signature's email domain, a group's domain, and whether the signature counts toward the group."""

    email_domain: str
    group_domain: str
    member: bool


MEMBERSHIPS = {
    "exact domain": Membership("example.com", "example.com", True),
    "subdomain": Membership("sub.example.com", "example.com", True),
    "deep subdomain": Membership("a.b.example.com", "example.com", True),
    "look-alike suffix": Membership("evilexample.com", "example.com", False),
    "look-alike prefix": Membership("example.com.evil.org", "example.com", False),
    "a shorter domain": Membership("example.co", "example.com", False),
    "the parent of the group's domain": Membership("example.com", "sub.example.com", False),
    "the top-level domain only": Membership("com", "example.com", False),
    "another case, exact": Membership("EXAMPLE.COM", "example.com", False),
    "another case, subdomain": Membership("Sub.Example.COM", "example.com", False),
    "the group's domain in another case": Membership("sub.example.com", "EXAMPLE.com", False),
    "an underscore in the group's domain": Membership("x.aXb.com", "a_b.com", False),
}


@pytest.mark.parametrize("case", MEMBERSHIPS, ids=str)
def test_which_groups_a_signature_counts_toward_is_the_same_in_every_form(app: Flask, ctx: Flask, case: str) -> None:
    m = MEMBERSHIPS[case]
    database = "postgresql" if is_postgres(app) else "sqlite"
    petition = make_petition()
    group = SupporterGroup(petition_id=petition.id, name="Example", created_at=utcnow(), signature_count=0)
    group.domains.append(GroupDomain(petition_id=petition.id, domain=m.group_domain))
    db.session.add(group)
    db.session.flush()
    moved = {group.id: 1} if m.member else {}

    # Python: the rule, and counts.apply's lookup of every suffix
    assert rules.in_group(m.email_domain, m.group_domain) is m.member
    assert dict(counts._group_changes(Counter({(petition.id, m.email_domain): 1}))) == moved

    # counts.apply, the path a confirmation takes: Python on SQLite, PostgreSQL's one statement
    # (rules.in_group_sql) there; both move the group by what the rule says
    counts.apply([counts.Counted(petition.id, "GB", m.email_domain, utcnow())], +1, now=utcnow())
    db.session.refresh(group)
    assert group.signature_count == int(m.member)
    if database == "postgresql":
        sql = text(f"SELECT {rules.in_group_sql('CAST(:e AS varchar)', 'CAST(:g AS varchar)')}")
        assert db.session.scalar(sql, {"e": m.email_domain, "g": m.group_domain}) is m.member

    # recounting from the rows (rules.group_match)
    email = f"sam@{m.email_domain}"
    add_signature(petition, STATES["confirmed"], email)
    assert (counts.group_actual(group) == 1) is m.member
    db.session.rollback()


# --- a repeated signing -------------------------------------------------------------------------


@pytest.mark.spanish
def test_the_email_a_repeat_gets_is_the_same_in_python_and_in_sql(ctx: Flask) -> None:
    """Its template, and its subject in the language the signature was signed in."""
    petition = make_petition(title="Stop selling Rekognition")
    rows = {
        (name, locale): add_signature(petition, state, f"s{i}-{j}@example.org", locale=locale)
        for i, (name, state) in enumerate(STATES.items())
        for j, locale in enumerate(LOCALES)
    }
    template_sql, subject_sql, send_sql = repeats.repeat_email_sql(
        Signature.confirmed_at, Signature.invalidated_at, Signature.locale
    )
    params = repeats.resend_parameters(petition.title)
    answers = {
        sid: (template if send else None, subject if send else None)
        for sid, template, subject, send in db.session.execute(
            select(Signature.id, template_sql, subject_sql, send_sql), params
        )
    }
    spanish = {CONFIRMATION_EMAIL: "Confirma tu firma: ", ALREADY_SIGNED_EMAIL: "Ya has firmado: "}
    english = {CONFIRMATION_EMAIL: "Please confirm your signature: ", ALREADY_SIGNED_EMAIL: "You have already signed: "}
    for (name, locale), s in rows.items():
        state = STATES[name]
        python = repeats.repeat_email(confirmed=s.confirmed_at is not None, invalidated=s.invalidated_at is not None)
        assert python == state.repeat_email, name
        subject = None if python is None else links.subject(python, petition.title, s.locale)
        assert answers[s.id] == (python, subject), (name, locale)
        if python is not None:
            assert subject == (spanish if locale == "es" else english)[python] + petition.title, (name, locale)
    db.session.rollback()


RESENDS_USED = ("none", "all but one", "all")


def repeat_outcome(signature_id: int) -> tuple[int, list[tuple[str, str, dict]]]:
    """What a repeat left behind: the signature's resend count, and the emails queued about it
    (template, subject, context), each checked to go to the address that signed first."""
    signature = db.session.get_one(Signature, signature_id)
    db.session.refresh(signature)
    emails = []
    for message in db.session.scalars(select(OutboxMessage).where(OutboxMessage.signature_id == signature_id)):
        assert message.to_addr == signature.email
        context = dict(message.context)
        assert context.pop("digest") == links.email_digest(signature.email_normalized)
        emails.append((message.template, message.subject, context))
    return signature.resend_count, emails


@pytest.mark.spanish
@pytest.mark.parametrize("resends_used", RESENDS_USED, ids=str)
def test_a_repeated_signing_has_the_same_outcome_on_every_database_and_in_both_forms(
    app: Flask, ctx: Flask, resends_used: str
) -> None:
    """signing.record answers a repeat with the SQL form on PostgreSQL and the Python form on SQLite;
    on PostgreSQL the Python form (repeats.answer_repeat, its long path) runs too, on a twin row.
    The email is in the language the signature was signed in, not the repeat's (from a French page)."""
    limit = app.config["SIGNATURE_MAX_RESENDS"]
    used = {"none": 0, "all but one": limit - 1, "all": limit}[resends_used]
    petition = make_petition(title="Stop selling Rekognition")
    now = utcnow()
    for i, (name, state) in enumerate(STATES.items()):
        locale = LOCALES[i % len(LOCALES)]
        by_record = add_signature(petition, state, f"a{i}@example.org", resend_count=used, locale=locale)
        twin = add_signature(petition, state, f"b{i}@example.org", resend_count=used, locale=locale)
        db.session.commit()
        typed = signing.SignatureData("Someone Else", f"A{i}+again@Example.org", "FR", updates=False, locale="fr")
        assert signing.record(petition, typed, now=now, ip=None) == by_record.id
        outcome = repeat_outcome(by_record.id)

        claimed = used < limit
        template = state.repeat_email if claimed else None
        context = {
            "name": by_record.name,
            "title": petition.title,
            "slug": petition.slug,
            "updates": by_record.updates,
            "locale": locale,
        }
        emails = [] if template is None else [(template, links.subject(template, petition.title, locale), context)]
        if emails and locale == "es":
            assert emails[0][1].startswith(("Confirma tu firma: ", "Ya has firmado: ")), name
        assert outcome == (used + int(claimed), emails), name

        if is_postgres(app):
            repeats.answer_repeat(db.session.get_one(Signature, twin.id), now=now)
            assert repeat_outcome(twin.id) == outcome, name
        db.session.commit()
