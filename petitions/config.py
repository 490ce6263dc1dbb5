"""Settings: defaults here, then the instance folder, then the environment."""

from __future__ import annotations

import os
import secrets
import sys
from collections.abc import Mapping
from email.utils import getaddresses
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from flask import Flask


class ConfigError(RuntimeError):
    """Raised when the application cannot start with the settings it was given."""


class Defaults:
    """Defaults for every setting; the environment overrides them (names in CONTRACT.md)."""

    BASE_URL = "http://127.0.0.1:5000"
    MODERATION = "post"
    # Interface languages offered (comma-separated codes, each with a catalogue in
    # petitions/translations/ except the default) and the one used when nothing else decides.
    LANGUAGES = "en,es,fr,de"
    DEFAULT_LOCALE = "en"
    RATELIMIT_ENABLED = True
    REDIS_URL: str | None = None

    # No pre-ping (a round trip on every request): a pooled PostgreSQL connection is checked
    # at checkout by looking at its socket instead (database.still_connected).
    SQLALCHEMY_ENGINE_OPTIONS: dict[str, Any] = {}
    # Connections each pool of a process keeps (see database.py for the two pools). None: as
    # many as the process has threads (GUNICORN_THREADS; 8 when it is not set), so that no busy thread
    # opens a connection that the pool then closes: a new PostgreSQL server process each time, and
    # every statement planned afresh (docs/SCALING.md).
    DATABASE_POOL_SIZE: int | None = None

    # Mail. With no MAIL_SERVER, messages are written to the log and to instance/mail/.
    MAIL_SERVER: str | None = None
    MAIL_PORT = 25
    MAIL_USERNAME: str | None = None
    MAIL_PASSWORD: str | None = None
    MAIL_USE_TLS = False
    MAIL_USE_SSL = False
    MAIL_DEFAULT_SENDER = "Petitions <no-reply@localhost>"
    MAIL_TIMEOUT = 10
    MAIL_BATCH_SIZE = 50
    MAIL_RETRY_BASE_DELAY = 5  # seconds; doubled after each failure ...
    MAIL_RETRY_MAX_DELAY = 60  # ... up to this cap, so a recovered server is used within a minute
    MAIL_GIVE_UP_AFTER = 3 * 24 * 3600  # a message failing this long is marked failed, kept
    MAIL_CLAIM_TIMEOUT = 300  # a claim older than this is taken as a dead worker's
    MAIL_POLL_INTERVAL = 1.0
    # SMTP connections each mail worker sends over at once, each message still claimed and
    # committed on its own. None: 4 on PostgreSQL (a relay across the internet answers each
    # command in tens of milliseconds; one connection would wait most of the time), 1 on
    # SQLite, where a sender holds the one write lock while it sends.
    MAIL_SENDERS: int | None = None

    # Webhooks (petitions/webhooks/).
    # Deliver to loopback, private and link-local addresses too: for tests and a closed network only.
    WEBHOOK_ALLOW_PRIVATE = False
    WEBHOOK_TIMEOUT = 10  # seconds for one delivery
    WEBHOOK_RETRY_BASE_DELAY = 30  # seconds; doubled after each failure ...
    WEBHOOK_RETRY_MAX_DELAY = 3600  # ... up to this cap
    WEBHOOK_MAX_ATTEMPTS = 8  # a delivery failing this many times is given up, kept
    WEBHOOK_DISABLE_AFTER = 5  # failed attempts in a row that disable an endpoint, with a notice

    # Signing.
    SIGNATURE_TOKEN_MAX_AGE = 30 * 24 * 3600
    SIGNATURE_MAX_RESENDS = 3  # confirmation emails re-sent to a repeated signing, at most
    # Seconds a process keeps what signing needs of a petition (id, title, status). Whether it
    # is open is checked again by the INSERT itself, so this only delays a new title in emails.
    PETITION_CACHE_SECONDS = 1.0
    ACCOUNT_TOKEN_MAX_AGE = 7 * 24 * 3600
    COUNT_MAX_AGE = 2  # seconds a cached count may lag (Cache-Control max-age of the count and badge)
    COUNT_POLL_INTERVAL = 0.5  # how often a process's live-count hub looks for changes
    SSE_HEARTBEAT = 15  # seconds between heartbeat comments on an idle stream
    SSE_RETRY_MS = 3000  # the reconnection delay a browser is told to use
    SSE_MAX_SECONDS = 600  # a stream ends after this; the browser reconnects (spreads load on deploys)
    # Event streams one process holds at once. Under threaded workers a stream holds a thread
    # for as long as it is open, and the threads are what every page needs too. None: half of
    # GUNICORN_THREADS (gunicorn.conf.py's 2 when unset) under threads, no limit under gevent or
    # eventlet, where a stream holds a greenlet. Beyond it, /events answers at once with the
    # count and a retry hint, and the widget polls the count instead (petitions/infra/live.py).
    SSE_MAX_STREAMS: int | None = None

    # Forms: a signing form left open on a phone for hours must still work.
    WTF_CSRF_TIME_LIMIT = 24 * 3600
    # Request bodies. The largest form (a petition's 20,000 characters of Markdown) is under
    # 200 kB even percent-encoded. Larger bodies get 413 unread; the picture upload alone takes
    # more (IMAGE_MAX_BYTES, web/uploads.py).
    MAX_CONTENT_LENGTH = 1024 * 1024
    MAX_FORM_MEMORY_SIZE = 200_000  # bytes of one multipart text field held in memory
    MAX_FORM_PARTS = 100  # fields of a multipart form (ours have a dozen at most)

    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"

    API_PAGE_SIZE = 20

    # Abuse. Limits are per client address (see PROXY_COUNT for addresses behind a proxy).
    RATELIMIT_HEADERS_ENABLED = True
    RATELIMIT_SIGN_PER_PETITION = "5 per 10 minutes;20 per day"  # one address, one petition
    RATELIMIT_SIGN_PER_ADDRESS = "30 per 10 minutes;200 per day"  # one address, all petitions
    RATELIMIT_LOGIN = "10 per minute;50 per hour"
    RATELIMIT_REGISTER = "5 per hour;20 per day"
    RATELIMIT_PASSWORD_RESET = "5 per hour"  # noqa: S105 (a limit, not a password)
    RATELIMIT_CREATE_PETITION = "10 per day"
    RATELIMIT_REPORT = "10 per hour"
    PROXY_COUNT = 0  # how many reverse proxies in front set X-Forwarded-For/-Proto; 0 trusts none
    SIGN_MIN_SECONDS = 2  # a signing form sent sooner after it was shown is a bot's
    # A signing form's stamp is good for this long (like its CSRF token); an older one is suspected.
    SIGN_STAMP_MAX_AGE = 24 * 3600
    BLOCKS_REFRESH = 10  # seconds before a process reads blocked domains and networks again

    # Campaigns and operations.
    PASSWORD_RESET_MAX_AGE = 3600  # a reset link works for an hour, once
    EXPORT_INCLUDE_EMAIL = False  # may the owner's CSV export include signer emails?
    IP_RETENTION_DAYS = 30  # signers' IP addresses are dropped after this many days
    UPDATE_BATCH_SIZE = 500  # update emails queued per batch by the mail worker
    # A supporter group's count is public from this many confirmed signatures; below, "fewer
    # than 5": a group of one signer's domain must not say that they signed.
    GROUP_MIN_COUNT = 5
    # Uploads (scans of paper signatures, petition pictures) are kept here; unset, in the instance
    # folder's uploads/. Never served as static files: our views serve them, scans only to their
    # petition's campaigner and administrators. Every web process must share it, across deploys.
    UPLOAD_DIR: str | None = None
    PAPER_SCAN_MAX_BYTES = 10 * 1024 * 1024  # the largest scan of a paper batch (PDF, JPEG or PNG)

    # Petition pictures (campaigns/images.py, infra/images.py), stored in UPLOAD_DIR. A phone's photo is
    # 2 to 8 MB; IMAGE_MAX_PIXELS refuses pictures that would take hundreds of megabytes once decoded,
    # however small their file.
    IMAGE_MAX_BYTES = 10 * 1024 * 1024
    IMAGE_MAX_PIXELS = 40_000_000
    # The generated share card (title and count) of a petition without a picture is drawn again at most
    # this often (seconds) per process, and caches may keep it as long. CARD_FONTS: more font files
    # (comma-separated paths, e.g. a Noto CJK font) tried after the shipped one for titles it cannot draw.
    CARD_MAX_AGE = 300
    CARD_FONTS = ""

    # The public logs (transparency/). The key that signs their checkpoints, in C2SP note
    # signer-key format; unset, development makes one in the instance folder (log-signing.key)
    # and production refuses to start. The worker appends what changed every LOG_INTERVAL seconds.
    LOG_SIGNING_KEY: str | None = None
    LOG_INTERVAL = 10.0
    # The verifier keys the logs were signed with before the current one (key rotation), separated
    # by spaces or commas: published at /log/keys and on the verify pages, so that checkpoints
    # signed before the switch (on delivery pages, in monitors' state) can still be checked.
    LOG_RETIRED_KEYS = ""

    # Operations. /metrics answers only a scraper sending "Authorization: Bearer <METRICS_TOKEN>";
    # unset, it is not served. LOG_FORMAT "json": one JSON object per log line (infra/logs.py).
    METRICS_TOKEN: str | None = None
    LOG_FORMAT = "text"


