"""/metrics: what Prometheus reads, behind its bearer token; the numbers follow what the site does."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient
from prometheus_client.parser import text_string_to_metric_families

from petitions.transparency import sequencer
from tests.helpers import Mailbox, csrf_from, deliver, link_in, make_petition, sign_form

TOKEN = "scraper-token-for-tests"  # noqa: S105


def scrape(client: FlaskClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of /metrics, by name and labels."""
    answer = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert answer.status_code == 200, answer.text
    assert answer.headers["Content-Type"].startswith("text/plain; version=")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(answer.text)
        for sample in family.samples
    }


def value(samples: dict, name: str, **labels: str) -> float:
    """One sample's value; 0 for a labelled counter not yet seen."""
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_metrics_are_not_served_without_a_token_setting(app: Flask, client: FlaskClient) -> None:
    app.config["METRICS_TOKEN"] = None
    assert client.get("/metrics").status_code == 404
    assert client.get("/metrics", headers={"Authorization": "Bearer anything"}).status_code == 404


def test_metrics_need_the_token(app: Flask, client: FlaskClient) -> None:
    app.config["METRICS_TOKEN"] = TOKEN
    bare = client.get("/metrics")
    assert bare.status_code == 401 and bare.headers["WWW-Authenticate"].startswith("Bearer")
    assert "petitions_" not in bare.text
    for wrong in (f"Bearer {TOKEN[:-1]}", f"Bearer {TOKEN}x", f"Basic {TOKEN}", TOKEN, "Bearer "):
        answer = client.get("/metrics", headers={"Authorization": wrong})
        assert answer.status_code in (401, 403), wrong
        assert "petitions_" not in answer.text
    assert client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
    assert client.get("/metrics", headers={"Authorization": f"bearer {TOKEN}"}).status_code == 200


def test_signing_and_confirming_move_the_numbers(app: Flask, client: FlaskClient, mailbox: Mailbox) -> None:
    app.config["METRICS_TOKEN"] = TOKEN
    with app.app_context():
        slug = make_petition().slug
    before = scrape(client)
    assert value(before, "petitions_database_up") == 1
    assert value(before, "petitions_outbox_depth") == 0

    assert sign_form(client, slug, email="metrics@example.org").status_code == 303
    signed = scrape(client)
    assert (
        value(signed, "petitions_signings_total", result="stored")
        == value(before, "petitions_signings_total", result="stored") + 1
    )
    assert (
        value(signed, "petitions_http_requests_total", endpoint="public.sign", status="303")
        == value(before, "petitions_http_requests_total", endpoint="public.sign", status="303") + 1
    )
    assert value(signed, "petitions_outbox_depth") == 1  # the confirmation email, queued with the signature
    assert value(signed, "petitions_outbox_oldest_age_seconds") >= 0

    deliver(app)
    delivered = scrape(client)
    assert value(delivered, "petitions_outbox_depth") == 0
    assert value(delivered, "petitions_outbox_oldest_age_seconds") == 0
    (sent,) = mailbox.to("metrics@example.org")
    confirm = link_in(sent, "/verify/").removeprefix("http://localhost")

    csrf = csrf_from(client.get(confirm).text)
    assert client.post(confirm, data={"csrf_token": csrf}).status_code == 303
    confirmed = scrape(client)
    assert value(confirmed, "petitions_confirmations_total") == value(delivered, "petitions_confirmations_total") + 1
    assert value(confirmed, "petitions_log_sequencing_lag") == 1  # counted, not yet in the public log
    with app.app_context():
        sequencer.sequence_all()
    assert value(scrape(client), "petitions_log_sequencing_lag") == 0

    # Pressing the link again confirms nothing more.
    assert client.post(confirm, data={"csrf_token": csrf}).status_code == 303
    assert value(scrape(client), "petitions_confirmations_total") == value(confirmed, "petitions_confirmations_total")


def test_mail_refused_for_good_is_counted_as_failed(app: Flask, client: FlaskClient, mailbox: Mailbox) -> None:
    app.config["METRICS_TOKEN"] = TOKEN
    with app.app_context():
        slug = make_petition().slug
    mailbox.refuse.add("nobody@example.org")
    assert sign_form(client, slug, email="nobody@example.org").status_code == 303
    assert value(scrape(client), "petitions_mail_failed") == 0
    deliver(app)
    after = scrape(client)
    assert value(after, "petitions_mail_failed") == 1
    assert value(after, "petitions_outbox_depth") == 0
