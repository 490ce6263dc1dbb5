"""Paper signatures: batches beside the online count, never in it; scans checked by their content;
only the campaigner and administrators; a rejected batch stops counting, in the audit log."""

from __future__ import annotations

import csv
import io
import re
from datetime import date, timedelta
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from werkzeug.datastructures import FileStorage, MultiDict
from werkzeug.test import encode_multipart

from petitions.campaigns import paper
from petitions.clock import utcnow
from petitions.config import upload_dir
from petitions.counting import counts
from petitions.extensions import db
from petitions.models import AuditEntry, PaperBatch, Petition
from petitions.signatures import confirming, signing
from tests.helpers import csrf_from, login, make_petition, make_user

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 64


@pytest.fixture
def campaign(app: Flask) -> tuple[str, int]:
    """A public petition of campaigner@example.org with 3 confirmed online signatures: (slug, id)."""
    with app.app_context():
        petition = make_petition(make_user())
        for i in range(3):
            data = signing.SignatureData("Sam", f"s{i}@example.org", "GB")
            confirming.confirm(signing.sign(petition, data, now=utcnow(), ip=None), now=utcnow())
        db.session.commit()
        return petition.slug, petition.id


def add_batch(client: FlaskClient, slug: str, *, scan: tuple[bytes, str] | None = None, **fields: object):
    page = client.get(f"/account/petitions/{slug}/paper")
    data: dict[str, object] = {
        "count": "1147",
        "location": "Town hall meeting, Leeds",
        "collected_on": "2026-11-30",
        "csrf_token": csrf_from(page.text),
        **fields,
    }
    if scan is not None:
        data["scan"] = FileStorage(io.BytesIO(scan[0]), scan[1], content_type="application/octet-stream")
    # Encoded in memory: the test client would spool a large body to a temporary file it never closes.
    boundary, body = encode_multipart(MultiDict(data))
    return client.post(
        f"/account/petitions/{slug}/paper", data=body, content_type=f"multipart/form-data; boundary={boundary}"
    )


def stored(app: Flask) -> tuple[int, int, list[Path]]:
    """(batches, the paper count of every petition, files under UPLOAD_DIR)."""
    with app.app_context():
        batches = db.session.scalar(select(func.count()).select_from(PaperBatch))
        total = db.session.scalar(select(func.sum(Petition.paper_signature_count)))
        folder = upload_dir(app)
    files = [p for p in folder.rglob("*") if p.is_file()] if folder.exists() else []
    return batches, total, files


def test_a_batch_with_a_scan_shows_beside_the_online_count_never_in_it(app, client, campaign) -> None:
    slug, petition_id = campaign
    login(client)
    response = add_batch(client, slug, scan=(PDF, "sheets.txt"))  # the name says nothing; the content does
    assert response.status_code == 303
    page = client.get(f"/petitions/{slug}").text
    assert "3 verified online + 1,147 on paper" in page
    assert "has not verified them" in page
    with app.app_context():
        petition = db.session.get_one(Petition, petition_id)
        assert (petition.signature_count, petition.paper_signature_count) == (3, 1147)
        batch = db.session.scalar(select(PaperBatch))
        assert (batch.count, batch.location, batch.collected_on) == (
            1147,
            "Town hall meeting, Leeds",
            date(2026, 11, 30),
        )
        assert batch.scan_type == "application/pdf" and batch.scan_file.endswith(".pdf")
        assert "sheets" not in batch.scan_file
        # recount knows nothing of paper: the online counters stay as the rows say
        assert counts.recount(petition, now=utcnow()) == []

    count = client.get(f"/api/v1/petitions/{slug}/count").get_json()
    assert (count["signature_count"], count["paper_signature_count"]) == (3, 1147)
    doc = client.get(f"/api/v1/petitions/{slug}").get_json()
    assert (doc["signature_count"], doc["paper_signature_count"]) == (3, 1147)
    assert client.get("/api/v1/petitions?status=all").get_json()["petitions"][0]["paper_signature_count"] == 1147
    assert "1,147 on paper" in client.get(f"/embed/{slug}").text

    dashboard = client.get(f"/account/petitions/{slug}").text
    assert re.search(r'id="paper-count" data-count="1147">1,147<', dashboard)
    delivery = client.get(f"/petitions/{slug}/delivery").text
    assert re.search(r'id="delivery-paper-count">1,147<', delivery)
    assert "In all: 3 verified online + 1,147 on paper" in delivery

    rows = list(csv.reader(io.StringIO(client.get(f"/petitions/{slug}/paper.csv").text)))
    assert rows[0] == ["count", "location", "collected_on", "recorded_at", "status", "rejection_reason"]
    assert rows[1][:3] == ["1147", "Town hall meeting, Leeds", "2026-11-30"] and rows[1][4] == "counted"
    # the signatures CSV stays one row per verified online signer
    assert len(list(csv.reader(io.StringIO(client.get(f"/petitions/{slug}/signatures.csv").text)))) == 1 + 3

    # the scan: to the campaigner, as a download, never cached
    with app.app_context():
        batch_id = db.session.scalar(select(PaperBatch.id))
    scan = client.get(f"/account/petitions/{slug}/paper/{batch_id}/scan")
    assert scan.status_code == 200 and scan.data == PDF
    assert scan.mimetype == "application/pdf"
    assert scan.headers["Content-Disposition"].startswith("attachment")
    assert "no-store" in scan.headers["Cache-Control"]
    scan.close()


