"""Accounts of campaigners and administrators."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from flask_login import UserMixin
from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column, relationship
from werkzeug.security import check_password_hash, generate_password_hash

from ..extensions import db
from .types import UTCDateTime

if TYPE_CHECKING:
    from .petition import Petition


class User(UserMixin, db.Model):
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

    petitions: Mapped[list[Petition]] = relationship(back_populates="owner", order_by="Petition.id")

    def set_password(self, password: str) -> None:
        """Store a salted hash of the password (scrypt, werkzeug's default)."""
        self.password_hash = generate_password_hash(password)

    def check_password(self, password: str) -> bool:
        """True when the password matches the stored hash."""
        return check_password_hash(self.password_hash, password)

    @property
    def email_confirmed(self) -> bool:
        """True once the campaigner has confirmed their address."""
        return self.email_confirmed_at is not None
