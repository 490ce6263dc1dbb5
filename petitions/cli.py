"""Commands for operators: flask --app app <command>."""

from __future__ import annotations

import logging
import signal
import sys
import threading

import click
from flask import Flask, current_app
from flask.cli import with_appcontext
from sqlalchemy import select
from werkzeug.serving import run_simple

from petitions import worker
from petitions.accounts.operations import account_email
from petitions.clock import utcnow
from petitions.counting import counts
from petitions.extensions import current_app_object, db
from petitions.infra.tlog.note import NoteError
from petitions.models import Petition, User
from petitions.signatures import retention
from petitions.transparency import audit, keys

log = logging.getLogger(__name__)


@click.command("create-admin")
@with_appcontext
@click.argument("email")
@click.option("--name", default="Administrator", help="Display name of a new account.")
def create_admin(email: str, name: str) -> None:
    """Make or promote an administrator; the password is read from standard input."""
    try:
        address = account_email(email)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="EMAIL") from None
    user = db.session.scalar(select(User).where(User.email == address))
    password = (
        click.prompt("Password", hide_input=True, default="", show_default=False)
        if sys.stdin.isatty()
        else sys.stdin.readline().rstrip("\n")
    )
    now = utcnow()
    if user is None:
        if len(password) < 10:
            raise click.UsageError("A new administrator needs a password of at least 10 characters on standard input.")
        user = User(name=name, email=address, created_at=now, email_confirmed_at=now, is_admin=True)
        user.set_password(password)
        db.session.add(user)
        action = "Created"
    else:
        user.is_admin = True
        user.email_confirmed_at = user.email_confirmed_at or now
        if password:
            if len(password) < 10:
                raise click.UsageError("The password must have at least 10 characters.")
            user.set_password(password)
        action = "Promoted"
    db.session.commit()
    click.echo(f"{action} administrator {address}.")


def _work(once: bool) -> None:
    if once:
        sent, failed = worker.drain()
        click.echo(f"Sent {sent}, failed {failed}.")
        return
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    # Logged, not printed: under LOG_FORMAT=json every line the worker writes is a JSON object.
    log.info("Worker running (mail, public logs, housekeeping); stop with Ctrl-C or SIGTERM.")
    worker.run_forever(current_app_object(), stop)


@click.command("worker")
@with_appcontext
@click.option("--once", is_flag=True, help="Append to the public logs and send everything due, then exit.")
def background_worker(once: bool) -> None:
    """All background work: send the queued email, append to the public logs, keep house; several may run at once."""
    _work(once)


@click.command("mail-worker")
@with_appcontext
@click.option("--once", is_flag=True, help="Append to the public logs and send everything due, then exit.")
def mail_worker(once: bool) -> None:
    """The same as `worker` (its older name): all background work, mail included."""
    _work(once)


@click.command("log-keygen")
@click.argument("name")
def log_keygen(name: str) -> None:
    """Print a new LOG_SIGNING_KEY named NAME (the host of BASE_URL) and its verifier key."""
    try:
        key = keys.generate(name)
    except NoteError as exc:
        raise click.BadParameter(str(exc), param_hint="NAME") from None
    click.echo(f"LOG_SIGNING_KEY={key}")
    click.echo(f"verifier key (served at /log/key): {key.verifier}")


@click.command("recount")
@with_appcontext
@click.argument("slug", required=False)
def recount(slug: str | None) -> None:
    """Recompute counts from the signature rows and check each public log against them; report and correct
    differences in the counts (a log is append-only: its differences are reported); exit 1 if any."""
    stmt = select(Petition).order_by(Petition.id)
    if slug:
        stmt = stmt.where(Petition.slug == slug)
    petitions = db.session.scalars(stmt).all()
    if slug and not petitions:
        raise click.UsageError(f"No petition has the slug {slug!r}.")
    found = []
    logs = []
    for petition in petitions:
        diffs = counts.recount(petition, now=utcnow())
        db.session.commit()
        found.extend(diffs)
        logs.append(audit.check(petition))
        db.session.rollback()  # the check writes nothing; this ends its transaction and the head's lock
    for d in found:
        click.echo(f"{d.slug}: {d.what} was {d.kept}, rows say {d.actual} (corrected)")
    bad = [c for c in logs if not c.ok]
    for c in bad:
        click.echo(f"{c.slug}: public log counts {c.log_count}, rows say {c.rows_count}: " + "; ".join(c.problems))
    pending = sum(c.pending for c in logs)
    click.echo(f"Checked {len(petitions)} petition(s): {len(found)} difference(s).")
    click.echo(
        f"Public logs: {len(bad)} do not match their rows"
        + (f"; {pending} change(s) not appended yet, left out of the comparison." if pending else ".")
    )
    if found or bad:
        sys.exit(1)


@click.command("purge-unverified")
@with_appcontext
@click.option("--older-than", "days", type=click.IntRange(min=0), required=True, help="Age in days.")
def purge_unverified(days: int) -> None:
    """Delete signatures never confirmed that are older than DAYS days."""
    deleted = retention.purge_unverified(older_than_days=days, now=utcnow())
    db.session.commit()
    click.echo(f"Deleted {deleted} unconfirmed signature(s) older than {days} day(s).")


@click.command("purge-ips")
@with_appcontext
@click.option(
    "--older-than", "days", type=click.IntRange(min=0), default=None, help="Age in days (default: IP_RETENTION_DAYS)."
)
def purge_ips(days: int | None) -> None:
    """Drop signers' IP addresses older than DAYS days (the worker also does this by itself)."""
    days = current_app.config["IP_RETENTION_DAYS"] if days is None else days
    dropped = retention.drop_ip_addresses(older_than_days=days, now=utcnow())
    db.session.commit()
    click.echo(f"Dropped the IP address of {dropped} signature(s) older than {days} day(s).")


@click.command("dev")
@with_appcontext
@click.option("--host", default="127.0.0.1")
@click.option("--port", default=5000, type=int)
def dev(host: str, port: int) -> None:
    """Development server with the mail worker running in the same process."""
    app = current_app_object()
    worker.start_in_thread(app)
    click.echo(f"Serving on http://{host}:{port}/ (mail worker running in this process)")
    # run_simple, not app.run(): Flask ignores app.run() inside a `flask` command.
    run_simple(host, port, app, use_debugger=True, use_reloader=False, threaded=True)


def init_app(app: Flask) -> None:
    """Register the commands."""
    for command in (
        create_admin,
        background_worker,
        mail_worker,
        log_keygen,
        recount,
        purge_unverified,
        purge_ips,
        dev,
    ):
        app.cli.add_command(command)
