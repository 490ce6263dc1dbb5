"""Where a message goes: an SMTP server, or (with no MAIL_SERVER) files in the instance folder and the log."""

from __future__ import annotations

import contextlib
import email
import email.policy
import logging
import smtplib
from collections.abc import Callable
from email.message import Message
from pathlib import Path
from typing import Any

from flask import Flask

log = logging.getLogger(__name__)


class PermanentFailure(Exception):
    """The server refused the message for good (a 5xx answer): retrying will not help."""


class SMTPTransport:
    """Sends over one SMTP connection, opened on first use and closed at the end of a batch."""

    def __init__(self, config: dict[str, Any]) -> None:
        """Keep the settings; connect lazily."""
        self.config = config
        self.conn: smtplib.SMTP | None = None

    def _connect(self) -> smtplib.SMTP:
        cfg = self.config
        cls = smtplib.SMTP_SSL if cfg["MAIL_USE_SSL"] else smtplib.SMTP
        conn = cls(cfg["MAIL_SERVER"], cfg["MAIL_PORT"], timeout=cfg["MAIL_TIMEOUT"])
        if cfg["MAIL_USE_TLS"] and not cfg["MAIL_USE_SSL"]:
            conn.starttls()
        if cfg["MAIL_USERNAME"]:
            conn.login(cfg["MAIL_USERNAME"], cfg["MAIL_PASSWORD"] or "")
        return conn

    def send(self, msg: Message) -> None:
        """Send one message; raise PermanentFailure for a 5xx refusal, anything else is transient."""
        self._guarded(lambda conn: conn.send_message(msg))

    def send_bytes(self, sender: str, to: str, data: bytes) -> None:
        """send() for a message already flattened as smtplib flattens one (CRLF line ends, see mail/prepared.py)."""
        self._guarded(lambda conn: conn.sendmail(sender, [to], data))

    def _guarded(self, call: Callable[[smtplib.SMTP], object]) -> None:
        if self.conn is None:
            self.conn = self._connect()
        try:
            call(self.conn)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            if all(code >= 500 for code in codes):
                raise PermanentFailure(f"recipient refused: {exc.recipients}") from exc
            raise
        except smtplib.SMTPResponseException as exc:
            if exc.smtp_code >= 500 and not isinstance(exc, smtplib.SMTPServerDisconnected):
                self.reset()
                raise PermanentFailure(f"{exc.smtp_code} {exc.smtp_error!r}") from exc
            self.close()
            raise
        except (OSError, smtplib.SMTPException):
            self.close()
            raise

    def reset(self) -> None:
        """Leave the connection ready for the next message after a refused one."""
        if self.conn is not None:
            try:
                self.conn.rset()
            except (OSError, smtplib.SMTPException):
                self.close()

    def close(self) -> None:
        """Close the connection, ignoring a server that is already gone."""
        if self.conn is not None:
            with contextlib.suppress(OSError, smtplib.SMTPException):
                self.conn.quit()
            self.conn = None


class FileTransport:
    """Development delivery: write each message to instance/mail/ and to the log."""

    def __init__(self, folder: Path) -> None:
        """Deliver into this folder."""
        self.folder = folder

    def send(self, msg: Message) -> None:
        """Write the message as an .eml file and log its text."""
        self.folder.mkdir(parents=True, exist_ok=True)
        name = msg["Message-ID"].strip("<>").split("@")[0] + ".eml"
        raw = msg.as_bytes()
        (self.folder / name).write_bytes(raw)
        read = email.message_from_bytes(raw, policy=email.policy.default)  # as a mail program reads it: decoded
        body = read.get_body(("plain",))
        log.info(
            "Mail to %s: %s (%s)\n%s",
            read["To"],
            read["Subject"],
            self.folder / name,
            body.get_content() if body else "",
        )

    def close(self) -> None:
        """Nothing to close."""


def transport_for(app: Flask) -> SMTPTransport | FileTransport:
    """The app's transport: SMTP when MAIL_SERVER is set, else files in instance/mail/."""
    if app.config["MAIL_SERVER"]:
        return SMTPTransport(app.config)
    return FileTransport(Path(app.instance_path) / "mail")
