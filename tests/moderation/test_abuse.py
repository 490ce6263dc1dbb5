"""Abuse: rate limits (shared through Redis), client addresses behind proxies."""

from __future__ import annotations

import uuid

import pytest
import redis

from tests.helpers import csrf_from, make_app, make_user

REDIS_URL = "redis://127.0.0.1:6379/1"


@pytest.fixture
def redis_url():
    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except redis.RedisError as exc:
        pytest.fail(f"Redis is not answering at {REDIS_URL}: {exc}")
    yield REDIS_URL
    client.close()


def attempt_login(client, ip: str = "198.51.100.7"):
    page = client.get("/login", environ_base={"REMOTE_ADDR": ip})
    return client.post(
        "/login",
        data={"email": "casey@example.org", "password": "wrong password!", "csrf_token": csrf_from(page.text)},
        environ_base={"REMOTE_ADDR": ip},
    )


def test_login_is_limited_per_address_with_a_clear_429(app, client) -> None:
    app.config["RATELIMIT_LOGIN"] = "3 per minute"
    with app.app_context():
        make_user("casey@example.org")
    assert [attempt_login(client).status_code for _ in range(3)] == [422, 422, 422]
    blocked = attempt_login(client)
    assert blocked.status_code == 429
    assert "Too many attempts" in blocked.text
    assert int(blocked.headers["Retry-After"]) > 0
    assert attempt_login(client, ip="198.51.100.8").status_code == 422  # another address is not blocked


OTHER_PROCESS = """
import re, sys
from petitions import create_app
app = create_app({"DATABASE_URL": sys.argv[1], "SECRET_KEY": "x", "REDIS_URL": sys.argv[2],
                  "RATELIMIT_LOGIN": "4 per minute"})
client = app.test_client()
codes = []
for _ in range(2):
    page = client.get("/login", environ_base={"REMOTE_ADDR": sys.argv[3]})
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page.text).group(1)
    r = client.post("/login", data={"email": "x@example.org", "password": "wrong password!", "csrf_token": token},
                    environ_base={"REMOTE_ADDR": sys.argv[3]})
    codes.append(r.status_code)
print(codes)
"""


def test_limits_are_shared_by_every_process_through_redis(database_url, smtp_server, tmp_path, redis_url) -> None:
    """Two attempts in another process and two here use up a limit of four: the fifth is refused."""
    import subprocess
    import sys

    from tests.helpers import ROOT

    ip = f"2001:db8::{uuid.uuid4().hex[:4]}"  # this run's own counters in the shared Redis
    other = subprocess.run(
        [sys.executable, "-c", OTHER_PROCESS, database_url, redis_url, ip],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert other.stdout.strip().splitlines()[-1] == "[422, 422]", other.stderr[-2000:]
    here = make_app(
        database_url,
        smtp_server,
        tmp_path,
        REDIS_URL=redis_url,
        RATELIMIT_STORAGE_URI=redis_url,
        RATELIMIT_LOGIN="4 per minute",
    )
    client = here.test_client()
    assert [attempt_login(client, ip=ip).status_code for _ in range(3)] == [422, 422, 429]
    with here.app_context():
        from petitions.extensions import db

        db.engine.dispose()


def test_the_client_address_comes_from_proxies_only_when_told_to_trust_them(
    database_url, smtp_server, tmp_path
) -> None:
    from flask import request

    for count, expected in ((0, "127.0.0.1"), (1, "203.0.113.50")):
        app = make_app(database_url, smtp_server, tmp_path / str(count), PROXY_COUNT=count)
        app.add_url_rule("/whoami", "whoami", lambda: request.remote_addr or "")
        seen = app.test_client().get("/whoami", headers={"X-Forwarded-For": "10.9.9.9, 203.0.113.50"}).text
        assert seen == expected  # with one proxy, only the address it added counts; the client's own header is ignored


# --- signing defences -----------------------------------------------------------------------

from datetime import timedelta  # noqa: E402

from sqlalchemy import func, select  # noqa: E402

from petitions.clock import utcnow  # noqa: E402
from petitions.counting import counts  # noqa: E402
from petitions.extensions import db  # noqa: E402
from petitions.models import Invalidation, OutboxMessage, Petition, Signature, User  # noqa: E402
from petitions.moderation import abuse, blocks, invalidation  # noqa: E402
from petitions.signatures import signing  # noqa: E402
from tests.helpers import (  # noqa: E402
    deliver,
    last_with_link,
    link_in,
    login,
    make_petition,
    post_form,
    sign_form,
    started_from,
)


@pytest.fixture
def slug(app) -> str:
    with app.app_context():
        return make_petition().slug


def rows(app, model=Signature) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model))


