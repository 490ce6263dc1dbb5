"""The SMTP server is down while people sign: the mail worker keeps every message and retries it;
once the server is back, each message arrives within MAIL_RETRY_MAX_DELAY, exactly once."""

from __future__ import annotations

import contextlib
import time
from collections import Counter
from pathlib import Path

import pytest

from tests.faults.helpers import (
    RETRY_MAX_DELAY,
    new_petition,
    outbox,
    outbox_id,
    received,
    sign_in_process,
    signing_app,
    start_mail_worker,
    start_smtp,
    wait_until,
)
from tests.helpers import Mailbox, free_port

pytestmark = pytest.mark.slow


def test_mail_queued_while_smtp_is_down_is_delivered_once_when_it_is_back(
    pg: str, stack: contextlib.ExitStack, tmp_path: Path
) -> None:
    smtp_port = free_port()  # nothing listens here until the end
    worker = start_mail_worker(stack, tmp_path, "mail-worker", pg, smtp_port)
    app = signing_app(stack, pg, tmp_path)
    slug = new_petition(app)

    # 30 people sign while the SMTP server is unreachable: every signing is answered.
    emails = [f"down{i}@example.org" for i in range(30)]
    sign_in_process(app, slug, emails)

    # The worker fails, keeps every message and retries it (attempts >= 2 means a retry failed too).
    def all_retried() -> bool:
        rows = outbox(pg)
        return len(rows) == len(emails) and all(r.attempts >= 2 for r in rows)

    wait_until(
        all_retried,
        timeout=15,
        what="every message tried and retried while SMTP is down",
        details=lambda: f"{outbox(pg)}\n{worker.log()}",
    )
    rows = outbox(pg)
    assert sorted(r.to_addr for r in rows) == sorted(emails)
    assert all(r.sent_at is None and r.failed_at is None for r in rows), rows
    assert all(r.last_error for r in rows), rows
    assert worker.alive(), worker.log()

    # The SMTP server comes up: everything arrives within the longest retry delay, plus slack.
    mailbox = Mailbox()
    start_smtp(stack, mailbox, smtp_port)
    up = time.monotonic()
    limit = RETRY_MAX_DELAY + 4
    wait_until(
        lambda: len(received(mailbox)) >= len(emails),
        timeout=limit,
        what=f"all {len(emails)} messages delivered once SMTP is back",
        details=lambda: f"received {len(received(mailbox))}\n{outbox(pg)}\n{worker.log()}",
    )
    took = time.monotonic() - up
    time.sleep(1)  # a duplicate would arrive now

    messages = received(mailbox)
    ids = Counter(str(m["Message-ID"]) for m in messages)
    assert [mid for mid, n in ids.items() if n > 1] == [], f"delivered twice: {ids}\n{worker.log()}"
    assert sorted(str(m["To"]) for m in messages) == sorted(emails)
    assert {outbox_id(m) for m in messages} == {r.id for r in rows}
    rows = outbox(pg)
    assert all(r.sent_at is not None and r.claimed_by is None and r.failed_at is None for r in rows), rows
    assert worker.alive(), worker.log()
    assert "Traceback" not in worker.log(), worker.log()
    print(
        f"SMTP down: {len(emails)} messages kept through {max(r.attempts for r in rows)} attempts;"
        f" all delivered {took:.1f} s after SMTP came back"
    )
