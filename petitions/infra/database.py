"""Engine set-up that the databases need to behave alike."""

from __future__ import annotations

import contextlib
import copy
import logging
import select
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from flask import Flask, current_app
from psycopg import Connection, RawCursor
from psycopg.rows import namedtuple_row
from sqlalchemy import create_engine, event
from sqlalchemy.engine import CursorResult, Dialect, Engine, Result
from sqlalchemy.exc import DBAPIError, DisconnectionError, InvalidRequestError, SQLAlchemyError
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.expression import ClauseElement

from petitions.extensions import db

if TYPE_CHECKING:
    from sqlalchemy.engine.interfaces import DBAPIConnection, DBAPICursor

log = logging.getLogger(__name__)


def is_postgresql() -> bool:
    """True when the app's database is PostgreSQL; asks the engine, so no session is made for it."""
    return db.engine.dialect.name == "postgresql"


def rowcount(result: Result[Any]) -> int:
    """How many rows an INSERT, UPDATE or DELETE run by Session.execute matched.

    Session.execute is typed to return a Result whatever the statement; for these statements it
    is a CursorResult, which holds the count.
    """
    return cast("CursorResult[Any]", result).rowcount


def session_in_transaction() -> bool:
    """True when the request's session has a transaction open; a session not made yet has none (and is not made)."""
    return db.session.registry.has() and db.session().in_transaction()


class AutocommitStatement:
    """A hot write that is a whole transaction by itself: run alone, in autocommit, straight on the driver.

    The hottest writes (a signing, a confirmation) are each one statement on PostgreSQL.
    Run alone they need no BEGIN and no COMMIT round trip, and the rows they lock are
    released when PostgreSQL has run and flushed them, not after the request's thread gets
    its next turn on a busy CPU. Use it only while the request's session has no transaction
    open (see `session_in_transaction()`), so a thread holds one pooled connection at most.

    The statement is written with SQLAlchemy Core and compiled by it once per process (its
    SQL, its constant parameters, its types' bind processors); each run fills in the values
    and hands them to psycopg on a connection of the autocommit pool. SQLAlchemy's work per
    execution (the compiled-cache lookup, building the parameters, the execution context,
    the result) is a large part of the client's cost of the statement, on the path every
    signing and confirmation takes, so each run here skips it (docs/SCALING.md). Driver
    errors are raised as SQLAlchemy's, and a connection the server dropped is invalidated,
    as an SQLAlchemy Connection would do. Result rows are the driver's named tuples.
    Everything here is SQLAlchemy's public API but one call, explained where it is made.
    """

    def __init__(self, statement: ClauseElement) -> None:
        self.statement = statement

    def first(self, params: dict[str, Any]) -> Any:
        """Run the statement with these values, committed by itself; its first row, or None."""
        engine = _statement_engine()
        compiled = self._compiled(engine)
        missing = compiled.required.difference(params)
        if missing:  # as SQLAlchemy would refuse it, rather than send NULL
            raise InvalidRequestError(f"A value is required for bind parameter {sorted(missing)[0]!r}")
        args = dict(compiled.constants)  # already through their types' processors
        processors = compiled.processors
        for name, value in params.items():
            process = processors.get(name)
            args[name] = value if process is None else process(value)
        dbapi_error = engine.dialect.loaded_dbapi.Error
        try:
            connection = engine.raw_connection()  # the pool's checkout: a dead connection is replaced here
        except dbapi_error as exc:  # the database is down, full, or refused us: SQLAlchemy's error, a 503
            raise DBAPIError.instance(
                None,
                None,
                exc,
                dbapi_error,
                connection_invalidated=engine.dialect.is_disconnect(exc, None, None),
                dialect=engine.dialect,
            ) from exc
        cursor = None
        try:
            # A connection just checked out of the pool always has its driver connection.
            dbapi_connection = cast("DBAPIConnection", connection.dbapi_connection)
            # A raw cursor takes the SQL as PostgreSQL reads it ($1, $2, ...): psycopg has nothing to
            # convert (it would parse a statement over 4 kB, as signing's is, on every run).
            # (The psycopg dialect's driver connection is psycopg's own Connection.)
            cursor = RawCursor(cast("Connection[Any]", dbapi_connection), row_factory=namedtuple_row)
            cursor.execute(compiled.query, [args[name] for name in compiled.order])
            return cursor.fetchone()
        except dbapi_error as exc:
            dropped = engine.dialect.is_disconnect(exc, dbapi_connection, cast("DBAPICursor | None", cursor))
            if dropped:
                # What SQLAlchemy's Connection does on a disconnect, with the same private call: this
                # connection is closed, and every one the pool made before it is replaced at its next
                # checkout, since a server that dropped one has most likely dropped them all (a network
                # that drops them silently is not seen by the check at checkout). No public call does
                # this: invalidate() replaces one connection; InvalidatePoolError does it, but only raised
                # from a checkout; dispose() replaces the whole pool again for every thread that meets
                # the failure. tests/faults/test_dropped_connections.py fails if the call changes.
                engine.pool._invalidate(connection, exc)
            raise DBAPIError.instance(
                compiled.query.decode("ascii"),
                args,
                exc,
                dbapi_error,
                connection_invalidated=dropped,
                dialect=engine.dialect,
            ) from exc
        except BaseException:  # interrupted mid-statement (a timeout, a signal): the connection's state is unknown
            connection.invalidate()
            raise
        finally:
            if cursor is not None and not cursor.closed:
                cursor.close()
            connection.close()

    def _compiled(self, engine: Engine) -> _Compiled:
        statement_engine = current_app.extensions["statement_engine"]
        compiled_statements: dict[AutocommitStatement, _Compiled] = statement_engine["compiled"]
        found = compiled_statements.get(self)
        if found is None:  # two threads may both compile; either answer is the same
            found = compiled_statements[self] = _Compiled.of(self.statement, engine.dialect)
        return found


