"""The provider rules of the mailbox key (emails.PROVIDERS), and migration 0008 that applies them to existing rows."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from petitions.signatures.mailboxes import PROVIDERS, legacy_key, normalize_email


@pytest.mark.parametrize(
    ("provider", "spellings"),
    [
        ("Gmail", ["dave@gmail.com", "d.a.v.e@gmail.com", "Dave+x@googlemail.com"]),
        (
            "Proton",
            ["dave@proton.me", "da.ve@proton.me", "da-ve@protonmail.com", "da_ve@pm.me", "dave+x@protonmail.ch"],
        ),
        ("Fastmail", ["dave@fastmail.com", "x@dave.fastmail.com", "dave+shop@fastmail.com", "y+z@dave.fastmail.com"]),
        ("Fastmail", ["dave@fastmail.fm", "x@dave.fastmail.fm"]),
        ("Outlook", ["dave@outlook.com", "Dave+news@outlook.com"]),
        ("Outlook", ["dave@hotmail.com", "dave+x@hotmail.com"]),
        ("iCloud", ["dave@icloud.com", "dave+x@icloud.com", "dave@me.com", "dave@mac.com"]),
        ("Yahoo", ["dave-shops@yahoo.com", "dave-news@yahoo.com", "Dave-News+x@yahoo.com"]),
    ],
)
def test_every_spelling_that_reaches_one_mailbox_has_one_key(provider: str, spellings: list[str]) -> None:
    assert provider in {p.name for p in PROVIDERS}
    assert len({normalize_email(a) for a in spellings}) == 1, {a: normalize_email(a) for a in spellings}


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("+abc@example.com", "+zzz@example.com"),  # a name that is only a tag is kept whole
        ("+abc@gmail.com", "+zzz@gmail.com"),
        ("-abc@yahoo.com", "-zzz@yahoo.com"),  # a disposable address with no base name
        ("da.ve@outlook.com", "dave@outlook.com"),  # dots matter at Outlook
        ("da-ve@example.org", "dave@example.org"),  # and everywhere Proton's rule is not known
        ("dave@fastmail.com", "dave@fastmail.fm"),  # Fastmail's domains are separate namespaces
        ("dave@outlook.com", "dave@hotmail.com"),
        ("dave-shops@yahoo.com", "dave@yahoo.com"),  # a base name is not the account named like it
        ("x@dave.example.org", "dave@example.org"),  # subdomain addressing only where the provider has it
    ],
)
def test_different_mailboxes_keep_different_keys(a: str, b: str) -> None:
    assert normalize_email(a) != normalize_email(b)


def test_the_domain_of_a_key_is_the_providers_own() -> None:
    assert normalize_email("x@dave.fastmail.com").rpartition("@")[2] == "fastmail.com"
    assert normalize_email("dave@pm.me") == "dave@proton.me"
    assert normalize_email("+abc@example.com") == "+abc@example.com"


def test_the_legacy_key_is_the_rule_before_the_providers() -> None:
    assert legacy_key("Da.Ve+x@proton.me") == "da.ve@proton.me"
    assert legacy_key("j.o+x@googlemail.com") == "jo@gmail.com"
    assert legacy_key("+abc@example.com") == "@example.com"


def test_migration_0008_rekeys_existing_signatures_and_keeps_counts_exact(database_url, tmp_path) -> None:
    """Existing rows get the provider keys; a pair that now collides keeps both rows; groups are recounted;
    a link sent before still works; suspected rows are known from their automatic batches."""
    from flask_migrate import downgrade, upgrade

    from petitions.clock import utcnow
    from petitions.counting import counts
    from petitions.extensions import db
    from petitions.infra import tokens
    from petitions.models import Petition, Signature, SupporterGroup
    from petitions.signatures import links, signing
    from tests.helpers import ROOT, make_app, make_petition

    app = make_app(database_url, None, tmp_path)
    with app.app_context():
        make_petition()
        db.session.execute(
            text(
                "INSERT INTO supporter_groups (petition_id, name, signature_count, created_at)"
                " VALUES (1, 'Proton people', 0, '2026-01-01 09:00:00')"
            )
        )
        db.session.execute(
            text("INSERT INTO group_domains (petition_id, group_id, domain) VALUES (1, 1, 'protonmail.com')")
        )
        db.session.commit()
        downgrade(directory=str(ROOT / "migrations"), revision="0005")
        rows = [  # email, the key the old rule gave it, its domain, confirmed?
            ("dave@proton.me", "dave@proton.me", "proton.me", True),
            ("da.ve@protonmail.com", "da.ve@protonmail.com", "protonmail.com", True),  # now the same mailbox: kept
            ("x@jo.fastmail.com", "x@jo.fastmail.com", "jo.fastmail.com", True),
            ("+abc@example.com", "@example.com", "example.com", True),
            ("ann@protonmail.com", "ann@protonmail.com", "protonmail.com", True),
            ("bot@example.net", "bot@example.net", "example.net", False),
        ]
        for i, (email, key, domain, confirmed) in enumerate(rows, start=1):
            db.session.execute(
                text(
                    "INSERT INTO signatures (id, petition_id, name, email, email_normalized, email_domain, country,"
                    " show_name, updates, created_at, confirmed_at, resend_count)"
                    " VALUES (:i, 1, 'N', :e, :k, :d, 'GB', false, false, '2026-01-01 10:00:00', :c, 0)"
                ),
                {"i": i, "e": email, "k": key, "d": domain, "c": "2026-01-01 10:30:00" if confirmed else None},
            )
        db.session.execute(
            text(
                "INSERT INTO invalidations (id, petition_id, actor_id, reason, criteria, signature_count, created_at)"
                " VALUES (1, 1, NULL, 'Suspected: form sent faster than a person can (2026-01-01)',"
                ' \'{"automatic": "fast", "day": "2026-01-01"}\', 1, \'2026-01-01 10:00:00\')'
            )
        )
        db.session.execute(
            text("UPDATE signatures SET invalidated_at = '2026-01-01 10:00:00', invalidation_id = 1 WHERE id = 6")
        )
        db.session.execute(text("UPDATE petitions SET signature_count = 5"))
        db.session.execute(text("UPDATE supporter_groups SET signature_count = 2"))
        db.session.execute(
            text("INSERT INTO petition_country_counts (petition_id, country, count) VALUES (1, 'GB', 5)")
        )
        db.session.execute(
            text("INSERT INTO petition_hourly_counts (petition_id, hour, count) VALUES (1, '2026-01-01 10:00:00', 5)")
        )
        db.session.commit()
        # a withdraw link sent before the rules changed: bound to the old key's digest
        old_link = tokens.make_token(tokens.WITHDRAW_SIGNATURE, [2, links.email_digest("da.ve@protonmail.com")])

        upgrade(directory=str(ROOT / "migrations"))
        keys = dict(db.session.execute(text("SELECT email, email_normalized FROM signatures")).all())
        assert keys == {
            "dave@proton.me": "dave@proton.me",
            "da.ve@protonmail.com": "da.ve@protonmail.com",  # collided with dave@proton.me: keeps its old key
            "x@jo.fastmail.com": "jo@fastmail.com",
            "+abc@example.com": "+abc@example.com",
            "ann@protonmail.com": "ann@proton.me",
            "bot@example.net": "bot@example.net",
        }
        domains = dict(db.session.execute(text("SELECT email, email_domain FROM signatures")).all())
        assert domains["ann@protonmail.com"] == "proton.me" and domains["x@jo.fastmail.com"] == "fastmail.com"
        # the group counted protonmail.com: it now matches only the row that kept its old key
        assert db.session.get(SupporterGroup, 1).signature_count == 1
        assert counts.recount(db.session.get(Petition, 1), now=utcnow()) == []
        assert db.session.get(Signature, 6).suspected == "fast"
        assert (
            links.signature_from_token(
                old_link, now=utcnow(), purpose=tokens.WITHDRAW_SIGNATURE, max_age=tokens.LONG_LIVED
            ).id
            == 2
        )
        # a new spelling of a migrated mailbox meets its row
        new = signing.record(
            db.session.get(Petition, 1), signing.SignatureData("N", "a.n.n@pm.me", "GB"), now=utcnow(), ip=None
        )
        assert new == 5
        db.session.rollback()

        downgrade(directory=str(ROOT / "migrations"), revision="0005")
        keys = dict(db.session.execute(text("SELECT email, email_normalized FROM signatures")).all())
        assert keys["ann@protonmail.com"] == "ann@protonmail.com" and keys["+abc@example.com"] == "@example.com"
        db.session.rollback()
        upgrade(directory=str(ROOT / "migrations"))
        db.engine.dispose()