def count(client, slug: str) -> int:
    return client.get(f"/api/v1/petitions/{slug}/count").json["signature_count"]


def confirm_from_email(app, client, mailbox, address: str):
    deliver(app)
    path = link_in(mailbox.to(address)[-1], "/verify/").removeprefix("http://localhost")
    page = client.get(path)
    return client.post(path, data={"csrf_token": csrf_from(page.text)}, follow_redirects=True)


def test_the_honeypot_drops_a_bot_with_the_same_answer(app, client, slug) -> None:
    human = sign_form(client, slug, email="human@example.org")
    bot = sign_form(client, slug, email="bot@example.org", website="http://spam.example")
    assert (bot.status_code, bot.headers["Location"]) == (human.status_code, human.headers["Location"])
    assert rows(app) == 1 and rows(app, OutboxMessage) == 1


def test_a_form_sent_too_fast_is_kept_as_suspected_not_counted(app, client, mailbox, slug) -> None:
    app.config["SIGN_MIN_SECONDS"] = 30
    response = sign_form(client, slug, email="quick@example.org")
    assert response.status_code == 303 and response.headers["Location"].endswith("/signed")
    confirmed = confirm_from_email(app, client, mailbox, "quick@example.org")
    assert "your signature is confirmed" in confirmed.text  # the signer sees no difference
    assert count(client, slug) == 0
    with app.app_context():
        batch = db.session.scalar(select(Invalidation))
        assert batch.actor_id is None and batch.criteria["automatic"] == "fast" and batch.signature_count == 1
        # an administrator reviews the batch and lets it count
        admin = User(name="A", email="admin@example.org", created_at=utcnow(), is_admin=True, password_hash="x")
        db.session.add(admin)
        db.session.flush()
        invalidation.reverse(batch, admin, reason="real people at a rally", now=utcnow())
        db.session.commit()
        assert counts.recount(db.session.scalar(select(Petition)), now=utcnow()) == []
    assert count(client, slug) == 1


def test_a_suspected_signing_never_joins_a_reversed_batch(ctx) -> None:
    petition = make_petition()
    now = utcnow()
    first = signing.sign(
        petition, signing.SignatureData("A", "a@example.org", "GB"), now=now, ip=None, suspected="fast"
    )
    abuse.assign_suspected(now=now)  # what the worker and the admin's batch pages do
    db.session.commit()
    batch = db.session.get(Invalidation, db.session.get(Signature, first.id).invalidation_id)
    admin = User(name="A", email="admin@example.org", created_at=now, is_admin=True, password_hash="x")
    db.session.add(admin)
    db.session.flush()
    invalidation.reverse(batch, admin, reason="fine", now=now)
    db.session.commit()
    second = signing.sign(
        petition, signing.SignatureData("B", "b@example.org", "GB"), now=now, ip=None, suspected="fast"
    )
    abuse.assign_suspected(now=now)
    db.session.commit()
    assert db.session.get(Signature, second.id).invalidation_id not in (batch.id, None)


def test_a_missing_or_forged_stamp_counts_as_too_fast(app, client, slug) -> None:
    sign_form(client, slug, email="a@example.org", started="")
    sign_form(client, slug, email="b@example.org", started="forged.stamp")
    with app.app_context():
        assert db.session.scalar(select(func.count()).where(Signature.invalidated_at.is_not(None))) == 2


def test_over_the_signing_rate_limit_answers_like_success_and_keeps_it_suspected(app, client, mailbox, slug) -> None:
    app.config["RATELIMIT_SIGN_PER_PETITION"] = "2 per minute"
    answers = {sign_form(client, slug, email=f"s{i}@example.org").headers["Location"] for i in range(4)}
    assert answers == {f"/petitions/{slug}/signed"}
    with app.app_context():
        held = db.session.scalars(select(Signature.email).where(Signature.invalidated_at.is_not(None))).all()
        assert sorted(held) == ["s2@example.org", "s3@example.org"]
    for i in range(4):
        confirm_from_email(app, client, mailbox, f"s{i}@example.org")
    assert count(client, slug) == 2


def test_throwaway_mailboxes_are_refused_with_a_message(app, client, slug) -> None:
    response = sign_form(client, slug, email="someone@mailinator.com")
    assert response.status_code == 422
    assert "permanent email address" in response.text
    assert rows(app) == 0


