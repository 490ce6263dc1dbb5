"""The JSON API of CONTRACT.md: fields, types, errors."""

from __future__ import annotations

from datetime import datetime

from petitions.clock import utcnow
from petitions.extensions import db
from petitions.signatures import confirming, signing
from tests.helpers import make_petition


def test_count_and_petition_documents(app, client) -> None:
    with app.app_context():
        petition = make_petition(goal=500)
        for i, country in enumerate(["GB", "GB", "FR"]):
            s = signing.sign(petition, signing.SignatureData("A", f"s{i}@example.org", country), now=utcnow(), ip=None)
            confirming.confirm(s, now=utcnow())
        signing.sign(petition, signing.SignatureData("A", "pending@example.org", "DE"), now=utcnow(), ip=None)
        db.session.commit()
        slug = petition.slug

    count = client.get(f"/api/v1/petitions/{slug}/count")
    assert count.status_code == 200
    assert count.headers["Access-Control-Allow-Origin"] == "*"
    assert "max-age=" in count.headers["Cache-Control"]
    assert set(count.json) == {
        "slug",
        "signature_count",
        "paper_signature_count",
        "goal",
        "status",
        "outcome",
        "updated_at",
    }
    assert count.json["signature_count"] == 3 and count.json["goal"] == 500 and count.json["status"] == "open"
    assert datetime.fromisoformat(count.json["updated_at"]).tzinfo is not None

    doc = client.get(f"/api/v1/petitions/{slug}").json
    assert doc["signatures_by_country"] == {"GB": 2, "FR": 1}
    assert doc["url"] == f"http://localhost/petitions/{slug}"
    for key in [
        "slug",
        "title",
        "target",
        "summary",
        "url",
        "status",
        "signature_count",
        "paper_signature_count",
        "goal",
        "outcome",
        "created_at",
        "closes_at",
        "updated_at",
    ]:
        assert key in doc
    assert "email" not in str(doc)

    listing = client.get("/api/v1/petitions?per_page=1").json
    assert listing["total"] == 1 and listing["petitions"][0]["slug"] == slug


def test_errors_are_json(client) -> None:
    missing = client.get("/api/v1/petitions/nope")
    assert missing.status_code == 404 and "error" in missing.json
    bad = client.get("/api/v1/petitions?page=x")
    assert bad.status_code == 400 and "error" in bad.json
    assert client.get("/api/v1/petitions?status=weird").status_code == 400
