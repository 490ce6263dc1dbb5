"""Accounts of campaigners and administrators."""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import TYPE_CHECKING

from flask_login import UserMixin
from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column, relationship
from werkzeug.security import check_password_hash, generate_password_hash

from petitions.extensions import Model
from petitions.models.types import UTCDateTime

if TYPE_CHECKING:
    from petitions.models.petition import Petition


def new_session_token() -> str:
    """A random value that names an account in its sessions: 256 bits, never given twice."""
    return secrets.token_urlsafe(32)


class User(UserMixin, Model):
    """A campaigner (or an administrator) who signs in with an email and a password."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    email_confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # A new address waits here until the link sent to it is opened.
    pending_email: Mapped[str | None] = mapped_column(String(254))
    is_admin: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # What a session stores to name the account (Flask-Login's alternative id), never the row's
    # id: SQLite gives a deleted account's id to the next one, and a cookie holding only the id
    # would open that account. A new value ends every session holding the old one.
    session_token: Mapped[str] = mapped_column(String(64), unique=True, default=new_session_token)
    # The interface language the campaigner chose (a code of LANGUAGES); None: the browser's.
    locale: Mapped[str | None] = mapped_column(String(16))

    petitions: Mapped[list[Petition]] = relationship(back_populates="owner", order_by="Petition.id")

    def get_id(self) -> str:
        """What Flask-Login keeps in the session: the session token, not the id."""
        return self.session_token

    def end_sessions(self) -> None:
        """Sign the account out everywhere: every session (and every copy of a cookie) holding the
        old token stops working."""
        self.session_token = new_session_token()

    def set_password(self, password: str) -> None:
        """Store a salted hash of the password (scrypt, werkzeug's default); every session signed
        in with the old one ends."""
        self.password_hash = generate_password_hash(password)
        self.end_sessions()

    def check_password(self, password: str) -> bool:
        """True when the password matches the stored hash."""
        return check_password_hash(self.password_hash, password)

    @property
    def email_confirmed(self) -> bool:
        """True once the campaigner has confirmed their address."""
        return self.email_confirmed_at is not None
