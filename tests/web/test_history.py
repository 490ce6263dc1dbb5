"""The history as open data: JSON under /api/v1 and CSV, cacheable, CORS open, described by OpenAPI."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from petitions.extensions import db
from petitions.models import Petition
from petitions.signatures import confirming, signing
from tests.helpers import make_petition

T0 = datetime(2025, 3, 1, 23, 30, tzinfo=UTC)


def make_signed_petition(app) -> str:
    with app.app_context():
        petition = make_petition()
        for i, at in enumerate([T0, T0 + timedelta(minutes=10), T0 + timedelta(hours=1)]):
            s = signing.sign(petition, signing.SignatureData("A", f"s{i}@example.org", "GB"), now=at, ip=None)
            confirming.confirm(s, now=at)
        db.session.commit()
        return petition.slug


def test_the_json_adds_up_to_the_count_and_is_cacheable_and_cors_open(app, client) -> None:
    slug = make_signed_petition(app)
    response = client.get(f"/api/v1/petitions/{slug}/history")
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert "public" in response.headers["Cache-Control"] and "Set-Cookie" not in response.headers
    assert response.json == {
        "slug": slug,
        "hourly": [
            {"hour": "2025-03-01T23:00:00Z", "signatures": 2},
            {"hour": "2025-03-02T00:00:00Z", "signatures": 1},
        ],
        "daily": [{"day": "2025-03-01", "signatures": 2}, {"day": "2025-03-02", "signatures": 1}],
        "milestones": [],
    }
    count = client.get(f"/api/v1/petitions/{slug}/count").json["signature_count"]
    assert sum(h["signatures"] for h in response.json["hourly"]) == count == 3
    again = client.get(f"/api/v1/petitions/{slug}/history", headers={"If-None-Match": response.headers["ETag"]})
    assert again.status_code == 304


def test_the_csv_by_hour_and_by_day(app, client) -> None:
    slug = make_signed_petition(app)
    hours = client.get(f"/petitions/{slug}/history.csv")
    assert hours.status_code == 200 and hours.mimetype == "text/csv"
    assert hours.headers["Access-Control-Allow-Origin"] == "*"
    assert hours.text.splitlines() == ["hour,signatures", "2025-03-01T23:00:00Z,2", "2025-03-02T00:00:00Z,1"]
    days = client.get(f"/petitions/{slug}/history.csv?by=day")
    assert days.text.splitlines() == ["day,signatures", "2025-03-01,2", "2025-03-02,1"]
    bad = client.get(f"/petitions/{slug}/history.csv?by=week")
    assert bad.status_code == 400 and "by must be hour or day" in bad.text


def test_unknown_and_hidden_petitions_are_404_as_json(app, client) -> None:
    slug = make_signed_petition(app)
    missing = client.get("/api/v1/petitions/nope/history")
    assert missing.status_code == 404 and missing.json == {"error": "No petition has that slug."}
    assert client.get("/petitions/nope/history.csv").status_code == 404
    with app.app_context():
        db.session.scalar(db.select(Petition).where(Petition.slug == slug)).status = "hidden"
        db.session.commit()
    assert client.get(f"/api/v1/petitions/{slug}/history").status_code == 404
    assert client.get(f"/petitions/{slug}/history.csv").status_code == 404


def test_a_petition_without_signatures_has_an_empty_history(app, client) -> None:
    with app.app_context():
        slug = make_petition().slug
    assert client.get(f"/api/v1/petitions/{slug}/history").json == {
        "slug": slug,
        "hourly": [],
        "daily": [],
        "milestones": [],
    }
    assert client.get(f"/petitions/{slug}/history.csv").text == "hour,signatures\r\n"


def test_the_openapi_document_describes_the_history(app, client) -> None:
    slug = make_signed_petition(app)
    spec = client.get("/api/v1/openapi.json").json
    assert "/petitions/{slug}/history" in spec["paths"]
    schema = spec["components"]["schemas"]["History"]
    doc = client.get(f"/api/v1/petitions/{slug}/history").json
    assert set(doc) == set(schema["required"])
    hourly = schema["properties"]["hourly"]["items"]
    assert set(doc["hourly"][0]) == set(hourly["required"])
    assert set(doc["daily"][0]) == set(schema["properties"]["daily"]["items"]["required"])
