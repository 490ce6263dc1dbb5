"""Webhooks: registered on the pages, delivered by the worker to a real HTTP server, signed per the spec."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from flask import Flask
from sqlalchemy import func, select

from petitions import worker
from petitions.campaigns import lifecycle
from petitions.clock import utcnow
from petitions.extensions import db
from petitions.models import Petition, WebhookDelivery, WebhookEndpoint, WebhookEvent
from petitions.signatures import confirming, signing
from petitions.webhooks import delivery, endpoints, events
from tests.helpers import Mailbox, csrf_from, deliver, login, make_petition, make_user


@dataclass
class Receiver:
    """A local HTTP server that keeps what it is sent and answers `status`."""

    url: str
    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    status: int = 204


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    box = Receiver(f"http://127.0.0.1:{server.server_address[1]}/hooks?src=petitions")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's name)
            body = self.rfile.read(int(self.headers["Content-Length"]))
            box.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
            self.send_response(box.status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args) -> None:
            pass

    server.RequestHandlerClass = Handler
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield box
    server.shutdown()
    server.server_close()


def verify(secret: str, headers: dict[str, str], body: bytes) -> bool:
    """The receiver's check, written from the Standard Webhooks text with the hmac module alone."""
    key = base64.b64decode(secret[len("whsec_") :])
    signed = headers["webhook-id"].encode() + b"." + headers["webhook-timestamp"].encode() + b"." + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    given = [part.split(",", 1)[1] for part in headers["webhook-signature"].split(" ") if part.startswith("v1,")]
    return any(hmac.compare_digest(expected, g) for g in given)


def confirmed(petition: Petition, n: int) -> None:
    for i in range(n):
        s = signing.sign(petition, signing.SignatureData("Sam", f"s{i}@example.org", "GB"), now=utcnow(), ip=None)
        confirming.confirm(s, now=utcnow())
    db.session.commit()


def test_a_milestone_reaches_the_campaigners_endpoint_signed_once(app: Flask, client, receiver: Receiver) -> None:
    app.config["WEBHOOK_ALLOW_PRIVATE"] = True
    with app.app_context():
        petition = make_petition(make_user(), goal=2)
        slug, pid = petition.slug, petition.id
    login(client)
    page = client.get(f"/petitions/{slug}/webhooks")
    added = client.post(
        f"/petitions/{slug}/webhooks",
        data={"url": receiver.url, "events": ["milestone", "petition.closed"], "csrf_token": csrf_from(page.text)},
    )
    assert added.status_code == 303
    with app.app_context():
        [endpoint] = endpoints.of(pid)
        secret = endpoint.secret
        assert secret.startswith("whsec_") and len(base64.b64decode(secret[6:])) == 32
        confirmed(db.session.get_one(Petition, pid), 2)
        worker.record_milestones()
        worker.record_milestones()
        assert db.session.scalar(select(func.count()).select_from(WebhookDelivery)) == 1
        assert receiver.received == []  # nothing from the request or the recording: only the worker sends
    deliver(app)
    deliver(app)
    [(headers, body)] = receiver.received
    assert verify(secret, headers, body)
    assert not verify(secret, headers, body + b" ")
    assert headers["webhook-id"].startswith("msg_") and headers["content-type"] == "application/json"
    doc = json.loads(body)
    assert doc["type"] == "milestone"
    assert doc["data"]["threshold"] == 2 and doc["data"]["goal"] is True
    assert doc["data"]["petition"]["slug"] == slug and doc["data"]["petition"]["signature_count"] == 2
    assert secret in client.get(f"/petitions/{slug}/webhooks").text


def test_closing_is_an_event_for_site_wide_endpoints_and_each_event_is_sent_once(
    app: Flask, receiver: Receiver
) -> None:
    app.config["WEBHOOK_ALLOW_PRIVATE"] = True
    with app.app_context():
        admin = make_user("admin@example.org", admin=True)
        site = endpoints.register(
            receiver.url, ["petition.closed"], petition_id=None, owner_id=admin.id, now=utcnow(), allow_private=True
        )
        petition = make_petition(goal=1000)
        lifecycle.close_petition(petition, now=utcnow())
        db.session.commit()
        assert events.closed(petition, now=utcnow()) is False  # the same closing again: no new event
        db.session.commit()
        secret = site.secret
    deliver(app)
    [(headers, body)] = receiver.received
    assert verify(secret, headers, body) and json.loads(body)["type"] == "petition.closed"