def test_blocked_domains_and_networks_are_kept_as_suspected(app, client, slug) -> None:
    with app.app_context():
        admin = User(name="A", email="admin@example.org", created_at=utcnow(), is_admin=True, password_hash="x")
        db.session.add(admin)
        db.session.flush()
        blocks.block_domain("spam-farm.net", admin, reason="bot farm", now=utcnow())
        blocks.block_network("198.51.100.0/24", admin, reason="bot farm", now=utcnow())
        db.session.commit()
    sign_form(client, slug, email="x@mail.spam-farm.net")
    page = client.get(f"/petitions/{slug}", environ_base={"REMOTE_ADDR": "198.51.100.77"})
    client.post(
        f"/petitions/{slug}/sign",
        environ_base={"REMOTE_ADDR": "198.51.100.77"},
        data={
            "csrf_token": csrf_from(page.text),
            "started": started_from(page.text),
            "name": "N",
            "email": "n@example.org",
            "country": "GB",
        },
    )
    sign_form(client, slug, email="fine@example.org")
    with app.app_context():
        abuse.assign_suspected(now=utcnow())  # what the worker and the admin's batch pages do
        db.session.commit()
        kinds = dict(
            db.session.execute(
                select(Signature.email, Invalidation.criteria).join(
                    Invalidation, Invalidation.id == Signature.invalidation_id
                )
            ).all()
        )
        assert {k: v["automatic"] for k, v in kinds.items()} == {
            "x@mail.spam-farm.net": "blocked-domain",
            "n@example.org": "blocked-network",
        }
        with pytest.raises(blocks.BlockError):
            blocks.block_domain("spam-farm.net", db.session.get(User, 1), reason="again", now=utcnow())


def test_blocks_match_every_spelling_of_a_domain(app, client) -> None:
    with app.app_context():
        slug = make_petition().slug
        admin = User(name="A", email="admin@example.org", created_at=utcnow(), is_admin=True, password_hash="x")
        db.session.add(admin)
        db.session.flush()
        blocks.block_domain("bücher.de", admin, reason="bots", now=utcnow())
        db.session.commit()
    assert sign_form(client, slug, email="x@BÜCHER.de").status_code == 303
    with app.app_context():
        assert db.session.scalar(select(Signature.invalidated_at)) is not None


def test_admins_edit_blocks_and_see_trending_sources(app, client, slug) -> None:
    from tests.helpers import make_user

    with app.app_context():
        make_user("admin@example.org", admin=True)
        petition = db.session.scalar(select(Petition))
        from petitions.signatures import signing

        for i in range(25):
            signing.sign(
                petition,
                signing.SignatureData("B", f"b{i}@botnet.example", "GB"),
                now=utcnow() - timedelta(minutes=5),
                ip=f"203.0.113.{i}",
            )
        db.session.commit()
    login(client, "admin@example.org")
    trending = client.get("/admin/trending")
    assert trending.status_code == 200
    assert "domain botnet.example" in trending.text and "network 203.0.113.0/24" in trending.text
    assert post_form(client, "/admin/blocks", {"value": "botnet.example", "reason": "trending bots"}).status_code == 303
    assert post_form(client, "/admin/blocks", {"value": "203.0.113.0/24", "reason": "trending bots"}).status_code == 303
    bad = post_form(client, "/admin/blocks", {"value": "not a thing!", "reason": "x"})
    assert bad.status_code == 422
    page = client.get("/admin/blocks")
    assert "botnet.example" in page.text and "203.0.113.0/24" in page.text
    assert "block.domain" in client.get("/admin/audit").text
    _ = abuse


# --- a signer's own data --------------------------------------------------------------------


def test_a_signer_sees_hides_and_deletes_their_data_by_email_link(app, client, mailbox, slug) -> None:
    sign_form(client, slug, email="Jo.Doe@gmail.com", show_name="y", name="Jo Doe")
    confirm_from_email(app, client, mailbox, "Jo.Doe@gmail.com")
    assert count(client, slug) == 1
    known = post_form(client, "/my-data", {"email": "jodoe+x@gmail.com"})
    unknown = post_form(client, "/my-data", {"email": "nobody@example.org"})
    assert (known.status_code, known.headers["Location"]) == (unknown.status_code, unknown.headers["Location"])
    deliver(app)
    assert mailbox.to("nobody@example.org") == []
    link = link_in(last_with_link(mailbox, "Jo.Doe@gmail.com", "/my-data/"), "/my-data/").removeprefix(
        "http://localhost"
    )
    page = client.get(link)
    assert page.status_code == 200 and "Jo Doe" in page.text and page.headers["Cache-Control"] == "no-store"
    client.post(link, data={"csrf_token": csrf_from(page.text), "action": "hide-names"})
    with app.app_context():
        assert db.session.scalar(select(Signature.show_name)) is False
    client.post(link, data={"csrf_token": csrf_from(client.get(link).text), "action": "delete"})
    assert rows(app) == 0 and count(client, slug) == 0
    app.config["MY_DATA_MAX_AGE"] = -1
    assert client.get(link).status_code == 410