@pytest.mark.parametrize(
    ("fields", "scan", "message"),
    [
        ({"count": "-5"}, None, "between 1 and 100,000"),
        ({"count": "0"}, None, "between 1 and 100,000"),
        ({"count": "100001"}, None, "between 1 and 100,000"),
        ({"count": "99999999999999999999999"}, None, "between 1 and 100,000"),
        ({"count": "many"}, None, "between 1 and 100,000"),
        ({"count": ""}, None, "Please give the number of signatures."),
        ({"location": ""}, None, "where the signatures were collected"),
        ({"collected_on": (utcnow().date() + timedelta(days=2)).isoformat()}, None, "cannot be in the future"),
        ({}, (b"<svg onload=alert(1)>", "scan.png"), "must be a PDF, JPEG or PNG"),
        ({}, (b"MZ\x90\x00 an executable", "scan.pdf"), "must be a PDF, JPEG or PNG"),
    ],
)
def test_bad_input_gets_a_clear_error_and_nothing_is_stored(app, client, campaign, fields, scan, message) -> None:
    slug, _ = campaign
    login(client)
    response = add_batch(client, slug, scan=scan, **fields)
    assert response.status_code == 422
    assert message in response.text
    assert stored(app) == (0, 0, [])


def test_a_scan_over_the_limit_is_refused_and_nothing_is_stored(app, client, campaign) -> None:
    slug, _ = campaign
    app.config["PAPER_SCAN_MAX_BYTES"] = 2 * 1024 * 1024
    login(client)
    # Over the scan's limit but within what the request may carry: the form says so.
    response = add_batch(client, slug, scan=(PNG + b"\x00" * (2 * 1024 * 1024), "big.png"))
    assert response.status_code == 422
    assert "The scan is larger than 2 MB. Nothing was saved." in response.text
    assert stored(app) == (0, 0, [])
    # Far over it (20 MB): refused before the body is read, naming the scan's limit.
    response = add_batch(client, slug, scan=(PNG + b"\x00" * (20 * 1024 * 1024), "huge.png"))
    assert response.status_code == 413
    assert "at most 2 MB), so nothing was saved" in response.text
    assert stored(app) == (0, 0, [])


def test_another_campaigner_and_anonymous_visitors_are_kept_out(app, client, campaign) -> None:
    slug, _ = campaign
    login(client)
    assert add_batch(client, slug, scan=(JPEG, "a.jpg")).status_code == 303
    with app.app_context():
        batch_id = db.session.scalar(select(PaperBatch.id))
        make_user("other@example.org")
    urls = [
        f"/account/petitions/{slug}/paper",
        f"/account/petitions/{slug}/paper/{batch_id}/scan",
        f"/petitions/{slug}/paper.csv",
    ]
    anonymous = app.test_client()
    for url in urls:
        response = anonymous.get(url)
        assert response.status_code in (302, 303) and "/login" in response.headers["Location"], url
    other = app.test_client()
    login(other, "other@example.org")
    for url in urls:
        assert other.get(url).status_code == 403, url
    page = other.get("/account")  # for a CSRF token of this session
    posted = other.post(
        f"/account/petitions/{slug}/paper",
        data={"count": "5", "location": "x", "collected_on": "2026-11-30", "csrf_token": csrf_from(page.text)},
    )
    assert posted.status_code == 403
    # and a campaigner cannot reject: that is an administrator's
    rejected = client.post(
        f"/admin/petitions/{slug}/paper/{batch_id}/reject",
        data={"reason": "no", "csrf_token": csrf_from(client.get("/account").text)},
    )
    assert rejected.status_code == 403
    assert stored(app)[:2] == (1, 1147)