_BOOL = {"1": True, "true": True, "yes": True, "on": True, "0": False, "false": False, "no": False, "off": False}

# Environment variables read by create_app, and how to read them.
_ENV: dict[str, type] = {
    "DATABASE_URL": str,
    "SECRET_KEY": str,
    "BASE_URL": str,
    "MAIL_SERVER": str,
    "MAIL_PORT": int,
    "MAIL_USERNAME": str,
    "MAIL_PASSWORD": str,
    "MAIL_USE_TLS": bool,
    "MAIL_USE_SSL": bool,
    "MAIL_DEFAULT_SENDER": str,
    "REDIS_URL": str,
    "MODERATION": str,
    "LANGUAGES": str,
    "DEFAULT_LOCALE": str,
    "RATELIMIT_ENABLED": bool,
    "COUNT_MAX_AGE": int,
    "SESSION_COOKIE_SECURE": bool,
    "EXPORT_INCLUDE_EMAIL": bool,
    "IP_RETENTION_DAYS": int,
    "PROXY_COUNT": int,
    "SIGN_MIN_SECONDS": int,
    "SIGN_STAMP_MAX_AGE": int,
    "MAIL_BATCH_SIZE": int,
    "MAIL_RETRY_BASE_DELAY": float,
    "MAIL_RETRY_MAX_DELAY": float,
    "MAIL_CLAIM_TIMEOUT": float,
    "MAIL_POLL_INTERVAL": float,
    "MAIL_TIMEOUT": float,
    "MAIL_SENDERS": int,
    "DATABASE_POOL_SIZE": int,
    "SSE_MAX_STREAMS": int,
    "MAX_CONTENT_LENGTH": int,
    "GROUP_MIN_COUNT": int,
    "UPLOAD_DIR": str,
    "PAPER_SCAN_MAX_BYTES": int,
    "IMAGE_MAX_BYTES": int,
    "IMAGE_MAX_PIXELS": int,
    "CARD_MAX_AGE": int,
    "CARD_FONTS": str,
    "LOG_SIGNING_KEY": str,
    "LOG_INTERVAL": float,
    "LOG_RETIRED_KEYS": str,
    "WEBHOOK_ALLOW_PRIVATE": bool,
    "WEBHOOK_TIMEOUT": float,
    "WEBHOOK_RETRY_BASE_DELAY": float,
    "WEBHOOK_RETRY_MAX_DELAY": float,
    "WEBHOOK_MAX_ATTEMPTS": int,
    "WEBHOOK_DISABLE_AFTER": int,
    "METRICS_TOKEN": str,
    "LOG_FORMAT": str,
}


