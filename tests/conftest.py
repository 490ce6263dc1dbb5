"""Fixtures: an app per test on SQLite and on PostgreSQL, a real SMTP server, Chromium, a live server."""

from __future__ import annotations

import shutil
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from aiosmtpd.controller import Controller
from flask import Flask
from flask.testing import FlaskClient
from flask_migrate import upgrade
from playwright.sync_api import Browser, sync_playwright
from werkzeug.serving import make_server

from petitions import create_app
from petitions.extensions import db
from tests.helpers import (
    AXE,
    CHROMIUM,
    CHROMIUM_ARGS,
    DATABASES,
    PG_ADMIN_URL,
    ROOT,
    SPANISH,
    TABLES,
    LiveServer,
    Mailbox,
    SMTPServer,
    close_streams,
    free_port,
    make_app,
    write_catalogue,
)


@pytest.fixture(scope="session")
def smtp_server() -> Iterator[SMTPServer]:
    """One aiosmtpd server for the session."""
    mailbox = Mailbox()
    port = free_port()
    # SMTPUTF8, as real servers offer it: an address that is not ASCII can be delivered.
    controller = Controller(mailbox, hostname="127.0.0.1", port=port, enable_SMTPUTF8=True)
    controller.start()
    yield SMTPServer("127.0.0.1", port, mailbox, controller)
    controller.stop()


@pytest.fixture
def mailbox(smtp_server: SMTPServer) -> Iterator[Mailbox]:
    """The SMTP server's mailbox, empty at the start of each test."""
    smtp_server.mailbox.clear()
    yield smtp_server.mailbox
    smtp_server.mailbox.clear()


def _migrate(url: str) -> None:
    app = create_app({"DATABASE_URL": url, "SECRET_KEY": "migrate", "TESTING": True})
    with app.app_context():
        upgrade(directory=str(ROOT / "migrations"))
        db.engine.dispose()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file with the migrations applied, copied for each test."""
    path = tmp_path_factory.mktemp("sqlite") / "template.sqlite"
    _migrate(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this run, migrated; dropped at the end.

    PostgreSQL must answer: a missing server fails the tests, it never skips them.
    """
    name = f"petitions_test_{uuid.uuid4().hex[:12]}"
    try:
        admin = psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        pytest.fail(f"PostgreSQL is not answering at {PG_ADMIN_URL}: {exc}")
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)
    url = f"{base}/{name}"
    _migrate(url)
    yield url
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=DATABASES)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A clean, migrated database: a copied SQLite file, or the run's PostgreSQL database emptied after."""
    if request.param == "sqlite":
        path = tmp_path / "test.sqlite"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        yield f"sqlite:///{path}"
        return
    url = request.getfixturevalue("postgres_url")
    yield url
    with psycopg.connect(url.replace("+psycopg", ""), autocommit=True) as conn:
        conn.execute(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE")


@pytest.fixture
def app(
    database_url: str, smtp_server: SMTPServer, mailbox: Mailbox, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[Flask]:
    """The application on a clean database, mail to the test SMTP server (with the `spanish` mark, the
    Spanish of tests/helpers.SPANISH: what the language of a page or email decides shows, whatever
    the shipped catalogues hold)."""
    overrides = {}
    if request.node.get_closest_marker("spanish"):
        overrides["BABEL_TRANSLATION_DIRECTORIES"] = write_catalogue(tmp_path / "translations", "es", SPANISH)
    app = make_app(database_url, smtp_server, tmp_path, **overrides)
    app.extensions["test_smtp_port"] = smtp_server.port
    yield app
    close_streams(app)
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    """A browser-like test client (cookies kept, CSRF enforced)."""
    return app.test_client()


@pytest.fixture
def runner(app: Flask):
    """Runs the CLI commands."""
    return app.test_cli_runner()


@pytest.fixture
def ctx(app: Flask) -> Iterator[Flask]:
    """An application context for calling business functions directly."""
    with app.app_context():
        yield app
        db.session.rollback()


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """Headless Debian Chromium for the session; missing Chromium or axe-core fails the tests."""
    if not CHROMIUM.exists():
        pytest.fail(f"Chromium is missing at {CHROMIUM}: run 'make chromium' (apt-get install -y chromium)")
    if not AXE.exists():
        pytest.fail(f"axe-core is missing at {AXE}: run 'npm ci'")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def live(database_url: str, smtp_server: SMTPServer, mailbox: Mailbox, tmp_path: Path) -> Iterator[LiveServer]:
    """The app on a clean database in a threaded HTTP server; stopped at teardown, whatever happened."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    app = make_app(database_url, smtp_server, tmp_path, BASE_URL=url)
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    try:
        yield LiveServer(app, url)
    finally:
        close_streams(app)
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