def test_an_admin_rejects_a_batch_with_a_reason_it_stops_counting_and_is_audited(app, client, campaign) -> None:
    slug, petition_id = campaign
    login(client)
    assert add_batch(client, slug, scan=(PNG, "a.png")).status_code == 303
    assert add_batch(client, slug, count="20").status_code == 303
    with app.app_context():
        make_user("admin@example.org", admin=True)
        first = db.session.scalar(select(PaperBatch.id).where(PaperBatch.count == 1147))
    admin = app.test_client()
    login(admin, "admin@example.org")
    page = admin.get(f"/account/petitions/{slug}/paper")  # an admin may see and manage it too
    assert page.status_code == 200 and "Reject this batch" in page.text
    image = admin.get(f"/account/petitions/{slug}/paper/{first}/scan")
    assert image.status_code == 200 and image.mimetype == "image/png" and image.data == PNG
    image.close()
    no_reason = admin.post(
        f"/admin/petitions/{slug}/paper/{first}/reject", data={"reason": "", "csrf_token": csrf_from(page.text)}
    )
    assert no_reason.status_code == 303
    assert "Please give a reason." in admin.get(no_reason.headers["Location"]).text
    done = admin.post(
        f"/admin/petitions/{slug}/paper/{first}/reject",
        data={"reason": "The scan shows 114 names, not 1,147.", "csrf_token": csrf_from(page.text)},
    )
    assert done.status_code == 303
    with app.app_context():
        assert db.session.get_one(Petition, petition_id).paper_signature_count == 20
        entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "paper_batch.reject"))
        assert (entry.actor_email, entry.target_id, entry.reason) == (
            "admin@example.org",
            first,
            "The scan shows 114 names, not 1,147.",
        )
        assert entry.details["count"] == 1147
    assert "3 verified online + 20 on paper" in client.get(f"/petitions/{slug}").text
    assert client.get(f"/api/v1/petitions/{slug}/count").get_json()["paper_signature_count"] == 20
    assert "The scan shows 114 names" in client.get(f"/account/petitions/{slug}/paper").text
    # twice is refused, and counts nothing twice
    again = admin.post(
        f"/admin/petitions/{slug}/paper/{first}/reject", data={"reason": "again", "csrf_token": csrf_from(page.text)}
    )
    assert "rejected already" in admin.get(again.headers["Location"]).text
    with app.app_context():
        assert db.session.get_one(Petition, petition_id).paper_signature_count == 20


def test_batches_recorded_together_both_count(ctx) -> None:
    """The paper count moves by relative updates: the batches of two requests add up."""
    petition = make_petition(make_user())
    author = make_user("b@example.org")
    folder = upload_dir(ctx)
    for n in (5, 7):
        paper.record_batch(
            petition,
            author,
            paper.BatchData(n, "Market", date(2026, 11, 1)),
            folder=folder,
            max_scan_bytes=1000,
            now=utcnow(),
        )
    db.session.commit()
    assert db.session.get_one(Petition, petition.id).paper_signature_count == 12
    assert petition.signature_count == 0


def test_a_draft_takes_no_paper_signatures(ctx) -> None:
    owner = make_user(confirmed=False)
    petition = make_petition(owner)
    assert petition.status == "draft"
    with pytest.raises(paper.PaperError, match="once the petition is public"):
        paper.record_batch(
            petition,
            owner,
            paper.BatchData(5, "Market", date(2026, 11, 1)),
            folder=upload_dir(ctx),
            max_scan_bytes=1000,
            now=utcnow(),
        )
