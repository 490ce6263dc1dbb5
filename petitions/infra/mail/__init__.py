"""Email: queued in the outbox in the cause's transaction, sent by the worker with retries.

- render: templates, absolute links, messages rendered late by the worker;
- message: the MIME message of an outbox row;
- prepared: a late-rendered message built once per template and petition, its name and links filled in;
- transports: SMTP, or files and the log when no MAIL_SERVER is set;
- outbox: queuing, claiming, sending a claimed batch and recording each outcome (retries);
- senders: the loop that drains the outbox over MAIL_SENDERS connections.

The names callers use are importable from here.
"""

from petitions.infra.mail.outbox import LateEmail, claim, queue_email, queue_late_email, queue_late_emails, send_claimed
from petitions.infra.mail.render import (
    Fill,
    OutboxRow,
    Unsendable,
    external_url,
    mail_locale,
    mail_text,
    mail_texts,
    rendered_late,
    rendered_late_filled,
    token_url,
)
from petitions.infra.mail.senders import drain, run_once

__all__ = [
    "Fill",
    "LateEmail",
    "OutboxRow",
    "Unsendable",
    "claim",
    "drain",
    "external_url",
    "mail_locale",
    "mail_text",
    "mail_texts",
    "queue_email",
    "queue_late_email",
    "queue_late_emails",
    "rendered_late",
    "rendered_late_filled",
    "run_once",
    "send_claimed",
    "token_url",
]
