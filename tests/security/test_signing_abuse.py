"""Attacks on the count through the signing form, each as the attacker would run it over HTTP.

- undoing an administrator's invalidation (or the site's suspicion) by withdrawing and signing again;
- signing twice with spellings of one mailbox that its provider delivers to the same inbox;
- one form stamp reused for a burst of signings, or taken from another petition or browser;
- a flood of suspected signings that queued on one shared row.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event, func, select
from sqlalchemy.engine import Engine

from petitions import worker
from petitions.clock import utcnow
from petitions.counting import counts, rules
from petitions.extensions import db
from petitions.infra.tokens import serializer
from petitions.models import FormStamp, Invalidation, Petition, Signature, User
from petitions.moderation import abuse
from tests.helpers import (
    ONE_DAY,
    body_of,
    csrf_from,
    deliver,
    last_with_link,
    link_in,
    login,
    make_app,
    make_petition,
    make_user,
    sign_form,
    started_from,
)


@pytest.fixture(autouse=True)
def no_rate_limits(app: Flask) -> None:
    """Every browser here is 127.0.0.1: the per-address limits (a defence of their own) stay out of the way."""
    app.config.update(RATELIMIT_SIGN_PER_PETITION="1000 per minute", RATELIMIT_SIGN_PER_ADDRESS="1000 per minute")


def count(app: Flask, slug: str) -> int:
    """The public count, as the API gives it."""
    return app.test_client().get(f"/api/v1/petitions/{slug}/count").json["signature_count"]


def path_of(link: str) -> str:
    return link.removeprefix("http://localhost")


def press(client: FlaskClient, path: str):
    """Open a page with one button and press it (confirm, withdraw); the answer to the press, or the page's error."""
    page = client.get(path)
    if page.status_code != 200 or 'name="csrf_token"' not in page.text:  # an error, or nothing left to press
        return page
    return client.post(path, data={"csrf_token": csrf_from(page.text)}, follow_redirects=True)


def confirm(app: Flask, client: FlaskClient, mailbox, address: str):
    deliver(app)
    return press(client, path_of(link_in(last_with_link(mailbox, address, "/verify/"), "/verify/")))


def withdraw(app: Flask, client: FlaskClient, mailbox, address: str):
    deliver(app)
    return press(client, path_of(link_in(last_with_link(mailbox, address, "/withdraw/"), "/withdraw/")))


def rows(app: Flask) -> dict[str, Signature]:
    with app.app_context():
        found = {s.email: s for s in db.session.scalars(select(Signature))}
        db.session.expunge_all()
        return found


def recount_is_exact(app: Flask, slug: str) -> None:
    with app.app_context():
        assert counts.recount(db.session.scalar(select(Petition).where(Petition.slug == slug)), now=utcnow()) == []
        db.session.rollback()


# --- 5. an invalidation survives withdrawing and signing again -----------------------------------


BOTS = ["bot1@botfarm.example", "bot2@botfarm.example", "bot3@botfarm.example"]


