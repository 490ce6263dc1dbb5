"""Engine set-up that the databases need to behave alike."""

from __future__ import annotations

from typing import Any

from flask import Flask
from sqlalchemy import event
from sqlalchemy.engine import Engine

from .extensions import db


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


def init_app(app: Flask) -> None:
    """Attach the SQLite fixes to the app's engine (no connection is opened here)."""
    with app.app_context():
        engine: Engine = db.engine
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_connect)
        event.listen(engine, "begin", _sqlite_begin)