@dataclass(frozen=True)
class _Compiled:
    """What running an AutocommitStatement needs: its SQL, the names of its values in order, constant
    values, required names, bind processors.

    The SQL is in PostgreSQL's own form, with numbered placeholders, and kept encoded: psycopg
    then sends it as it is. Given SQLAlchemy's named placeholders it would turn them into
    numbered ones on every run, and above 4 kB or 50 values it parses the statement each time
    instead of once. The constants are already processed (a JSON literal is wrapped for the
    driver once, not on every run).
    """

    query: bytes
    order: tuple[str, ...]  # the value of each placeholder, $1 first; a name standing in several places is one
    constants: dict[str, Any]
    required: frozenset[str]
    processors: dict[str, Callable[[Any], Any]]

    @classmethod
    def of(cls, statement: ClauseElement, dialect: Dialect) -> _Compiled:
        numbered = copy.copy(dialect)  # the engine's dialect, writing $1, $2, ... (SQLAlchemy's "numeric_dollar")
        numbered.paramstyle, numbered.positional = "numeric_dollar", True
        compiled = statement.compile(dialect=numbered)
        # Only plain parameters: nothing rendered at execution time, no names the dialect escapes.
        if not isinstance(compiled, SQLCompiler):
            raise ValueError("an AutocommitStatement takes a SQL statement")
        if compiled.post_compile_params or compiled.escaped_bind_names:
            raise ValueError("an AutocommitStatement takes only plain bound parameters")
        processors: dict[str, Callable[[Any], Any]] = {}
        for bind, name in compiled.bind_names.items():  # a name can stand in several places
            process = bind.type.dialect_impl(dialect).bind_processor(dialect)
            if process is not None:
                processors[name] = process
        required = frozenset(name for bind, name in compiled.bind_names.items() if bind.required)
        constants = {
            name: bind.effective_value if name not in processors else processors[name](bind.effective_value)
            for bind, name in compiled.bind_names.items()
            if name not in required
        }
        # ASCII (names and placeholders; values are parameters): the same bytes in any client encoding.
        if compiled.positiontup is None:
            raise ValueError("an AutocommitStatement's SQL must be compiled with numbered placeholders")
        return cls(compiled.string.encode("ascii"), tuple(compiled.positiontup), constants, required, processors)