def test_withdrawing_and_signing_again_never_undoes_an_administrators_invalidation(app, mailbox) -> None:
    with app.app_context():
        make_user("admin@example.org", admin=True)
        slug = make_petition().slug
    browsers = {address: app.test_client() for address in ["human@example.org", *BOTS]}
    for address, browser in browsers.items():
        assert sign_form(browser, slug, email=address).status_code == 303
        assert "confirmed and counted" in confirm(app, browser, mailbox, address).text
    assert count(app, slug) == 4

    admin = app.test_client()
    assert login(admin, "admin@example.org").status_code == 303
    preview = admin.get(f"/admin/signatures?petition={slug}&domain=botfarm.example")
    done = admin.post(
        "/admin/signatures",
        data={
            "petition": slug,
            "domain": "botfarm.example",
            "expected": "3",
            "reason": "a bot farm",
            "csrf_token": csrf_from(preview.text),
        },
    )
    assert done.status_code == 303
    batch_id = int(done.headers["Location"].rsplit("/", 1)[1])
    assert count(app, slug) == 1

    # Two bots press their withdraw links, sign again from a fresh page, and press every
    # confirmation link they ever got.
    for address in BOTS[:2]:
        browser = browsers[address]
        withdrawn = withdraw(app, browser, mailbox, address)
        assert withdrawn.status_code == 200 and "no longer counts" in withdrawn.text
        assert count(app, slug) == 1  # withdrawing never raises a count
        assert sign_form(browser, slug, email=address).status_code == 303
        assert sign_form(app.test_client(), slug, email=address.replace("@", "+again@")).status_code == 303
        deliver(app)
        for message in mailbox.to(address):
            if "/verify/" not in body_of(message):  # the receipt of its entry in the public log
                continue
            assert "confirmed and counted" not in press(browser, path_of(link_in(message, "/verify/"))).text
        assert count(app, slug) == 1
    found = rows(app)
    assert sorted(found) == sorted(["human@example.org", *BOTS])  # no new row for any bot
    for address in BOTS[:2]:
        bot = found[address]
        assert (bot.invalidation_id, bot.withdrawn_at is not None, rules.counts(bot)) == (batch_id, True, False)
        assert (bot.name, bot.comment, bot.ip_address) == ("", None, None)  # only the mailbox is kept
    recount_is_exact(app, slug)

    # The administrator reverses the batch: the bot that did not withdraw counts again; the
    # withdrawn ones are deleted, as their signers asked, and do not count.
    detail = admin.get(f"/admin/invalidations/{batch_id}")
    reversed_ = admin.post(
        f"/admin/invalidations/{batch_id}/reverse",
        data={"reason": "checked by phone", "csrf_token": csrf_from(detail.text)},
    )
    assert reversed_.status_code == 303
    assert count(app, slug) == 2
    assert sorted(rows(app)) == ["bot3@botfarm.example", "human@example.org"]
    recount_is_exact(app, slug)
    # the mailbox is a new one now: it can sign again, and its signature counts once confirmed
    assert sign_form(browsers[BOTS[0]], slug, email=BOTS[0]).status_code == 303
    assert "confirmed and counted" in confirm(app, browsers[BOTS[0]], mailbox, BOTS[0]).text
    assert count(app, slug) == 3


def test_a_suspected_signature_stays_suspected_across_withdrawing_and_signing_again(app, mailbox) -> None:
    with app.app_context():
        make_user("admin@example.org", admin=True)
        slug = make_petition().slug
    bot = app.test_client()
    app.config["SIGN_MIN_SECONDS"] = 30  # this form is sent too fast: kept as suspected
    assert sign_form(bot, slug, email="quick@example.org").status_code == 303
    assert "confirmed and counted" in confirm(app, bot, mailbox, "quick@example.org").text  # looks the same to it
    assert count(app, slug) == 0
    asked = bot.get(path_of(link_in(mailbox.to("quick@example.org")[-1], "/withdraw/")))
    assert "keeps your email address on record for this petition" in asked.text  # said before, not after
    assert "no longer counts" in withdraw(app, bot, mailbox, "quick@example.org").text
    app.config["SIGN_MIN_SECONDS"] = 0  # now it waits long enough
    assert sign_form(bot, slug, email="quick@example.org").status_code == 303
    deliver(app)
    for message in mailbox.to("quick@example.org"):
        press(bot, path_of(link_in(message, "/verify/")))
    assert count(app, slug) == 0
    (row,) = rows(app).values()
    assert (row.suspected, row.withdrawn_at is not None, rules.counts(row)) == ("fast", True, False)

    admin = app.test_client()
    login(admin, "admin@example.org")
    listing = admin.get("/admin/invalidations")
    with app.app_context():
        batch = db.session.scalar(select(Invalidation))
        assert (batch.actor_id, batch.criteria["automatic"], batch.signature_count) == (None, "fast", 1)
    assert f"Batch {batch.id}" in listing.text
    detail = admin.get(f"/admin/invalidations/{batch.id}")
    admin.post(
        f"/admin/invalidations/{batch.id}/reverse", data={"reason": "a person", "csrf_token": csrf_from(detail.text)}
    )
    assert rows(app) == {} and count(app, slug) == 0  # withdrawn: gone, never counted
    recount_is_exact(app, slug)