def _parse(name: str, kind: type, raw: str) -> Any:
    """Turn one environment value into its setting, or say clearly why it cannot be."""
    if kind is bool:
        try:
            return _BOOL[raw.strip().lower()]
        except KeyError:
            raise ConfigError(f"{name} must be true or false, not {raw!r}") from None
    if kind is int:
        try:
            return int(raw)
        except ValueError:
            raise ConfigError(f"{name} must be a whole number, not {raw!r}") from None
    if kind is float:
        try:
            return float(raw)
        except ValueError:
            raise ConfigError(f"{name} must be a number of seconds, not {raw!r}") from None
    return raw


def is_production() -> bool:
    """True when FLASK_ENV or APP_ENV says production."""
    return "production" in {os.environ.get("FLASK_ENV", ""), os.environ.get("APP_ENV", "")}


def load(app: Flask, overrides: dict[str, Any] | None) -> None:
    """Fill app.config from the defaults, instance/config.py, the environment, then overrides."""
    app.config.from_object(Defaults)
    app.config.from_pyfile("config.py", silent=True)
    for name, kind in _ENV.items():
        raw = os.environ.get(name)
        if raw is not None and raw != "":
            app.config[name] = _parse(name, kind, raw)
    if overrides:
        app.config.update(overrides)

    url = app.config.get("DATABASE_URL") or app.config.get("SQLALCHEMY_DATABASE_URI")
    if not url:
        url = "sqlite:///" + str(Path(app.instance_path) / "petitions.sqlite")
    if url.startswith("postgres://"):  # the form some hosts hand out
        url = "postgresql+psycopg://" + url[len("postgres://") :]
    elif url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    app.config["SQLALCHEMY_DATABASE_URI"] = url
    sqlite = url.startswith("sqlite")
    if app.config["MAIL_SENDERS"] is None:
        app.config["MAIL_SENDERS"] = 1 if sqlite else 4
    if app.config["MAIL_SENDERS"] < 1:
        raise ConfigError(f"MAIL_SENDERS must be at least 1, not {app.config['MAIL_SENDERS']}")
    if app.config["MAIL_SENDERS"] > 1 and sqlite:
        raise ConfigError("MAIL_SENDERS above 1 needs PostgreSQL: SQLite lets one writer in at a time")
    if sqlite:
        # SQLite lets one writer in at a time; wait for the lock rather than fail.
        app.config["SQLALCHEMY_ENGINE_OPTIONS"] = {"connect_args": {"timeout": 30}}
    elif "poolclass" not in app.config["SQLALCHEMY_ENGINE_OPTIONS"]:
        # Sized here unless a pool was chosen (NullPool behind PgBouncer), which is kept as it is.
        pool_size = app.config["DATABASE_POOL_SIZE"]
        if pool_size is None:  # a connection for each thread: gunicorn's, or a mail worker's senders
            pool_size = max(
                _parse("GUNICORN_THREADS", int, os.environ.get("GUNICORN_THREADS") or "8"), app.config["MAIL_SENDERS"]
            )
        if pool_size < 1:
            raise ConfigError(f"DATABASE_POOL_SIZE must be at least 1, not {pool_size}")
        app.config["SQLALCHEMY_ENGINE_OPTIONS"] = {"pool_size": pool_size, **app.config["SQLALCHEMY_ENGINE_OPTIONS"]}

    if app.config["SSE_MAX_STREAMS"] is None:
        app.config["SSE_MAX_STREAMS"] = _default_stream_limit()
    elif app.config["SSE_MAX_STREAMS"] < 0:
        raise ConfigError(f"SSE_MAX_STREAMS must be 0 or more, not {app.config['SSE_MAX_STREAMS']}")

    sender = getaddresses([app.config["MAIL_DEFAULT_SENDER"]])
    if len(sender) != 1 or "@" not in sender[0][1]:
        raise ConfigError(
            "MAIL_DEFAULT_SENDER must be one address, like 'Petitions <no-reply@example.org>'"
            f" (a name with a comma goes in quotes), not {app.config['MAIL_DEFAULT_SENDER']!r}"
        )

    if not float(app.config["LOG_INTERVAL"]) > 0:
        raise ConfigError(f"LOG_INTERVAL must be a number of seconds above 0, not {app.config['LOG_INTERVAL']!r}")
    _load_languages(app)
    if app.config["LOG_FORMAT"] not in {"text", "json"}:
        raise ConfigError(f"LOG_FORMAT must be 'text' or 'json', not {app.config['LOG_FORMAT']!r}")
    for name in ("IMAGE_MAX_BYTES", "IMAGE_MAX_PIXELS"):
        if app.config[name] < 1:
            raise ConfigError(f"{name} must be at least 1, not {app.config[name]}")
    if app.config["CARD_MAX_AGE"] < 0:
        raise ConfigError(f"CARD_MAX_AGE must be 0 or more seconds, not {app.config['CARD_MAX_AGE']}")
    if app.config["MODERATION"] not in {"post", "pre"}:
        raise ConfigError(f"MODERATION must be 'post' or 'pre', not {app.config['MODERATION']!r}")
    app.config["BASE_URL"] = app.config["BASE_URL"].rstrip("/")
    app.config["RATELIMIT_STORAGE_URI"] = app.config["REDIS_URL"] or "memory://"

    if (
        is_production()
        and os.environ.get("SESSION_COOKIE_SECURE") is None
        and "SESSION_COOKIE_SECURE" not in (overrides or {})
    ):
        app.config["SESSION_COOKIE_SECURE"] = True  # production is served over HTTPS
    if not app.config.get("SECRET_KEY"):
        if is_production():
            raise ConfigError(
                "SECRET_KEY must be set in production (FLASK_ENV/APP_ENV=production); "
                'generate one with: python -c "import secrets; print(secrets.token_hex(32))"'
            )
        app.config["SECRET_KEY"] = development_secret(Path(app.instance_path))
    if not app.config.get("LOG_SIGNING_KEY") and is_production():
        # Checked here, before anything runs; the key itself is read by transparency/keys.py,
        # and in development made there, in the instance folder, when first needed.
        host = urlsplit(app.config["BASE_URL"]).netloc.rpartition("@")[2].lower() or "<host of BASE_URL>"
        raise ConfigError(
            "LOG_SIGNING_KEY must be set in production (FLASK_ENV/APP_ENV=production): it signs the "
            "petitions' public logs, and a key made up at each start would make every log look forged. "
            "Generate one, with APP_ENV and FLASK_ENV not set to production, by: "
            f"flask --app app log-keygen {host}"
        )


