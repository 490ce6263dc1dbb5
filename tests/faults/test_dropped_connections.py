"""Connections PostgreSQL ends while the app holds them: pooled connections found dead at checkout
(under threads, with descriptors above 1023, under gevent), and the one-statement hot writes'
own pool, which answers driver errors as SQLAlchemy does."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import psycopg
import pytest

from petitions.extensions import db
from tests.faults.helpers import plain
from tests.helpers import ROOT, csrf_from, make_app, make_petition, sign_form

pytestmark = pytest.mark.slow


def test_a_pooled_connection_that_postgresql_closed_is_replaced_at_checkout_without_an_error(
    pg: str, tmp_path: Path
) -> None:
    """No pre-ping round trip: the socket of an idle pooled connection tells that the server hung up."""
    app = make_app(pg, None, tmp_path)
    client = app.test_client()
    try:
        assert client.get("/healthz").status_code == 200
        with app.app_context():
            pid = db.session.execute(db.text("SELECT pg_backend_pid()")).scalar()
            db.session.remove()  # back in the pool, idle
        with psycopg.connect(pg.replace("+psycopg", ""), autocommit=True) as admin:
            assert admin.execute("SELECT pg_terminate_backend(%s)", (pid,)).fetchone()[0]
            deadline = time.monotonic() + 5
            while admin.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", (pid,)).fetchone()[0]:
                assert time.monotonic() < deadline, "the backend did not end"
                time.sleep(0.05)
        for _ in range(3):  # not one 503: the dead connection is dropped and a new one made
            response = client.get("/healthz")
            assert response.status_code == 200, response.text
        with app.app_context():
            assert db.session.execute(db.text("SELECT pg_backend_pid()")).scalar() != pid
    finally:
        with app.app_context():
            db.engine.dispose()


def test_pooled_connections_are_checked_while_the_process_holds_more_than_1024_files(pg: str, tmp_path: Path) -> None:
    """An event-stream process holds a thousand client sockets, so a database connection it makes
    then has a descriptor above 1023, which select() cannot watch: checking it out must still work
    (found by `make bench`: 1,000 streams, then every new connection failed its checkout)."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 2000:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(2000, hard), hard))
    held = [os.open(os.devnull, os.O_RDONLY) for _ in range(1100)]
    app = make_app(pg, None, tmp_path)
    client = app.test_client()
    try:
        for _ in range(3):  # made, returned, checked out again (twice)
            response = client.get("/healthz")
            assert response.status_code == 200, response.text
        with app.app_context():
            assert db.session.connection().connection.dbapi_connection.pgconn.socket >= 1024
            slug = make_petition().slug
        for n in range(3):  # the autocommit pool's connection, made and checked out again
            assert sign_form(client, slug, email=f"many-files-{n}@example.org").status_code == 303
    finally:
        for fd in held:
            os.close(fd)
        with app.app_context():
            db.engine.dispose()


def test_signing_and_confirming_survive_postgresql_closing_their_one_statement_connections(
    pg: str, tmp_path: Path
) -> None:
    """The hot writes' own pool (autocommit, see database.AutocommitStatement) replaces dead connections too."""
    from petitions.models import OutboxMessage, Signature
    from petitions.signatures import links

    app = make_app(pg, None, tmp_path)
    client = app.test_client()
    try:
        with app.app_context():
            slug = make_petition().slug
        assert sign_form(client, slug, email="first@example.org").status_code == 303
        with psycopg.connect(pg.replace("+psycopg", ""), autocommit=True) as admin:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            deadline = time.monotonic() + 5
            while admin.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
            ).fetchone()[0]:
                assert time.monotonic() < deadline, "the backends did not end"
                time.sleep(0.05)
        assert sign_form(client, slug, email="second@example.org").status_code == 303
        with app.app_context():
            signatures = db.session.scalars(db.select(Signature).order_by(Signature.id)).all()
            assert [s.email for s in signatures] == ["first@example.org", "second@example.org"]
            assert db.session.scalar(db.select(db.func.count()).select_from(OutboxMessage)) == 2
            token = links.confirmation_token(signatures[1])
        page = client.get(f"/verify/{token}").text
        assert client.post(f"/verify/{token}", data={"csrf_token": csrf_from(page)}).status_code == 303
        with app.app_context():
            assert db.session.scalar(db.text("SELECT signature_count FROM petitions")) == 1
            db.session.remove()
            db.engine.dispose()
            assert "engine" not in app.extensions["statement_engine"]  # disposed with the main engine
    finally:
        with app.app_context():
            db.engine.dispose()


