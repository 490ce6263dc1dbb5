"""The schema exists only through migrations, and they match the models exactly."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from petitions.extensions import db


def test_models_and_migrations_agree(app) -> None:
    with app.app_context(), db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), db.metadata)
    assert diff == []


def test_the_second_migration_fills_in_existing_signatures(database_url, tmp_path) -> None:
    """Upgrading a database that already holds signatures keeps them whole and counted."""

    from flask_migrate import downgrade, upgrade
    from sqlalchemy import text

    from petitions.clock import utcnow
    from petitions.counting import counts
    from petitions.models import Petition
    from tests.helpers import ROOT, make_app, make_petition

    app = make_app(database_url, None, tmp_path)
    with app.app_context():
        make_petition()
        downgrade(directory=str(ROOT / "migrations"), revision="0001")
        db.session.execute(
            text(
                "INSERT INTO signatures (petition_id, name, email, email_normalized, country, show_name, updates,"
                " ip_address, created_at, confirmed_at, resend_count) VALUES "
                "(1, 'A', 'a@Example.org', 'a@example.org', 'GB', false, false, '203.0.113.7',"
                " '2026-01-01 10:00:00', '2026-01-01 10:30:00', 0)"
            )
        )
        db.session.execute(text("UPDATE petitions SET signature_count = 1"))
        db.session.execute(
            text("INSERT INTO petition_country_counts (petition_id, country, count) VALUES (1, 'GB', 1)")
        )
        db.session.commit()
        upgrade(directory=str(ROOT / "migrations"))
        row = db.session.execute(text("SELECT email_domain, ip_key FROM signatures")).one()
        assert row == ("example.org", "00000000000000000000ffffcb007107")
        assert counts.recount(db.session.get(Petition, 1), now=utcnow()) == []
        db.session.rollback()
        db.engine.dispose()


# Signatures as revision 0006 stored them: (email, its key then, its domain then). Every provider
# rule of migration 0008 is here, with spellings that collide once rekeyed and one address that no
# longer validates.
BEFORE_0008 = [
    ("Jane.Doe@gmail.com", "janedoe@gmail.com", "gmail.com"),
    ("J.O.Doe+x@googlemail.com", "jodoe@gmail.com", "gmail.com"),
    ("Dave@proton.me", "dave@proton.me", "proton.me"),
    ("da.ve@protonmail.com", "da.ve@protonmail.com", "protonmail.com"),
    ("da-ve_2@protonmail.ch", "da-ve_2@protonmail.ch", "protonmail.ch"),
    ("d.a.v.e+news@pm.me", "d.a.v.e@pm.me", "pm.me"),
    ("jo@fastmail.com", "jo@fastmail.com", "fastmail.com"),
    ("x@jo.fastmail.com", "x@jo.fastmail.com", "jo.fastmail.com"),
    ("y+z@jo.fastmail.fm", "y@jo.fastmail.fm", "jo.fastmail.fm"),
    ("a@b.messagingengine.com", "a@b.messagingengine.com", "b.messagingengine.com"),
    ("ann@sent.com", "ann@sent.com", "sent.com"),
    ("bob.smith+tag@outlook.com", "bob.smith@outlook.com", "outlook.com"),
    ("bob@hotmail.co.uk", "bob@hotmail.co.uk", "hotmail.co.uk"),
    ("Carol@me.com", "carol@me.com", "me.com"),
    ("carol+x@mac.com", "carol@mac.com", "mac.com"),
    ("erin-shopping@yahoo.com", "erin-shopping@yahoo.com", "yahoo.com"),
    ("erin-news@ymail.com", "erin-news@ymail.com", "ymail.com"),
    ("-x@yahoo.fr", "-x@yahoo.fr", "yahoo.fr"),
    ("+abc@example.com", "@example.com", "example.com"),
    ("+@example.org", "@example.org", "example.org"),
    ("Zoe+tag@example.org", "zoe@example.org", "example.org"),
    ("josé@xn--bcher-kva.example", "josé@xn--bcher-kva.example", "xn--bcher-kva.example"),
    ("a..b@proton.me", "a..b@proton.me", "proton.me"),
]
# What upgrading them to head gives, as migration 0008 computed it when it was written.
AFTER_0008 = {
    "Jane.Doe@gmail.com": ("janedoe@gmail.com", "gmail.com"),
    "J.O.Doe+x@googlemail.com": ("jodoe@gmail.com", "gmail.com"),
    "Dave@proton.me": ("dave@proton.me", "proton.me"),
    "da.ve@protonmail.com": ("da.ve@protonmail.com", "protonmail.com"),  # dave@proton.me is taken: kept
    "da-ve_2@protonmail.ch": ("dave2@proton.me", "proton.me"),
    "d.a.v.e+news@pm.me": ("d.a.v.e@pm.me", "pm.me"),  # dave@proton.me is taken: kept
    "jo@fastmail.com": ("jo@fastmail.com", "fastmail.com"),
    "x@jo.fastmail.com": ("x@jo.fastmail.com", "jo.fastmail.com"),  # jo@fastmail.com is taken: kept
    "y+z@jo.fastmail.fm": ("jo@fastmail.fm", "fastmail.fm"),
    "a@b.messagingengine.com": ("b@messagingengine.com", "messagingengine.com"),
    "ann@sent.com": ("ann@sent.com", "sent.com"),
    "bob.smith+tag@outlook.com": ("bob.smith@outlook.com", "outlook.com"),
    "bob@hotmail.co.uk": ("bob@hotmail.co.uk", "hotmail.co.uk"),
    "Carol@me.com": ("carol@icloud.com", "icloud.com"),
    "carol+x@mac.com": ("carol@mac.com", "mac.com"),  # carol@icloud.com is taken: kept
    "erin-shopping@yahoo.com": ("erin-@yahoo.com", "yahoo.com"),
    "erin-news@ymail.com": ("erin-@ymail.com", "ymail.com"),
    "-x@yahoo.fr": ("-x@yahoo.fr", "yahoo.fr"),
    "+abc@example.com": ("+abc@example.com", "example.com"),
    "+@example.org": ("+@example.org", "example.org"),
    "Zoe+tag@example.org": ("zoe@example.org", "example.org"),
    "josé@xn--bcher-kva.example": ("josé@xn--bcher-kva.example", "xn--bcher-kva.example"),
    "a..b@proton.me": ("a..b@proton.me", "proton.me"),  # no longer validates: left as it is
}


def test_upgrading_from_before_0008_rekeys_mailboxes_as_it_did_when_written(database_url, tmp_path) -> None:
    """Migration 0008 computes mailbox keys with rules frozen in its own file: whatever the
    application's rules become, upgrading an old database gives these keys, domains and group
    counts; downgrading gives the old keys back."""
    from flask_migrate import downgrade, upgrade
    from sqlalchemy import text

    from tests.helpers import ROOT, make_app, make_petition

    migrations = str(ROOT / "migrations")
    app = make_app(database_url, None, tmp_path)
    with app.app_context():
        make_petition()
        db.session.execute(
            text(
                "INSERT INTO supporter_groups (petition_id, name, signature_count, created_at)"
                " VALUES (1, 'Proton and Fastmail', 0, '2026-01-01 09:00:00')"
            )
        )
        for domain in ("protonmail.com", "fastmail.fm"):
            db.session.execute(
                text("INSERT INTO group_domains (petition_id, group_id, domain) VALUES (1, 1, :d)"), {"d": domain}
            )
        db.session.commit()
        downgrade(directory=migrations, revision="0006")  # the revision before 0008
        for i, (email, key, domain) in enumerate(BEFORE_0008, start=1):
            db.session.execute(
                text(
                    "INSERT INTO signatures (id, petition_id, name, email, email_normalized, email_domain, country,"
                    " show_name, updates, created_at, confirmed_at, resend_count)"
                    " VALUES (:i, 1, 'N', :e, :k, :d, 'GB', false, false, '2026-01-01 10:00:00',"
                    " '2026-01-01 10:30:00', 0)"
                ),
                {"i": i, "e": email, "k": key, "d": domain},
            )
        db.session.commit()

        upgrade(directory=migrations)
        rows = db.session.execute(text("SELECT email, email_normalized, email_domain FROM signatures")).all()
        assert {email: (key, domain) for email, key, domain in rows} == AFTER_0008
        # recounted: da.ve@protonmail.com kept its domain, y+z@jo.fastmail.fm is now at fastmail.fm itself
        assert db.session.execute(text("SELECT signature_count FROM supporter_groups")).scalar_one() == 2
        db.session.commit()

        downgrade(directory=migrations, revision="0006")
        rows = db.session.execute(text("SELECT email, email_normalized, email_domain FROM signatures")).all()
        assert {email: (key, domain) for email, key, domain in rows} == {e: (k, d) for e, k, d in BEFORE_0008}
        db.session.commit()
        upgrade(directory=migrations)
        db.engine.dispose()


def test_no_migration_imports_the_application() -> None:
    """A migration runs against the code of every later release: what it needs of the rules of its
    day is copied into its own file, so a later change to the application cannot change what it does."""
    import ast

    from tests.helpers import ROOT

    for path in sorted((ROOT / "migrations" / "versions").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            assert not [n for n in names if n == "petitions" or n.startswith("petitions.")], path.name