def _load_languages(app: Flask) -> None:
    """LANGUAGES as a tuple of locale codes Babel knows, DEFAULT_LOCALE one of them; Flask-Babel's own default."""
    from babel import Locale, UnknownLocaleError

    raw = app.config["LANGUAGES"]
    codes = [c.strip() for c in raw.split(",")] if isinstance(raw, str) else [str(c).strip() for c in raw]
    codes = [c.replace("-", "_") for c in codes if c]
    for code in codes:
        try:
            Locale.parse(code)
        except (ValueError, UnknownLocaleError):
            raise ConfigError(f"LANGUAGES holds {code!r}, which is not a language code (like en, es, pt_BR)") from None
    default = str(app.config["DEFAULT_LOCALE"]).strip().replace("-", "_")
    if not codes:
        codes = [default]
    if default not in codes:
        raise ConfigError(f"DEFAULT_LOCALE ({default!r}) must be one of LANGUAGES ({', '.join(codes)})")
    app.config["LANGUAGES"] = tuple(codes)
    app.config["DEFAULT_LOCALE"] = default
    app.config["BABEL_DEFAULT_LOCALE"] = default


def _default_stream_limit() -> int | None:
    """Half a threaded worker's threads (the rest stay for pages), or None (no limit) on greenlets."""
    worker_class = os.environ.get("GUNICORN_WORKER_CLASS", "").lower()
    if "gevent" in worker_class or "eventlet" in worker_class or _patched_for_greenlets():
        return None
    threads: int = _parse("GUNICORN_THREADS", int, os.environ.get("GUNICORN_THREADS") or "2")
    return threads // 2


