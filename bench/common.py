"""What every benchmark needs: a PostgreSQL database of its own, migrated, with a campaigner."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
ADMIN = os.environ.get("TEST_POSTGRES_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


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