def _statement_engine() -> Engine:
    """This process's engine whose connections are in autocommit mode from the start.

    A pool of its own, so no connection changes mode on every checkout and back on every
    return, work that would otherwise come with every signing and confirmation; made at first
    use, in the worker process, and disposed with the main engine.
    """
    engines = current_app.extensions["statement_engine"]
    engine: Engine | None = engines.get("engine")
    if engine is None:
        with engines["lock"]:
            engine = engines.get("engine")
            if engine is None:
                main: Engine = db.engine
                options = dict(current_app.config["SQLALCHEMY_ENGINE_OPTIONS"])
                options.pop("isolation_level", None)  # this pool's whole point
                options.pop("execution_options", None)
                engine = create_engine(main.url, isolation_level="AUTOCOMMIT", **options)
                _check_connections_at_checkout(engine, options)
                engines["engine"] = engine
    return engine


def _dispose_statement_engine(app: Flask) -> None:
    app.extensions["statement_engine"]["compiled"].clear()
    engine = app.extensions["statement_engine"].pop("engine", None)
    if engine is not None:
        engine.dispose()


def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    # Python's sqlite3 module begins transactions late and by itself, which breaks SAVEPOINT
    # (a released savepoint would commit). Take transaction control back, and enforce foreign keys.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.close()


def _sqlite_begin(conn: Any) -> None:
    # IMMEDIATE takes the write lock up front: concurrent requests queue on the busy timeout
    # instead of failing with "database is locked" when a reader tries to become a writer.
    conn.exec_driver_sql("BEGIN IMMEDIATE")


def still_connected(dbapi_connection: Any) -> bool:
    """True unless the server has hung up on this idle psycopg connection; costs no round trip.

    An idle pooled connection has nothing to read. When PostgreSQL restarts, fails over or
    ends the session, it sends a last message and closes the socket, which makes it readable:
    any input at all while idle is taken as the end, and the connection is replaced. (A
    connection that the network dropped without a word is found by the first query, as with
    SQLAlchemy's pre-ping, which would instead cost a round trip on every request.)
    """
    if dbapi_connection.closed or dbapi_connection.broken:
        return False
    # poll, not select: select() cannot look at a descriptor numbered 1024 or more, which
    # every new connection of a process holding a thousand event streams has.
    poller = _os_poll()
    poller.register(dbapi_connection.pgconn.socket, select.POLLIN)
    return not poller.poll(0)


def _os_poll() -> Any:
    """The operating system's poll, under gevent too: gevent's own would switch greenlets for a
    look that never waits (and on its libuv loop may return before looking at the socket)."""
    monkey = sys.modules.get("gevent.monkey")
    return monkey.get_original("select", "poll")() if monkey is not None else select.poll()


def _check_connections_at_checkout(engine: Engine, options: dict[str, Any]) -> None:
    """Both pools of a PostgreSQL app look at a connection's socket at checkout, unless pre-ping was chosen."""
    if engine.dialect.driver == "psycopg" and not options.get("pool_pre_ping"):
        event.listen(engine, "checkout", _check_out)


def _check_out(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
    if not still_connected(dbapi_connection):
        raise DisconnectionError("the database closed this connection")  # the pool connects afresh


def _close_session(_exc: BaseException | None) -> None:
    """End the request's session; a connection the database already dropped is discarded, not raised.

    When the server restarts or fails over mid-request, the rollback at the end of the request
    fails after the response was made; the response stands (a 200, or the 503 page) and the
    broken connection is thrown away, so the next request gets a fresh one.
    """
    try:
        db.session.remove()
    except SQLAlchemyError as exc:
        log.warning("Discarding a database connection that failed at the end of a request: %s", exc)
        with contextlib.suppress(Exception):
            db.session().invalidate()
        db.session.registry.clear()


def init_app(app: Flask) -> None:
    """Attach the SQLite fixes to the app's engine (no connection is opened here), and the session teardown."""
    # Registered after Flask-SQLAlchemy's own teardown, so it runs first (teardowns run in reverse).
    app.teardown_appcontext(_close_session)
    with app.app_context():
        engine: Engine = db.engine
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_connect)
        event.listen(engine, "begin", _sqlite_begin)
    else:
        _check_connections_at_checkout(engine, app.config["SQLALCHEMY_ENGINE_OPTIONS"])
    app.extensions["statement_engine"] = {"lock": threading.Lock(), "compiled": {}}
    event.listen(engine, "engine_disposed", lambda _engine: _dispose_statement_engine(app))
