"""Helpers for the tests: test data, forms, the mailbox, the live server; fixtures are in conftest.py."""

from __future__ import annotations

import asyncio
import os
import re
import socket
import threading
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from flask import Flask
from flask.testing import FlaskClient
from playwright.sync_api import Page

from petitions import create_app, worker
from petitions.campaigns.lifecycle import PetitionData, create_petition
from petitions.clock import utcnow
from petitions.extensions import db
from petitions.models import Petition, User

ROOT = Path(__file__).resolve().parent.parent


PG_ADMIN_URL = os.environ.get("TEST_POSTGRES_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


DATABASES = ["sqlite", "postgresql"]


TABLES = [t.name for t in db.metadata.sorted_tables]


@dataclass
class Mailbox:
    """Messages received by the test SMTP server."""

    messages: list[EmailMessage] = field(default_factory=list)
    raw: list[bytes] = field(default_factory=list)  # each message as it came over the wire
    lock: threading.Lock = field(default_factory=threading.Lock)
    refuse: set[str] = field(default_factory=set)  # recipients answered with 550
    delay: float = 0.0  # seconds each message takes to accept, as a distant server's would
    sessions: set[tuple[str, int]] = field(default_factory=set)  # the client ends of the connections used
    in_flight: int = 0
    most_at_once: int = 0  # messages being accepted at the same moment, at most

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802 (aiosmtpd's name)
        """Accept a recipient, or refuse it for good when told to."""
        if address in self.refuse:
            return "550 5.1.1 No such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's name)
        """Keep the message (after the delay, during which other connections go on)."""
        self.sessions.add(session.peer)
        if self.delay:
            self.in_flight += 1
            self.most_at_once = max(self.most_at_once, self.in_flight)
            await asyncio.sleep(self.delay)
            self.in_flight -= 1
        msg = message_from_bytes(envelope.content, policy=policy.default)
        with self.lock:
            # typeshed says Message; with policy.default, message_from_bytes builds an EmailMessage.
            self.messages.append(msg)  # type: ignore[arg-type]
            self.raw.append(envelope.original_content or envelope.content)
        return "250 Message accepted"

    def clear(self) -> None:
        """Forget what was received."""
        with self.lock:
            self.messages.clear()
            self.raw.clear()
        self.refuse.clear()
        self.sessions.clear()
        self.delay, self.in_flight, self.most_at_once = 0.0, 0, 0

    def to(self, address: str) -> list[EmailMessage]:
        """Messages addressed to this address."""
        with self.lock:
            return [m for m in self.messages if m["To"] == address]


def free_port() -> int:
    """A port nobody listens on right now (aiosmtpd cannot bind port 0 itself)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class SMTPServer:
    """Where the test SMTP server listens, and what it received."""

    host: str
    port: int
    mailbox: Mailbox
    controller: Controller


def body_of(msg: EmailMessage) -> str:
    """The plain-text body of a received message."""
    part = msg.get_body(("plain",))
    assert part is not None
    return part.get_content()


def link_in(msg: EmailMessage, path: str) -> str:
    """The first link in a message's text whose path starts with `path`."""
    match = re.search(r"https?://[^\s]+" + re.escape(path) + r"[^\s]*", body_of(msg))
    assert match, f"no {path} link in:\n{body_of(msg)}"
    return match.group(0)


def last_with_link(mailbox: Mailbox, address: str, path: str) -> EmailMessage:
    """The latest message to this address that carries a link to `path` (a receipt of the
    public log, sent by the same worker run, may have come after it)."""
    found = [m for m in mailbox.to(address) if re.search(r"https?://[^\s]+" + re.escape(path), body_of(m))]
    assert found, f"no message to {address} with a {path} link"
    return found[-1]


# The Spanish of the tests that check an email or page comes out in a signer's or reader's language
# (the `spanish` mark): a few messages, so those tests do not depend on what translators have done.
SPANISH: dict[str | tuple[str, str], str | tuple[str, ...]] = {
    "Please confirm your signature: %(title)s": "Confirma tu firma: %(title)s",
    "You have already signed: %(title)s": "Ya has firmado: %(title)s",
    "Your signature is in the public log: %(title)s": "Tu firma está en el registro público: %(title)s",
    "Your petition reached its goal of %(num)s signatures": "Tu petición alcanzó su meta de %(num)s firmas",
    "Your signatures": "Tus firmas",
    "Hello %(name)s,": "Hola, %(name)s:",
    "Hello,": "Hola:",
    'You receive this because you signed "%(title)s" and asked for updates.': (
        "Recibes esto porque firmaste «%(title)s» y pediste novedades."
    ),
    "Sign": "Firmar",
    ("signature", "signatures"): ("firma", "firmas", "firmas"),  # CLDR's Spanish: one, many, other
    "signatures": "firmas",
    "fewer than %(n)s": "menos de %(n)s",
    "<strong>%(n)s</strong> confirmed %(name)s": "<strong>%(n)s</strong> confirmados %(name)s",
    "Sign the petition": "Firmar la petición",
    "Independently verifiable": "Verificable de forma independiente",
    ("%(n)s log entry", "%(n)s log entries"): ("%(n)s entrada", "%(n)s entradas", "%(n)s entradas"),
    "root": "raíz",
}


def write_catalogue(folder: Path, lang: str, messages: dict[str | tuple[str, str], str | tuple[str, ...]]) -> str:
    """A translations folder (BABEL_TRANSLATION_DIRECTORIES) holding one compiled catalogue of these messages."""
    catalog = Catalog(locale=lang)
    for msgid, msgstr in messages.items():
        catalog.add(msgid, msgstr)
    target = folder / lang / "LC_MESSAGES"
    target.mkdir(parents=True, exist_ok=True)
    with open(target / "messages.mo", "wb") as out:
        write_mo(out, catalog)
    return str(folder)


def make_app(database_url: str, smtp: SMTPServer | None, tmp_path: Path, **overrides) -> Flask:
    """An application for tests, its mail going to the test SMTP server."""
    settings = {
        "TESTING": True,
        "DATABASE_URL": database_url,
        "SECRET_KEY": "test-secret",
        "BASE_URL": "http://localhost",
        "MAIL_SERVER": smtp.host if smtp else None,
        "MAIL_PORT": smtp.port if smtp else 25,
        "MAIL_RETRY_BASE_DELAY": 1,
        "MAIL_RETRY_MAX_DELAY": 60,
        # Counts read fresh, so tests can check them right after a change; the press tests
        # set their own COUNT_MAX_AGE to test the caching.
        "COUNT_MAX_AGE": 0,
        # Tests sign faster than a person; the abuse tests set their own minimum.
        "SIGN_MIN_SECONDS": 0,
        # One sender, so a test reads its messages in the order they were queued (the default
        # on PostgreSQL is 4); test_mail tests several at once, tests/faults the real worker.
        "MAIL_SENDERS": 1,
    }
    settings.update(overrides)
    app = create_app(settings)
    app.instance_path = str(tmp_path / "instance")
    return app


def close_streams(app: Flask) -> None:
    """End the app's open event streams and their watcher before its database goes away."""
    hub = app.extensions.get("count_hub")
    if hub is not None:
        hub.close()


def is_postgres(app: Flask) -> bool:
    """True when the app runs on PostgreSQL."""
    return app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql")


def make_user(
    email: str = "campaigner@example.org",
    *,
    name: str = "Casey Campaigner",
    password: str = "correct horse battery",
    confirmed: bool = True,
    admin: bool = False,
) -> User:
    """An account, committed."""
    now = utcnow()
    user = User(name=name, email=email, created_at=now, email_confirmed_at=now if confirmed else None, is_admin=admin)
    user.set_password(password)
    db.session.add(user)
    db.session.commit()
    return user


def make_petition(
    owner: User | None = None, *, title: str = "Stop selling Rekognition to governments", goal: int = 100, **kw
) -> Petition:
    """An open petition, committed."""
    owner = owner or make_user(f"owner-{uuid.uuid4().hex[:8]}@example.org")
    data = PetitionData(
        title=title,
        target=kw.pop("target", "Amazon's board of directors"),
        summary=kw.pop("summary", "Face recognition in the hands of governments threatens civil liberties."),
        body=kw.pop("body", "We ask Amazon to **stop selling** Rekognition to government agencies."),
        goal=goal,
        closes_at=kw.pop("closes_at", None),
    )
    petition = create_petition(owner, data, now=kw.pop("now", utcnow()), moderation="post")
    db.session.commit()
    return petition


def csrf_from(html: str) -> str:
    """The CSRF token in a page's form."""
    match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html) or re.search(
        r'id="csrf_token" name="csrf_token" type="hidden" value="([^"]+)"', html
    )
    assert match, "no CSRF token in the page"
    return match.group(1)


def started_from(html: str) -> str:
    """The signed 'form shown at' stamp in a signing form."""
    match = re.search(r'id="started" name="started" type="hidden" value="([^"]*)"', html)
    assert match, "no 'started' stamp in the signing form"
    return match.group(1)


def sign_form(client: FlaskClient, slug: str, **fields):
    """Open the petition page, then submit the signing form with its CSRF token."""
    page = client.get(f"/petitions/{slug}")
    data = {
        "name": "Sam Signer",
        "email": "sam@example.org",
        "country": "GB",
        "csrf_token": csrf_from(page.text),
        "started": started_from(page.text),
    }
    data.update(fields)
    data = {k: v for k, v in data.items() if v is not None}
    return client.post(f"/petitions/{slug}/sign", data=data)


def login(client: FlaskClient, email: str = "campaigner@example.org", password: str = "correct horse battery"):
    """Sign in through the login form."""
    page = client.get("/login")
    return client.post("/login", data={"email": email, "password": password, "csrf_token": csrf_from(page.text)})


def post_form(client: FlaskClient, url: str, data: dict, *, page_url: str | None = None, **kw):
    """GET a page for its CSRF token, then POST the form to url."""
    page = client.get(page_url or url)
    return client.post(url, data={**data, "csrf_token": csrf_from(page.text)}, **kw)


def deliver(app: Flask) -> tuple[int, int]:
    """Run the worker until no update waits and the outbox is empty, as `mail-worker --once` does."""
    with app.app_context():
        return worker.drain()


ONE_DAY = timedelta(days=1)


CHROMIUM = Path("/usr/bin/chromium")


CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"


PHONE = {
    "viewport": {"width": 390, "height": 844},
    "is_mobile": True,
    "has_touch": True,
    "device_scale_factor": 2,
    "bypass_csp": True,  # only so axe can be injected: the site's CSP forbids inline script
}
DESKTOP = {"viewport": {"width": 1280, "height": 900}, "bypass_csp": True}  # bypass only so axe can be injected


@dataclass
class LiveServer:
    """The app, served over HTTP at `url`."""

    app: Flask
    url: str


def assert_accessible(page: Page, what: str) -> None:
    """Run axe-core on the page; fail on any serious or critical violation, listing each one."""
    page.add_script_tag(path=str(AXE))
    result = page.evaluate("async () => await axe.run(document)")
    bad = [v for v in result["violations"] if v["impact"] in ("serious", "critical")]
    if bad:
        lines = [f"axe found {len(bad)} serious/critical violation(s) on {what} ({page.url}):"]
        for v in bad:
            lines.append(f"- [{v['impact']}] {v['id']}: {v['help']} ({v['helpUrl']})")
            for node in v["nodes"][:5]:
                lines.append(f"    at {node['target']}: {node['html'][:200]}")
                if node.get("failureSummary"):
                    lines.append("      " + node["failureSummary"].replace("\n", "\n      "))
        pytest.fail("\n".join(lines), pytrace=False)
