"""The MIME message of an outbox row, its headers kept to one line each."""

from __future__ import annotations

import email.charset
import email.policy
import re
from email.header import Header
from email.message import EmailMessage, Message
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import formataddr, parseaddr

from petitions.infra.mail.render import OutboxRow, body_of

# Headers up to RFC 5322's limit stay on one line: Python folds a long Subject right after
# "Subject:", which some readers then show with a leading space.
_POLICY = email.policy.default.clone(max_line_length=998)
# The same limit for messages built with the email package's classic classes (see build_message).
_POLICY_CLASSIC = email.policy.compat32.clone(max_line_length=998)
# A body goes as written (7bit or 8bit), readable in any mail source view; a body with a line
# longer than SMTP carries goes quoted-printable.
_UTF8 = email.charset.Charset("utf-8")
# typeshed declares body_encoding an int; None, no transfer encoding, is documented and works.
_UTF8.body_encoding = None  # type: ignore[assignment]
_UTF8_QP = email.charset.Charset("utf-8")
_UTF8_QP.body_encoding = email.charset.QP
_SMTP_LINE = 998


_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


def header_text(value: str) -> str:
    """A header value on one line: control characters (CR, LF, ...) become spaces, so no header can be injected."""
    return _CONTROL.sub(" ", value).strip()


def _classic_header(value: str) -> str:
    """A header value for the classic classes: as it is when ASCII, else RFC 2047 encoded words
    of at most 75 characters."""
    value = header_text(value)
    if value.isascii():
        return value
    return Header(value, "utf-8").encode(maxlinelen=75)


def _classic_address(value: str) -> str:
    """A From or To header: a display name that is not ASCII is encoded, the address itself is kept as it is."""
    value = header_text(value)
    if value.isascii():
        return value
    name, address = parseaddr(value)
    return formataddr((name, address), charset="utf-8")


def _text_part(body: str, subtype: str) -> MIMEText:
    # SMTP's limit is in octets, and only CR and LF end a line on the wire.
    charset = _UTF8_QP if any(len(line) > _SMTP_LINE for line in body.encode("utf-8").splitlines()) else _UTF8
    # typeshed allows only a charset's name; MIMEText passes a Charset on to set_payload, which takes one.
    return MIMEText(body, subtype, charset, policy=_POLICY_CLASSIC)  # type: ignore[arg-type]


def message_id(row: OutboxRow, domain: str) -> str:
    """The Message-ID of an outbox row: stable across retries."""
    return f"<outbox-{row.id}.{int(row.created_at.timestamp())}@{domain}>"


def build_message(row: OutboxRow, sender: str, domain: str) -> Message:
    """The MIME message for an outbox row. Its Message-ID is stable across retries.

    Built with the email package's classic classes (MIMEText, Header), as Django builds its
    mail: EmailMessage parses every header it is given back through its header registry, work
    the worker would repeat for every message (docs/SCALING.md). A message to or from an
    address that is not ASCII needs SMTPUTF8 and raw UTF-8 headers, which only EmailMessage
    writes; it is built with EmailMessage.
    """
    text, html = body_of(row)
    return compose(
        sender, row.to_addr, row.subject, text, html, message_id=message_id(row, domain), headers=row.headers
    )


def compose(
    sender: str,
    to: str,
    subject: str,
    text: str,
    html: str | None,
    *,
    message_id: str,
    headers: dict[str, str] | None = None,
) -> Message:
    """The MIME message of these parts (see build_message)."""
    msg: Message
    if to.isascii() and (sender.isascii() or parseaddr(sender)[1].isascii()):
        msg = _text_part(text, "plain")
        if html:
            msg = MIMEMultipart("alternative", _subparts=[msg, _text_part(html, "html")], policy=_POLICY_CLASSIC)
        address, value = _classic_address, _classic_header
    else:
        msg = EmailMessage(policy=_POLICY)
        msg.set_content(text)
        if html:
            msg.add_alternative(html, subtype="html")
        address = value = header_text  # EmailMessage encodes what needs it
    msg["From"] = address(sender)
    msg["To"] = address(to)
    msg["Subject"] = value(subject)
    msg["Message-ID"] = message_id
    for name, text_value in (headers or {}).items():
        msg[header_text(name)] = value(text_value)
    return msg