def test_deleting_my_data_keeps_an_invalidated_mailbox_invalidated(app, mailbox) -> None:
    from petitions.moderation import invalidation

    with app.app_context():
        admin_id = make_user("admin@example.org", admin=True).id
        slug = make_petition().slug
    bot = app.test_client()
    sign_form(bot, slug, email="bot@botfarm.example")
    confirm(app, bot, mailbox, "bot@botfarm.example")
    with app.app_context():
        crit = invalidation.criteria(domain="botfarm.example")
        invalidation.invalidate(crit, db.session.get(User, admin_id), reason="bots", now=utcnow())
        db.session.commit()
    page = bot.get("/my-data")
    bot.post("/my-data", data={"email": "bot@botfarm.example", "csrf_token": csrf_from(page.text)})
    deliver(app)
    link = path_of(link_in(mailbox.to("bot@botfarm.example")[-1], "/my-data/"))
    view = bot.get(link)
    deleted = bot.post(link, data={"csrf_token": csrf_from(view.text), "action": "delete"}, follow_redirects=True)
    assert "We deleted 1 signature(s)" in deleted.text
    assert "Withdrawn" in deleted.text and "only your email address is kept" in deleted.text
    again = bot.post(link, data={"csrf_token": csrf_from(deleted.text), "action": "delete"}, follow_redirects=True)
    assert "We deleted 0 signature(s)" in again.text
    sign_form(bot, slug, email="bot@botfarm.example")
    deliver(app)
    assert count(app, slug) == 0
    (row,) = rows(app).values()
    assert row.invalidated_at is not None and row.withdrawn_at is not None
    recount_is_exact(app, slug)


def test_purging_unconfirmed_signatures_never_frees_a_suspected_mailbox(app, runner, mailbox) -> None:
    with app.app_context():
        slug = make_petition().slug
    bot = app.test_client()
    app.config["SIGN_MIN_SECONDS"] = 30  # kept as suspected, never confirmed
    assert sign_form(bot, slug, email="quick@example.org").status_code == 303
    assert "no longer counts" in withdraw(app, bot, mailbox, "quick@example.org").text
    app.config["SIGN_MIN_SECONDS"] = 0
    with app.app_context():
        db.session.execute(db.update(Signature).values(created_at=utcnow() - ONE_DAY * 30))
        db.session.commit()
    assert runner.invoke(args=["purge-unverified", "--older-than", "7"]).exit_code == 0
    assert sign_form(bot, slug, email="quick@example.org").status_code == 303
    deliver(app)
    for message in mailbox.to("quick@example.org"):
        press(bot, path_of(link_in(message, "/verify/")))
    assert count(app, slug) == 0
    (row,) = rows(app).values()
    assert (row.suspected, row.withdrawn_at is not None) == ("fast", True)


# --- 7. one mailbox, many spellings -----------------------------------------------------------------


@pytest.mark.parametrize(
    "spellings",
    [
        ["dave@proton.me", "da.ve@proton.me", "da-ve@protonmail.com", "da_ve@pm.me", "Dave+petition@protonmail.ch"],
        ["dave@fastmail.com", "x@dave.fastmail.com", "dave+y@fastmail.com", "Other@Dave.Fastmail.com"],
        ["dave@icloud.com", "dave+x@me.com", "dave@mac.com"],
        ["dave-shops@yahoo.com", "dave-news@yahoo.com"],
        ["d.a.v.e@gmail.com", "dave+x@googlemail.com"],
    ],
)
def test_one_mailbox_signs_once_whatever_alias_it_uses(app, mailbox, spellings) -> None:
    with app.app_context():
        slug = make_petition().slug
    for address in spellings:
        browser = app.test_client()
        assert sign_form(browser, slug, email=address).status_code == 303
        deliver(app)
        for message in mailbox.to(address):
            press(browser, path_of(link_in(message, "/verify/")))
    assert len(rows(app)) == 1
    assert count(app, slug) == 1