def _patched_for_greenlets() -> bool:
    """True when gevent or eventlet has replaced this process's sockets (their gunicorn workers do)."""
    gevent = sys.modules.get("gevent.monkey")
    if gevent is not None and gevent.is_module_patched("socket"):
        return True
    eventlet = sys.modules.get("eventlet.patcher")
    return eventlet is not None and eventlet.is_monkey_patched("socket")


def upload_dir(app: Flask) -> Path:
    """Where uploaded files are kept: UPLOAD_DIR, else uploads/ in the instance folder."""
    return Path(app.config.get("UPLOAD_DIR") or Path(app.instance_path) / "uploads")


def development_secret(instance: Path) -> str:
    """Read the development secret from the instance folder, creating it the first time."""
    path = instance / "secret_key"
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        instance.mkdir(parents=True, exist_ok=True)
        key = secrets.token_hex(32)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process made it first
            return path.read_text().strip()
        with os.fdopen(fd, "w") as fh:
            fh.write(key)
        return key


def cache_budget(config: Mapping[str, Any]) -> tuple[float, int, int]:
    """How COUNT_MAX_AGE is shared out: (seconds in the process cache, max-age, stale-while-revalidate).

    Their sum never exceeds COUNT_MAX_AGE, so a count served through any chain of caches lags
    a change by at most that, as the contract says. With the default of 2 s: 0.5 s in the
    process, max-age=1, stale-while-revalidate=0; with 10 s: 1 s, max-age=5, and 4.
    """
    total = max(0.0, float(config["COUNT_MAX_AGE"]))
    in_process = min(1.0, total / 4)
    rest = int(total - in_process)
    max_age = (rest + 1) // 2
    return in_process, max_age, rest - max_age