def test_retries_back_off_and_a_failing_endpoint_is_disabled_with_a_notice(
    app: Flask, receiver: Receiver, mailbox: Mailbox
) -> None:
    app.config.update(WEBHOOK_ALLOW_PRIVATE=True, WEBHOOK_DISABLE_AFTER=3, WEBHOOK_RETRY_BASE_DELAY=0)
    receiver.status = 500
    with app.app_context():
        owner = make_user("owner@example.org")
        petition = make_petition(owner, goal=1)
        endpoint = endpoints.register(
            receiver.url, ["milestone"], petition_id=petition.id, owner_id=owner.id, now=utcnow(), allow_private=True
        )
        db.session.commit()
        confirmed(petition, 1)
        worker.record_milestones()
        delivery.drain()
        db.session.expire_all()
        endpoint = db.session.get_one(WebhookEndpoint, endpoint.id)
        assert not endpoint.enabled and endpoint.failures == 3
        [row] = db.session.scalars(select(WebhookDelivery))
        assert row.attempts == 3 and row.delivered_at is None and row.last_error == "HTTP 500"
        message_ids = {h["webhook-id"] for h, _ in receiver.received}
        assert len(receiver.received) == 3 and len(message_ids) == 1  # the same webhook-id on each retry
    deliver(app)
    [notice] = mailbox.to("owner@example.org")[-1:]
    assert "turned off" in notice["Subject"]
    receiver.status = 200
    with app.app_context():
        endpoints.enable(db.session.get_one(WebhookEndpoint, endpoint.id))
        db.session.commit()
        assert delivery.drain() == (1, 0)
        assert delivery.drain() == (0, 0)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/hook",
        "http://localhost/hook",
        "https://10.1.2.3/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/hook",
        "http://[::ffff:192.168.0.1]/hook",
        "ftp://example.org/hook",
        "http://user:pw@example.org/hook",
        "not a url",
    ],
)
def test_only_http_urls_to_public_addresses_are_taken(url: str) -> None:
    with pytest.raises(endpoints.BadEndpoint):
        endpoints.check_url(url, allow_private=False)


def test_a_delivery_to_a_private_address_is_refused_at_connection_time(app: Flask, receiver: Receiver) -> None:
    """A name that resolved to a public address when registered and a private one now is still refused."""
    with app.app_context():
        petition = make_petition(goal=1)
        endpoints.register(
            receiver.url, ["milestone"], petition_id=petition.id, owner_id=None, now=utcnow(), allow_private=True
        )
        db.session.commit()
        confirmed(petition, 1)
        worker.record_milestones()
        assert delivery.drain()[0] == 0
        [row] = db.session.scalars(select(WebhookDelivery))
        assert "RefusedAddress" in (row.last_error or "")
        assert db.session.scalar(select(func.count()).select_from(WebhookEvent)) == 1
    assert receiver.received == []


def test_the_pages_refuse_a_private_url_with_a_message_and_admins_register_site_wide(app: Flask, client) -> None:
    with app.app_context():
        make_user("admin@example.org", admin=True)
    login(client, "admin@example.org")
    page = client.get("/admin/webhooks")
    assert page.status_code == 200
    refused = client.post(
        "/admin/webhooks",
        data={"url": "http://127.0.0.1/x", "events": ["milestone"], "csrf_token": csrf_from(page.text)},
    )
    assert refused.status_code == 422 and "public address" in refused.text
    with app.app_context():
        assert endpoints.of(None) == []


def test_an_endpoint_without_events_is_refused_with_a_message(app: Flask, client) -> None:
    with app.app_context():
        slug = make_petition(make_user()).slug
    login(client)
    page = client.get(f"/petitions/{slug}/webhooks")
    assert 'type="checkbox" value="milestone"' in page.text and " required " not in page.text.split('id="events"')[1]
    refused = client.post(
        f"/petitions/{slug}/webhooks", data={"url": "https://example.org/hook", "csrf_token": csrf_from(page.text)}
    )
    assert refused.status_code == 422 and "Choose at least one event." in refused.text