def test_names_that_are_only_a_tag_are_two_mailboxes(app, mailbox) -> None:
    with app.app_context():
        slug = make_petition().slug
    for address in ("+abc@example.com", "+zzz@example.com"):
        browser = app.test_client()
        sign_form(browser, slug, email=address)
        confirm(app, browser, mailbox, address)
    assert len(rows(app)) == 2 and count(app, slug) == 2


# --- 8. form stamps: bound to a petition and a session, used once -----------------------------------


def suspected_of(app: Flask) -> dict[str, str | None]:
    return {address: row.suspected for address, row in rows(app).items()}


def test_one_stamp_for_a_burst_of_signings_counts_only_the_first(app, mailbox) -> None:
    with app.app_context():
        slug = make_petition().slug
    bot = app.test_client()
    page = bot.get(f"/petitions/{slug}")
    form = {"csrf_token": csrf_from(page.text), "started": started_from(page.text), "name": "Bot", "country": "GB"}
    for i in range(5):
        assert bot.post(f"/petitions/{slug}/sign", data={**form, "email": f"b{i}@example.org"}).status_code == 303
    assert suspected_of(app) == {"b0@example.org": None, **{f"b{i}@example.org": "stamp-reused" for i in range(1, 5)}}
    for i in range(5):
        confirm(app, bot, mailbox, f"b{i}@example.org")
    assert count(app, slug) == 1


def test_a_burst_at_the_same_moment_with_one_stamp_counts_one(app) -> None:
    """The stamp's first use is decided by the database, under concurrency, on both databases."""
    with app.app_context():
        slug = make_petition().slug
    bot = app.test_client()
    page = bot.get(f"/petitions/{slug}")
    cookie = bot.get_cookie("session")
    form = {"csrf_token": csrf_from(page.text), "started": started_from(page.text), "name": "Bot", "country": "GB"}
    start = threading.Barrier(6)

    def post(i: int) -> int:
        client = app.test_client()
        client.set_cookie("session", cookie.value)
        start.wait()
        return client.post(f"/petitions/{slug}/sign", data={**form, "email": f"burst{i}@example.org"}).status_code

    with ThreadPoolExecutor(6) as pool:
        assert list(pool.map(post, range(6))) == [303] * 6
    kinds = sorted(suspected_of(app).values(), key=str)
    assert kinds == [None] + ["stamp-reused"] * 5


def test_a_stamp_from_another_petition_or_browser_or_too_old_is_suspected(app) -> None:
    with app.app_context():
        slug, other = make_petition().slug, make_petition(title="Another petition").slug
    mine, theirs = app.test_client(), app.test_client()
    page, elsewhere, their_page = (
        mine.get(f"/petitions/{slug}"),
        mine.get(f"/petitions/{other}"),
        theirs.get(f"/petitions/{slug}"),
    )
    form = {"csrf_token": csrf_from(page.text), "name": "Bot", "country": "GB"}
    mine.post(
        f"/petitions/{slug}/sign",
        data={**form, "email": "other-petition@example.org", "started": started_from(elsewhere.text)},
    )
    mine.post(
        f"/petitions/{slug}/sign",
        data={**form, "email": "other-browser@example.org", "started": started_from(their_page.text)},
    )
    with app.app_context():
        old_kind = serializer(abuse.FORM_STARTED).dumps("s")  # a stamp bound to nothing, as they were
    mine.post(f"/petitions/{slug}/sign", data={**form, "email": "unbound@example.org", "started": old_kind})
    app.config["SIGN_STAMP_MAX_AGE"] = 0
    mine.post(
        f"/petitions/{slug}/sign",
        data={**form, "email": "too-old@example.org", "started": started_from(mine.get(f"/petitions/{slug}").text)},
    )
    app.config["SIGN_STAMP_MAX_AGE"] = 3600
    mine.post(
        f"/petitions/{slug}/sign",
        data={**form, "email": "fine@example.org", "started": started_from(mine.get(f"/petitions/{slug}").text)},
    )
    assert suspected_of(app) == {
        "other-petition@example.org": "stamp",
        "other-browser@example.org": "stamp",
        "unbound@example.org": "stamp",
        "too-old@example.org": "stamp",
        "fine@example.org": None,
    }


