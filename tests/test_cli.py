"""Operator commands, run as `flask --app app ...` would run them."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from petitions.clock import utcnow
from petitions.extensions import db
from petitions.models import OutboxMessage, Petition, Signature, User
from petitions.signatures import confirming, signing
from tests.helpers import make_petition, make_user


def test_create_admin_reads_the_password_from_stdin(app, runner) -> None:
    result = runner.invoke(args=["create-admin", "Boss@Example.org"], input="a long admin password\n")
    assert result.exit_code == 0, result.output
    with app.app_context():
        user = db.session.scalar(select(User))
        assert user.email == "boss@example.org" and user.is_admin and user.email_confirmed
        assert user.check_password("a long admin password")


def test_create_admin_promotes_an_existing_account_and_refuses_bad_input(app, runner) -> None:
    with app.app_context():
        make_user("casey@example.org")
    assert runner.invoke(args=["create-admin", "casey@example.org"], input="\n").exit_code == 0
    with app.app_context():
        user = db.session.scalar(select(User))
        assert user.is_admin and user.check_password("correct horse battery")
    assert runner.invoke(args=["create-admin", "new@example.org"], input="short\n").exit_code != 0
    assert runner.invoke(args=["create-admin", "not an email"], input="a long admin password\n").exit_code != 0


def test_recount_reports_differences_with_a_failing_status(app, runner) -> None:
    with app.app_context():
        petition = make_petition()
        s = signing.sign(petition, signing.SignatureData("A", "a@example.org", "GB"), now=utcnow(), ip=None)
        confirming.confirm(s, now=utcnow())
        db.session.commit()
        slug = petition.slug
    clean = runner.invoke(args=["recount"])
    assert clean.exit_code == 0 and "0 difference(s)" in clean.output

    with app.app_context():
        db.session.scalar(select(Petition)).signature_count = 5
        db.session.commit()
    drift = runner.invoke(args=["recount", slug])
    assert drift.exit_code == 1
    assert f"{slug}: total was 5, rows say 1" in drift.output
    assert runner.invoke(args=["recount", slug]).exit_code == 0  # corrected
    assert runner.invoke(args=["recount", "no-such-slug"]).exit_code == 2


def test_purge_unverified_deletes_only_old_unconfirmed_signatures(app, runner) -> None:
    with app.app_context():
        petition = make_petition()
        old = utcnow() - timedelta(days=10)
        for email, when in [("old@example.org", old), ("new@example.org", utcnow())]:
            signing.sign(petition, signing.SignatureData("A", email, "GB"), now=when, ip=None)
        confirmed = signing.sign(petition, signing.SignatureData("A", "kept@example.org", "GB"), now=old, ip=None)
        confirming.confirm(confirmed, now=old)
        db.session.commit()
    result = runner.invoke(args=["purge-unverified", "--older-than", "7"])
    assert result.exit_code == 0 and "Deleted 1" in result.output
    with app.app_context():
        assert sorted(db.session.scalars(select(Signature.email))) == ["kept@example.org", "new@example.org"]
        assert db.session.scalar(select(Petition)).signature_count == 1


def test_mail_worker_once_drains_the_queue(app, runner, mailbox) -> None:
    with app.app_context():
        petition = make_petition()
        signing.sign(petition, signing.SignatureData("A", "a@example.org", "GB"), now=utcnow(), ip=None)
        db.session.commit()
    result = runner.invoke(args=["mail-worker", "--once"])
    assert result.exit_code == 0 and "Sent 1" in result.output
    assert [m["To"] for m in mailbox.messages] == ["a@example.org"]
    with app.app_context():
        assert db.session.scalar(select(func.count()).where(OutboxMessage.sent_at.is_(None))) == 0
