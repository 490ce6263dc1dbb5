"""Timing: /forgot-password does the same work whether or not the address has an account.

The attack: time the answer. It was the same page either way, but about twice as fast for
an unknown address (no link signed, no email rendered, no outbox row written), which tells
a stranger which addresses have accounts.
"""

from __future__ import annotations

import re

from sqlalchemy import event, func, select

from petitions.extensions import db
from petitions.models import OutboxMessage
from tests.helpers import csrf_from, make_user

KNOWN, UNKNOWN = "known@example.org", "unknown@example.org"


def ask(client, email: str):
    """Ask for a reset link the way the page does."""
    token = csrf_from(client.get("/forgot-password").text)
    return client.post("/forgot-password", data={"email": email, "csrf_token": token})


def test_a_known_and_an_unknown_address_run_the_same_statements(app, mailbox) -> None:
    with app.app_context():
        make_user(KNOWN)
        engine = db.engine
    client = app.test_client()
    ask(client, UNKNOWN)  # the first request connects, and a first connection may ask the server things
    statements: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        statements.append(re.sub(r"\s+", " ", statement).strip())

    event.listen(engine, "before_cursor_execute", record)
    try:
        known = ask(client, KNOWN)
        known_statements = list(statements)
        statements.clear()
        unknown = ask(client, UNKNOWN)
        unknown_statements = list(statements)
    finally:
        event.remove(engine, "before_cursor_execute", record)

    assert (known.status_code, known.headers["Location"]) == (unknown.status_code, unknown.headers["Location"])

    def kinds(found: list[str]) -> list[str]:
        # The unknown address's row is written and then undone; the rest is the same.
        return [re.sub(r"^(RELEASE|ROLLBACK TO) SAVEPOINT", "END SAVEPOINT", s) for s in found]

    assert any(s.startswith("INSERT INTO outbox_messages") for s in unknown_statements)
    assert kinds(known_statements) == kinds(unknown_statements)
    with app.app_context():
        rows = dict(
            db.session.execute(select(OutboxMessage.to_addr, func.count()).group_by(OutboxMessage.to_addr)).all()
        )
    assert rows == {KNOWN: 1}  # nothing is ever sent to the unknown address