def test_a_stamp_used_in_one_process_is_used_for_every_process(app, database_url, smtp_server, tmp_path) -> None:
    """Two workers (each its own application and connection pool) share what was used: the database."""
    with app.app_context():
        slug = make_petition().slug
    other = make_app(database_url, smtp_server, tmp_path / "other")
    try:
        first, second = app.test_client(), other.test_client()
        page = first.get(f"/petitions/{slug}")
        second.set_cookie("session", first.get_cookie("session").value)
        form = {"csrf_token": csrf_from(page.text), "started": started_from(page.text), "name": "Bot", "country": "GB"}
        assert first.post(f"/petitions/{slug}/sign", data={**form, "email": "one@example.org"}).status_code == 303
        assert second.post(f"/petitions/{slug}/sign", data={**form, "email": "two@example.org"}).status_code == 303
    finally:
        with other.app_context():
            db.session.remove()
            db.engine.dispose()
    assert suspected_of(app) == {"one@example.org": None, "two@example.org": "stamp-reused"}


def test_the_worker_forgets_the_uses_of_stamps_too_old_to_be_accepted(app) -> None:
    with app.app_context():
        slug = make_petition().slug
    sign_form(app.test_client(), slug, email="a@example.org")
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(FormStamp)) == 1
        worker.housekeeping(now=utcnow())
        assert db.session.scalar(select(func.count()).select_from(FormStamp)) == 1
        app.config["SIGN_STAMP_MAX_AGE"] = -1
        assert worker.housekeeping(now=utcnow())["stamps_forgotten"] == 1
        assert db.session.scalar(select(func.count()).select_from(FormStamp)) == 0


# --- a flood of suspected signings costs what people's signings cost --------------------------------


def test_a_suspected_signing_costs_what_a_counted_one_costs(app, monkeypatch) -> None:
    """Each suspected signing used to read, lock and update its day's batch row; now it writes its own row only."""
    from petitions.infra.database import AutocommitStatement

    app.config.update(PETITION_CACHE_SECONDS=3600, BLOCKS_REFRESH=3600)
    with app.app_context():
        slug = make_petition().slug
    statements: list[str] = []

    def seen(conn, cursor, statement, parameters, context, executemany) -> None:
        statements.append(statement)

    run_alone = AutocommitStatement.first

    def alone_seen(self, params):  # PostgreSQL's hot writes go to the driver without SQLAlchemy's events
        statements.append(str(self.statement.compile(dialect=db.engine.dialect)))
        return run_alone(self, params)

    monkeypatch.setattr(AutocommitStatement, "first", alone_seen)

    def signing(email: str, min_seconds: int) -> list[str]:
        browser = app.test_client()
        page = browser.get(f"/petitions/{slug}")
        app.config["SIGN_MIN_SECONDS"] = min_seconds
        statements.clear()
        event.listen(Engine, "before_cursor_execute", seen)
        try:
            browser.post(
                f"/petitions/{slug}/sign",
                data={
                    "csrf_token": csrf_from(page.text),
                    "started": started_from(page.text),
                    "name": "N",
                    "email": email,
                    "country": "GB",
                },
            )
        finally:
            event.remove(Engine, "before_cursor_execute", seen)
        return list(statements)

    signing("warm-up@example.org", 0)
    counted = signing("person@example.org", 0)
    suspected = signing("bot@example.org", 3600)
    assert suspected_of(app) == {"warm-up@example.org": None, "person@example.org": None, "bot@example.org": "fast"}
    assert len(suspected) == len(counted) and sum("INSERT INTO signatures" in s for s in suspected) == 1
    assert not [s for s in suspected if "invalidations" in s]
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Invalidation)) == 0
        db.session.rollback()
    deliver(app)  # the worker (and the administrator's pages) put it in its batch, as before
    with app.app_context():
        batch = db.session.scalar(select(Invalidation))
        assert (batch.criteria["automatic"], batch.signature_count) == ("fast", 1)
        assert (
            db.session.scalar(select(Signature.invalidation_id).where(Signature.email == "bot@example.org")) == batch.id
        )
