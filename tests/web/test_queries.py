"""No page or API call issues a number of queries that grows with the rows it shows."""

from __future__ import annotations

from contextlib import contextmanager

from sqlalchemy import event

from petitions.clock import utcnow
from petitions.extensions import db
from petitions.signatures import confirming, signing
from tests.helpers import login, make_petition, make_user


@contextmanager
def counting(app):
    """Count the SQL statements the app sends while the block runs."""
    statements: list[str] = []
    with app.app_context():
        engine = db.engine

    def before(conn, cursor, statement, *args):
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", before)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", before)


def add_petitions(app, owner_email: str, n: int) -> str:
    with app.app_context():
        owner = make_user(owner_email) if n else None
        slug = ""
        for i in range(n):
            p = make_petition(owner, title=f"Petition number {i}")
            s = signing.sign(p, signing.SignatureData("A", f"s{i}@example.org", "GB"), now=utcnow(), ip=None)
            confirming.confirm(s, now=utcnow())
            slug = p.slug
        db.session.commit()
        return slug


def queries_for(app, client, url: str) -> int:
    with counting(app) as statements:
        assert client.get(url).status_code == 200
    return len(statements)


def test_list_pages_cost_the_same_for_2_rows_as_for_12(app, client) -> None:
    add_petitions(app, "campaigner@example.org", 2)
    login(client)
    urls = ["/", "/?sort=new", "/?q=number", "/api/v1/petitions", "/account"]
    few = {url: queries_for(app, client, url) for url in urls}
    with app.app_context():
        from sqlalchemy import select

        from petitions.models import User

        owner = db.session.scalar(select(User))
        for i in range(10):
            p = make_petition(owner, title=f"Another petition {i}")
            s = signing.sign(p, signing.SignatureData("A", f"t{i}@example.org", "FR"), now=utcnow(), ip=None)
            confirming.confirm(s, now=utcnow())
        db.session.commit()
    many = {url: queries_for(app, client, url) for url in urls}
    assert many == few


def test_my_data_finds_a_mailbox_through_an_index_not_a_scan_of_every_signature(app, ctx) -> None:
    """The public "my data" form asks about one mailbox across all petitions (migration 0004's index)."""
    from sqlalchemy import select

    from petitions.models import Signature

    query = (
        select(Signature).where(Signature.email_normalized == "sam@example.org").order_by(Signature.created_at.desc())
    )
    sql = str(query.compile(db.engine, compile_kwargs={"literal_binds": True}))
    if db.engine.dialect.name == "postgresql":
        db.session.execute(db.text("SET LOCAL enable_seqscan = off"))  # an empty table would be scanned anyway
        plan = "\n".join(row[0] for row in db.session.execute(db.text(f"EXPLAIN {sql}")))
        valid = db.session.execute(
            db.text(
                "SELECT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid"
                " WHERE c.relname = 'ix_signatures_email_normalized'"
            )
        ).scalar()
        assert valid is True
    else:
        plan = "\n".join(str(row[-1]) for row in db.session.execute(db.text(f"EXPLAIN QUERY PLAN {sql}")))
    db.session.rollback()
    assert "ix_signatures_email_normalized" in plan, plan


def test_a_repeated_signing_sends_the_same_statements_as_a_first_one(app, client, monkeypatch) -> None:
    """Whether an address has signed must not show in the answer, nor in its timing: on PostgreSQL a
    first signing and a repeat are the same one statement (see signing._sign_or_repeat_statement)."""
    from sqlalchemy.engine import Engine

    from petitions.infra.database import AutocommitStatement
    from tests.helpers import is_postgres, sign_form

    with app.app_context():
        slug = make_petition().slug
    sent: list[str] = []

    def before(conn, cursor, statement, *args):
        sent.append(statement)

    run_alone = AutocommitStatement.first

    def first_recorded(self, params):  # the hot writes go to the driver without SQLAlchemy's events
        sent.append(str(self.statement.compile(dialect=db.engine.dialect)))
        return run_alone(self, params)

    monkeypatch.setattr(AutocommitStatement, "first", first_recorded)

    def statements_of(email: str) -> list[str]:
        sent.clear()
        event.listen(Engine, "before_cursor_execute", before)  # every engine's statements but the hot writes'
        try:
            assert sign_form(client, slug, email=email).status_code == 303
        finally:
            event.remove(Engine, "before_cursor_execute", before)
        return list(sent)

    statements_of("warm@example.org")  # caches filled
    first = statements_of("sam@example.org")
    repeats = [statements_of("SAM@example.org") for _ in range(app.config["SIGNATURE_MAX_RESENDS"] + 1)]
    if is_postgres(app):
        assert sum("INSERT INTO signatures" in s for s in first) == 1, first  # one statement writes
        # resends within the limit and beyond it alike
        assert all(r == first for r in repeats), [r for r in repeats if r != first][:1]
    with app.app_context():
        from petitions.models import OutboxMessage, Signature

        assert db.session.scalar(db.select(db.func.count()).select_from(Signature)) == 2
        sam = db.session.scalar(
            db.select(db.func.count()).select_from(OutboxMessage).where(OutboxMessage.to_addr == "sam@example.org")
        )
        assert sam == 1 + app.config["SIGNATURE_MAX_RESENDS"]
