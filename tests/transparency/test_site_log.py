"""The site's own logs, end to end: signatures through the real pages, the worker's sequencing, then
the standalone verifier over HTTP against the live server, the receipts, and recount.

Everything a signer and an administrator can do to a count is done through the web routes
(sign, confirm, withdraw, invalidate, reverse, erase "my data"), and the log the site then
serves must replay to the site's own numbers: total, by country, by supporter group.
"""

from __future__ import annotations

import json
import re
from email.message import EmailMessage

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select, update

from petitions import verify
from petitions.campaigns import groups
from petitions.clock import utcnow
from petitions.counting import counts
from petitions.extensions import db
from petitions.infra.tlog import entries, merkle, note, tiles
from petitions.models import LogEntry, LogRemoval, OutboxMessage, Petition, Signature
from petitions.signatures import withdrawing
from petitions.transparency import keys, reading, removals, sequencer
from tests.helpers import (
    LiveServer,
    body_of,
    csrf_from,
    deliver,
    link_in,
    login,
    make_petition,
    make_user,
    post_form,
    sign_form,
)

# name, email, country, postcode, comment: every one of these must stay out of the log.
SIGNERS = [
    ("Ada Lovelace", "ada@acme.org", "GB", "SW1A 1AA", "Machines can count"),
    ("Bob Brown", "bob@example.org", "FR", "75001", "Count me in"),
    ("Cy Young", "cy@research.acme.org", "GB", None, None),
    ("Dee Dee", "dee@spam-farm.net", "DE", "10115", "bot text"),
    ("Eve Erased", "eve@example.com", "US", "90210", "delete me later"),
    ("Flo Pending", "flo@example.com", "ES", None, "never confirmed"),
]


def path_of(live: LiveServer, link: str) -> str:
    return link.removeprefix(live.url)


def confirm(live: LiveServer, client: FlaskClient, mailbox, address: str) -> None:
    (message,) = [m for m in mailbox.to(address) if "/verify/" in body_of(m)]
    path = path_of(live, link_in(message, "/verify/"))
    page = client.get(path)
    assert client.post(path, data={"csrf_token": csrf_from(page.text)}).status_code in (200, 303)


def sequence(app) -> list[sequencer.Sequenced]:
    with app.app_context():
        return sequencer.sequence_all()


def site_numbers(app, slug: str) -> tuple[int, dict[str, int], dict[str, int]]:
    """The site's count, by country, and by supporter group (by each group's first domain), read from the rows."""
    with app.app_context():
        petition = db.session.scalar(select(Petition).where(Petition.slug == slug))
        by_group = {g.domains[0].domain: counts.group_actual(g) for g in petition.groups}
        result = petition.signature_count, counts.by_country(petition.id), by_group
        db.session.rollback()
        return result


def log_by_group(tally: entries.Tally, domains: list[str]) -> dict[str, int]:
    """A group's count from the log: live adds whose domain is the group's domain or under it (rules.in_group)."""
    return {d: sum(n for g, n in tally.live_by_group().items() if g == d or g.endswith("." + d)) for d in domains}


def receipt_of(mailbox, address: str) -> EmailMessage:
    (message,) = [m for m in mailbox.to(address) if "public log" in m["Subject"]]
    return message


@pytest.fixture
def scene(live: LiveServer, mailbox):
    """A petition with a supporter group, five confirmed signatures and one pending, all through the pages."""
    app = live.app
    app.config["RATELIMIT_SIGN_PER_PETITION"] = "100 per minute"  # every signer here comes from 127.0.0.1
    # Acme's two signers are shown as a group (and so enter the log with their domain) from two;
    # tests/transparency/test_groups.py covers a group below the threshold.
    app.config["GROUP_MIN_COUNT"] = 2
    with app.app_context():
        petition = make_petition(title="Count us fairly")
        groups.save_group(petition, name="Acme staff", domains=["acme.org"], now=utcnow())
        make_user("admin@example.org", admin=True)
        db.session.commit()
        slug = petition.slug
    client = app.test_client()
    for name, email, country, postcode, comment in SIGNERS:
        response = sign_form(client, slug, name=name, email=email, country=country, postcode=postcode, comment=comment)
        assert response.status_code == 303
    assert sequence(app) == []  # nothing counts yet: nothing to log
    deliver(app)
    for _, email, *_ in SIGNERS[:-1]:
        confirm(live, client, mailbox, email)
    return app, client, slug