def test_a_hot_write_answers_driver_errors_as_sqlalchemy_does(pg: str, tmp_path: Path) -> None:
    """AutocommitStatement skips SQLAlchemy's execution but not its error handling: an error of the
    statement comes as SQLAlchemy's exception with the connection kept; a connection the server
    ends mid-statement comes as OperationalError, is thrown away, and the next run gets a new one."""
    from sqlalchemy import exc, text

    from petitions.infra.database import AutocommitStatement

    app = make_app(pg, None, tmp_path)
    try:
        with app.app_context():
            divide = AutocommitStatement(text("SELECT pg_backend_pid() AS pid, 1 / :d AS q"))
            sleep = AutocommitStatement(text("SELECT pg_backend_pid() AS pid, pg_sleep(:seconds) AS slept"))
            with pytest.raises(exc.InvalidRequestError, match="'d'"):  # refused, as SQLAlchemy does, not sent as NULL
                divide.first({})
            pid = divide.first({"d": 1}).pid
            with pytest.raises(exc.DataError) as error:
                divide.first({"d": 0})
            assert not error.value.connection_invalidated
            assert divide.first({"d": 1}) == (pid, 1)  # the same connection, fine after the error

            def end_backend() -> None:
                with psycopg.connect(pg.replace("+psycopg", ""), autocommit=True) as admin:
                    deadline = time.monotonic() + 5
                    while not admin.execute(
                        "SELECT count(*) FROM pg_stat_activity WHERE pid = %s AND query LIKE '%%pg_sleep%%'", (pid,)
                    ).fetchone()[0]:
                        assert time.monotonic() < deadline, "the statement did not start"
                        time.sleep(0.02)
                    admin.execute("SELECT pg_terminate_backend(%s)", (pid,))

            killer = threading.Thread(target=end_backend)
            killer.start()
            with pytest.raises(exc.OperationalError) as error:
                sleep.first({"seconds": 10.0})
            killer.join()
            assert error.value.connection_invalidated
            assert sleep.first({"seconds": 0.0}).pid != pid  # a new connection, without restarting anything
    finally:
        with app.app_context():
            db.engine.dispose()


def test_a_hot_write_sends_typed_values_and_constants_the_same_way_every_time(pg: str, tmp_path: Path) -> None:
    """Constants (a JSON literal) are made ready for the driver once and sent unchanged on every run;
    each run's values still go through their types (JSON, the UTC datetime type), as SQLAlchemy would."""
    from datetime import UTC, datetime

    from sqlalchemy import JSON, bindparam, literal, select

    from petitions.infra.database import AutocommitStatement
    from petitions.models.types import UTCDateTime

    app = make_app(pg, None, tmp_path)
    try:
        with app.app_context():
            statement = AutocommitStatement(
                select(
                    literal({"kind": "constant"}, JSON).label("fixed"),
                    bindparam("doc", type_=JSON).label("doc"),
                    bindparam("at", type_=UTCDateTime()).label("at"),
                )
            )
            moment = datetime(2026, 11, 27, 10, 30, tzinfo=UTC)
            for n in range(3):
                row = statement.first({"doc": {"n": n, "name": "Zoë"}, "at": moment})
                assert row.fixed == {"kind": "constant"}
                assert row.doc == {"n": n, "name": "Zoë"}
                assert row.at.replace(tzinfo=UTC) == moment
    finally:
        with app.app_context():
            db.engine.dispose()


def test_a_dead_pooled_connection_is_seen_under_gevent(postgres_url: str) -> None:
    """The event-stream instance runs gevent, which replaces select.poll with its own: the check at
    checkout must still tell an idle connection from one the server ended."""
    script = f"""
from gevent import monkey
monkey.patch_all()
import psycopg, time
from petitions.infra.database import still_connected
conn = psycopg.connect({plain(postgres_url)!r}, autocommit=True)
print("idle", still_connected(conn))
with psycopg.connect({plain(postgres_url)!r}, autocommit=True) as admin:
    admin.execute("SELECT pg_terminate_backend(%s)", (conn.info.backend_pid,))
time.sleep(0.3)
print("ended", still_connected(conn))
"""
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.stdout.split() == ["idle", "True", "ended", "False"], out.stdout + out.stderr


def test_a_dropped_hot_write_connection_retires_every_connection_its_pool_made_before(pg: str, tmp_path: Path) -> None:
    """A server that dropped one connection has most likely dropped them all, silently sometimes
    (which the look at the socket at checkout cannot see): like SQLAlchemy's own Connection, the
    hot writes' pool then replaces every connection it made before, even one that still works."""
    from sqlalchemy import exc, text

    from petitions.infra import database
    from petitions.infra.database import AutocommitStatement

    app = make_app(pg, None, tmp_path)
    try:
        with app.app_context():
            pid = AutocommitStatement(text("SELECT pg_backend_pid() AS pid"))
            sleep = AutocommitStatement(text("SELECT pg_backend_pid() AS pid, pg_sleep(:seconds) AS slept"))
            engine = database._statement_engine()
            first, second = engine.raw_connection(), engine.raw_connection()  # two connections in the pool
            before = {c.dbapi_connection.info.backend_pid for c in (first, second)}
            first.close()
            second.close()

            def end_the_sleeping_backend() -> None:
                with psycopg.connect(pg.replace("+psycopg", ""), autocommit=True) as admin:
                    deadline = time.monotonic() + 5
                    while not (
                        found := admin.execute(
                            "SELECT pid FROM pg_stat_activity WHERE pid = ANY(%s) AND query LIKE '%%pg_sleep%%'",
                            (list(before),),
                        ).fetchone()
                    ):
                        assert time.monotonic() < deadline, "the statement did not start"
                        time.sleep(0.02)
                    admin.execute("SELECT pg_terminate_backend(%s)", (found[0],))

            killer = threading.Thread(target=end_the_sleeping_backend)
            killer.start()
            with pytest.raises(exc.OperationalError) as error:
                sleep.first({"seconds": 10.0})
            killer.join()
            assert error.value.connection_invalidated
            after = {pid.first({}).pid, pid.first({}).pid}
            assert not after & before  # the one still connected was replaced too
    finally:
        with app.app_context():
            db.engine.dispose()
