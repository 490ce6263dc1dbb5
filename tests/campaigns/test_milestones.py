"""Milestones: recorded once each, exactly, with one email, even with confirmations and workers racing."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest
from flask import Flask
from sqlalchemy import select

from petitions import worker
from petitions.campaigns import milestones
from petitions.clock import utcnow
from petitions.extensions import db
from petitions.models import Milestone, Petition
from petitions.signatures import confirming, links, signing
from petitions.signatures.signing import SignatureData
from tests.helpers import Mailbox, body_of, deliver, login, make_petition, make_user, post_form

CONFIRMATIONS = 200
THREADS = 12


def confirmed(petition: Petition, n: int, start: int = 0) -> None:
    for i in range(start, start + n):
        s = signing.sign(petition, SignatureData("Sam", f"s{i}@example.org", "GB"), now=utcnow(), ip=None)
        confirming.confirm(s, now=utcnow())
    db.session.commit()


def recorded(petition_id: int) -> list[tuple[int, bool]]:
    db.session.expire_all()
    return [
        (m.threshold, m.is_goal)
        for m in db.session.scalars(
            select(Milestone).where(Milestone.petition_id == petition_id).order_by(Milestone.threshold)
        )
    ]


@pytest.mark.parametrize(
    ("goal", "count", "expected"),
    [(100, 0, 200), (100, 100, 200), (1000, 1000, 2000), (2000, 2500, 5000), (5000, 5000, 10000), (7, 7, 10)],
)
def test_the_next_goal_is_the_next_round_number(goal: int, count: int, expected: int) -> None:
    assert milestones.next_goal(goal, count) == expected


def test_the_goal_is_recorded_once_and_the_campaigner_is_emailed(app: Flask, mailbox: Mailbox) -> None:
    with app.app_context():
        owner = make_user("owner@example.org")
        petition = make_petition(owner, goal=3)
        confirmed(petition, 2)
        assert worker.record_milestones() == 0
        confirmed(petition, 2, start=2)
        assert worker.record_milestones() == 1
        assert worker.record_milestones() == 0
        assert recorded(petition.id) == [(3, True)]
        assert db.session.get_one(Petition, petition.id).goal == 3  # not raised: not asked for
    deliver(app)
    [message] = mailbox.to("owner@example.org")
    assert message["Subject"] == "Your petition reached its goal of 3 signatures"
    assert "Stop selling Rekognition" in body_of(message)


def test_a_goal_raised_on_request_becomes_the_next_milestone(app: Flask, mailbox: Mailbox) -> None:
    with app.app_context():
        owner = make_user("owner@example.org")
        petition = make_petition(owner, goal=2)
        petition.auto_raise_goal = True
        db.session.commit()
        confirmed(petition, 2)
        worker.record_milestones()
        assert db.session.get_one(Petition, petition.id).goal == 5
        confirmed(petition, 3, start=2)
        worker.record_milestones()
        assert recorded(petition.id) == [(2, True), (5, True)]
        assert db.session.get_one(Petition, petition.id).goal == 10
    deliver(app)
    bodies = [body_of(m) for m in mailbox.to("owner@example.org")]
    assert len(bodies) == 2
    assert "its goal is now 5 signatures" in bodies[0] and "its goal is now 10 signatures" in bodies[1]


def test_a_deleted_campaigners_petition_records_milestones_without_email(app: Flask, mailbox: Mailbox) -> None:
    with app.app_context():
        petition = make_petition(make_user("gone@example.org"), goal=1)
        petition.owner_id = None
        db.session.commit()
        confirmed(petition, 1)
        assert worker.record_milestones() == 1
    deliver(app)
    assert mailbox.to("gone@example.org") == []
    assert not [m for m in mailbox.messages if "reached" in m["Subject"]]


def test_two_hundred_concurrent_confirmations_crossing_100_record_it_once_with_one_email(
    app: Flask, mailbox: Mailbox
) -> None:
    """Confirmations and four workers race; the 100 milestone is written once and mailed once."""
    with app.app_context():
        owner = make_user("owner@example.org")
        petition = make_petition(owner, goal=100_000)
        pid, slug = petition.id, petition.slug
        pending = [
            signing.sign(petition, SignatureData("Sam", f"c{i}@example.org", "GB"), now=utcnow(), ip=None)
            for i in range(CONFIRMATIONS)
        ]
        tokens = [links.confirmation_token(s) for s in pending]
        db.session.commit()

    done = threading.Event()
    start = threading.Barrier(THREADS + 4)

    def confirm(chunk: list[str]) -> None:
        with app.app_context():
            start.wait()
            for token in chunk:
                confirming.confirm_link(token, now=utcnow())
                db.session.commit()
            db.session.remove()

    def watch() -> int:
        found = 0
        with app.app_context():
            start.wait()
            while not done.is_set():
                found += worker.record_milestones()
            found += worker.record_milestones()
            db.session.remove()
        return found

    with ThreadPoolExecutor(THREADS + 4) as pool:
        watchers = [pool.submit(watch) for _ in range(4)]
        confirmers = [pool.submit(confirm, tokens[i::THREADS]) for i in range(THREADS)]
        for job in confirmers:
            job.result()
        done.set()
        assert sum(job.result() for job in watchers) == 1

    with app.app_context():
        assert db.session.get_one(Petition, pid).signature_count == CONFIRMATIONS
        assert recorded(pid) == [(100, False)]
    deliver(app)
    mails = mailbox.to("owner@example.org")
    assert [m["Subject"] for m in mails] == ["Your petition reached 100 signatures"]

    history = app.test_client().get(f"/api/v1/petitions/{slug}/history").json
    [mark] = history["milestones"]
    assert mark["threshold"] == 100 and mark["goal"] is False
    assert datetime.fromisoformat(mark["reached_at"]).tzinfo == UTC


def test_the_campaigner_chooses_auto_raise_on_the_edit_form_and_the_dashboard_marks_milestones(
    app: Flask, client
) -> None:
    with app.app_context():
        petition = make_petition(make_user(), goal=2)
        slug, pid = petition.slug, petition.id
    login(client)
    form = {
        "title": "Stop selling Rekognition to governments",
        "target": "Amazon's board of directors",
        "summary": "Face recognition in the hands of governments threatens civil liberties.",
        "body": "We ask Amazon to stop.",
        "goal": "2",
        "auto_raise_goal": "y",
    }
    assert post_form(client, f"/petitions/{slug}/edit", form).status_code == 303
    assert 'name="auto_raise_goal"' in client.get(f"/petitions/{slug}/edit").text
    with app.app_context():
        confirmed(db.session.get_one(Petition, pid), 2)
        worker.record_milestones()
    page = client.get(f"/account/petitions/{slug}").text
    assert 'data-threshold="2"' in page and "2 signatures (the goal): reached" in page
    assert '<dd id="goal">5</dd>' in page