def test_every_change_through_the_pages_is_logged_and_the_standalone_verifier_replays_the_sites_numbers(
    live, mailbox, scene, capsys
) -> None:
    app, client, slug = scene
    (first,) = sequence(app)
    assert (first.appended, first.size, first.count) == (5, 5, 5)
    assert sequence(app) == []  # in step: a second run appends nothing

    # The receipts: one per add, with the entry and the nonce, whose commitment is that entry's.
    deliver(app)
    with app.app_context():
        logged = dict(db.session.execute(select(Signature.email, Signature.log_entry)).all())
        stored = {i: bytes(d) for i, d in db.session.execute(select(LogEntry.idx, LogEntry.data)).all()}
    receipts = {}
    for _, email, *_ in SIGNERS[:-1]:
        text = body_of(receipt_of(mailbox, email))
        index = int(re.search(r"entry: (\d+)", text).group(1))
        nonce = re.search(r"nonce: ([0-9a-f]{32})", text).group(1)
        receipts[email] = f"{index}:{nonce}:{email}"
        assert index == logged[email]
        assert f"{live.url}/petitions/{slug}/verify#entry={index}&nonce={nonce}" in text
        assert entries.parse_entry(stored[index]).commitment == entries.commitment(slug, email, nonce)
    assert [m for m in mailbox.to("flo@example.com") if "public log" in m["Subject"]] == []  # pending: no receipt

    # Bob withdraws with the link in his confirmation email.
    (confirmation,) = [m for m in mailbox.to("bob@example.org") if "/withdraw/" in body_of(m)]
    withdraw_path = path_of(live, link_in(confirmation, "/withdraw/"))
    page = client.get(withdraw_path)
    assert client.post(withdraw_path, data={"csrf_token": csrf_from(page.text)}).status_code == 200

    # An administrator invalidates the spam farm (Dee), then reverses it; in between, the worker runs.
    admin = app.test_client()
    assert login(admin, "admin@example.org").status_code == 303
    form = {"petition": slug, "domain": "spam-farm.net", "expected": "1", "reason": "bots"}
    invalidated = post_form(admin, "/admin/signatures", form)
    assert invalidated.status_code == 303
    batch_url = invalidated.headers["Location"]
    second = sequence(app)
    assert [(s.appended, s.count) for s in second] == [(2, 3)]  # Bob's withdrawal, Dee's invalidation
    reason = {"reason": "real people", "csrf_token": csrf_from(admin.get(batch_url).text)}
    assert admin.post(f"{batch_url}/reverse", data=reason).status_code == 303

    # Eve erases her data from the link the my-data page emails her.
    assert post_form(client, "/my-data", {"email": "eve@example.com"}).status_code == 303
    deliver(app)
    (data_mail,) = [m for m in mailbox.to("eve@example.com") if "/my-data/" in body_of(m)]
    link = path_of(live, link_in(data_mail, "/my-data/"))
    client.post(link, data={"csrf_token": csrf_from(client.get(link).text), "action": "delete"})
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(LogRemoval)) == 1
        assert db.session.scalar(select(Signature).where(Signature.email == "eve@example.com")) is None
        db.session.rollback()

    third = sequence(app)
    assert [(s.appended, s.count) for s in third] == [(1, 3)]  # Eve erased (Dee's restore went with the mail run)
    with app.app_context():
        ops = [entries.parse_entry(d) for d in reading.all_entries(db.session.scalar(select(Petition.id)))]
        db.session.rollback()
    # A run's removes and restores come after its adds, in the order of the entries they name.
    assert sorted((e.op, e.reason) for e in ops[5:7]) == [("remove", "invalidated"), ("remove", "withdrawn")]
    assert ops[5].target < ops[6].target
    assert [(e.op, e.reason) for e in ops[7:]] == [("restore", ""), ("remove", "erased")]

    # The standalone verifier, over HTTP, pinned to the key the site signs with.
    total, by_country, by_group = site_numbers(app, slug)
    assert total == 3
    with app.app_context():
        key = str(keys.verifier())
    code = verify.main([f"{live.url}/petitions/{slug}", "--key", key, "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    result = json.loads(out)
    assert result["count"] == total and result["size"] == 9
    assert result["by_country"] == dict(sorted(by_country.items()))
    # Each signer's receipt checks out with the standalone verifier: Ada counts, Bob withdrew.
    receipt_args = ["--receipt", receipts["ada@acme.org"], "--receipt", receipts["bob@example.org"]]
    code = verify.main([f"{live.url}/petitions/{slug}", "--key", key, *receipt_args])
    out, err = capsys.readouterr()
    assert code == 0, err
    ada, bob = [line for line in out.splitlines() if line.startswith("receipt:")]
    assert ada.endswith("it counts.") and "was removed by entry" in bob
    site = verify.Site.from_url(f"{live.url}/petitions/{slug}")
    log = verify.verify_log(site, note.parse_verifier_key(key))
    assert log.tally.count == total
    assert log_by_group(log.tally, list(by_group)) == by_group == {"acme.org": 2}

    # No name, address, IP address, postcode or comment in any entry.
    with app.app_context():
        stored_entries = [bytes(d) for d in db.session.scalars(select(LogEntry.data))]
    for data in stored_entries:
        assert set(json.loads(data)) <= {"op", "commitment", "country", "domain", "entry", "reason"}
    # Outside the commitments' hex digits, where a short name could turn up by chance.
    raw = re.sub(rb'"commitment":"[0-9a-f]{64}"', b"", b"".join(stored_entries))
    for name, email, _, postcode, comment in SIGNERS:
        for secret in (name, email, email.partition("@")[0], postcode, comment, "127.0.0.1"):
            if secret:
                assert secret.encode() not in raw, secret

    # The API's JSON has the log as of the latest checkpoint, and recount finds log and rows agreeing.
    doc = client.get(f"/api/v1/petitions/{slug}").json
    assert doc["log"] == {"size": 9, "count": 3, "checkpoint_url": f"{live.url}/petitions/{slug}/log/checkpoint"}
    result = app.test_cli_runner().invoke(args=["recount", slug])
    assert result.exit_code == 0, result.output
    assert "Public logs: 0 do not match their rows." in result.output


def test_recount_reports_a_tampered_log_and_tolerates_changes_not_yet_appended(live, mailbox, scene) -> None:
    app, client, slug = scene
    sequence(app)
    runner = app.test_cli_runner()
    # A confirmation the worker has not appended yet is not a difference.
    sign_form(client, slug, name="Gus", email="gus@example.org", country="IT")
    deliver(app)
    confirm(live, client, mailbox, "gus@example.org")
    result = runner.invoke(args=["recount", slug])
    assert result.exit_code == 0, result.output
    assert "1 change(s) not appended yet" in result.output

    with app.app_context():
        pid = db.session.scalar(select(Petition.id))
        # The operator drops two signatures from the log: one add becomes a remove of another add.
        db.session.execute(
            update(LogEntry)
            .where(LogEntry.petition_id == pid, LogEntry.idx == 4)
            .values(data=entries.remove_entry(0, "withdrawn"))
        )
        db.session.commit()
    result = runner.invoke(args=["recount", slug])
    assert result.exit_code == 1
    assert f"{slug}: public log counts 3, rows say 5" in result.output
    assert "do not hash to the head's root" in result.output


def test_the_log_routes_serve_tiles_bundles_checkpoint_and_key_for_public_petitions_only(live, scene) -> None:
    app, client, slug = scene
    base = f"/petitions/{slug}/log"
    before = client.get(f"{base}/checkpoint")
    assert before.status_code == 404 and "set-cookie" not in before.headers
    assert client.get(f"/api/v1/petitions/{slug}").json["log"] == {"size": 0, "count": 0, "checkpoint_url": None}
    sequence(app)

    key = client.get("/log/key")
    assert key.status_code == 200 and key.mimetype == "text/plain"
    verifier = note.parse_verifier_key(key.text)
    assert verifier.name == live.url.removeprefix("http://")

    checkpoint = client.get(f"{base}/checkpoint")
    assert checkpoint.status_code == 200 and checkpoint.mimetype == "text/plain"
    assert checkpoint.headers["Access-Control-Allow-Origin"] == "*"
    assert re.fullmatch(r"public, max-age=[1-5]", checkpoint.headers["Cache-Control"])
    signed = note.open_checkpoint(checkpoint.text, verifier, note.log_origin(live.url, slug))
    assert signed.size == 5

    bundle = client.get(f"{base}/tile/entries/000.p/5")
    hashes = client.get(f"{base}/tile/0/000.p/5")
    for response in (bundle, hashes):
        assert response.status_code == 200
        assert response.headers["Cache-Control"] == "public, max-age=31536000, immutable"
        assert response.headers["Access-Control-Allow-Origin"] == "*"
        assert "set-cookie" not in response.headers
    items = tiles.decode_bundle(bundle.data)
    assert len(items) == 5 and hashes.data == b"".join(merkle.leaf_hash(e) for e in items)
    assert merkle.root_of(tiles.tile_hashes(hashes.data)) == signed.root
    # A prefix of the tile (what an older checkpoint's tree had) is served; beyond the tree is 404.
    assert client.get(f"{base}/tile/0/000.p/2").data == hashes.data[:64]
    for beyond in ("tile/0/000.p/6", "tile/0/000", "tile/entries/000", "tile/0/001.p/1", "tile/1/000.p/1", "tile/0/x"):
        missing = client.get(f"{base}/{beyond}")
        assert missing.status_code == 404, beyond
        assert "set-cookie" not in missing.headers and "immutable" not in missing.headers["Cache-Control"]

    with app.app_context():
        db.session.execute(update(Petition).values(status="hidden"))
        db.session.commit()
    for path in ("checkpoint", "tile/0/000.p/5", "tile/entries/000.p/5"):
        assert client.get(f"{base}/{path}").status_code == 404


def test_the_log_key_is_made_once_in_development_and_kept_private(app, tmp_path) -> None:
    with app.app_context():
        first = keys.signer()
    path = tmp_path / "instance" / keys.KEY_FILE
    assert path.stat().st_mode & 0o777 == 0o600
    app.extensions.pop("log_signer")
    with app.app_context():
        assert keys.signer() == first
        assert first.name == "localhost"
    assert note.parse_signer_key(path.read_text()) == first


def test_a_signer_erased_before_their_receipt_was_sent_gets_none(live, mailbox, scene) -> None:
    app, client, slug = scene
    sequence(app)
    with app.app_context():
        ada = db.session.scalar(select(Signature).where(Signature.email == "ada@acme.org"))
        ada_id = ada.id
        withdrawing.withdraw(ada, now=utcnow(), reason=removals.ERASED)
        db.session.commit()
    mailbox.clear()
    deliver(app)
    assert mailbox.to("ada@acme.org") == []
    assert len([m for m in mailbox.messages if "public log" in m["Subject"]]) == 4
    with app.app_context():
        (kept,) = db.session.scalars(
            select(OutboxMessage).where(OutboxMessage.signature_id == ada_id, OutboxMessage.template == "log_receipt")
        ).all()
        assert (kept.sent_at, kept.failed_at is not None) == (None, True)
        assert kept.last_error == "not sent: the signature was withdrawn or erased before its receipt was sent"
