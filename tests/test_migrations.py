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
