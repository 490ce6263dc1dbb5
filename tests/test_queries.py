"""No page or API call issues a number of queries that grows with the rows it shows."""

from __future__ import annotations

from contextlib import contextmanager

from sqlalchemy import event

from petitions import signing
from petitions.clock import utcnow
from petitions.extensions import db

from .conftest import login, make_petition, make_user


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
            signing.confirm(s, now=utcnow())
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
            signing.confirm(s, now=utcnow())
        db.session.commit()
    many = {url: queries_for(app, client, url) for url in urls}
    assert many == few
