"""What every benchmark needs: a PostgreSQL database of its own, migrated, with a campaigner."""

from __future__ import annotations

import os
import re
import runpy
import uuid
from pathlib import Path
from unittest import mock

import psycopg

ROOT = Path(__file__).resolve().parent.parent
ADMIN = os.environ.get("TEST_POSTGRES_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def gunicorn_settings() -> dict[str, str]:
    """The web server's processes and threads as gunicorn.conf.py sets them here (its defaults,
    or BENCH_WORKERS and BENCH_THREADS_PER_WORKER), as the environment that gives them."""
    wanted = {
        "WEB_CONCURRENCY": os.environ.get("BENCH_WORKERS"),
        "GUNICORN_THREADS": os.environ.get("BENCH_THREADS_PER_WORKER"),
    }
    with mock.patch.dict(os.environ):  # the config file reads the environment; put it back afterwards
        for name, value in wanted.items():
            if value:
                os.environ[name] = value
            else:
                os.environ.pop(name, None)
        config = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    return {
        "WEB_CONCURRENCY": str(config["workers"]),
        "GUNICORN_THREADS": str(config["threads"]),
        "GUNICORN_WORKER_CLASS": "gthread",
    }


def create_database(prefix: str) -> tuple[str, str]:
    """A new, empty database on the test server: (its name, its SQLAlchemy URL)."""
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return name, ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1) + "/" + name


def drop_database(name: str) -> None:
    """Drop a database create_database made, whoever is still connected."""
    with psycopg.connect(ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def migrate_with_owner(name: str = "B", email: str = "bench@example.org", password: str | None = None):
    """In an app context: apply the migrations and add a confirmed campaigner (flushed, not committed)."""
    from flask_migrate import upgrade

    from petitions.clock import utcnow
    from petitions.extensions import db
    from petitions.models import User

    upgrade(directory=str(ROOT / "migrations"))
    now = utcnow()
    owner = User(name=name, email=email, created_at=now, email_confirmed_at=now, password_hash="x")
    if password:
        owner.set_password(password)
    db.session.add(owner)
    db.session.flush()
    return owner


def wrk_figures(out: str) -> tuple[float, float, int, int]:
    """What a `wrk --latency` run printed: (requests/s, p99 ms, requests, errors).

    Errors are non-2xx/3xx answers and socket errors.
    """
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    value, unit = re.search(r"99%\s+([\d.]+)(us|ms|s)", out).groups()
    p99 = float(value) * {"us": 0.001, "ms": 1, "s": 1000}[unit]
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    sockets = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    return rps, p99, requests, (int(bad.group(1)) if bad else 0) + (sum(map(int, sockets.groups())) if sockets else 0)
