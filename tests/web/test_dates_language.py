"""Dates and times in the reader's language (CLDR's patterns through Babel), in UTC."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from flask import Flask

from petitions.campaigns import stats
from tests.helpers import make_petition


def test_a_closing_date_is_written_as_the_pages_language_writes_it(app: Flask, client) -> None:
    with app.app_context():
        slug = make_petition(closes_at=datetime(2030, 3, 1, 12, tzinfo=UTC)).slug
    assert "Closes March 1, 2030." in client.get(f"/petitions/{slug}?lang=en").text
    assert "1. März 2030" in client.get(f"/petitions/{slug}?lang=de").text
    assert "1 de marzo de 2030" in client.get(f"/petitions/{slug}?lang=es").text
    assert "1 mars 2030" in client.get(f"/petitions/{slug}?lang=fr").text


def test_a_charts_periods_are_written_in_the_pages_language(app: Flask) -> None:
    start = datetime(2025, 3, 1, 14, tzinfo=UTC)
    days = stats.Series("day", (stats.Point(start, 3), stats.Point(start + timedelta(days=1), 1)))
    hours = stats.Series("hour", (stats.Point(start, 3),))
    with app.test_request_context("/?lang=de"):
        assert (days.short(days.points[0]), days.long(days.points[0])) == ("1. März", "1. März 2025")
        assert hours.long(hours.points[0]) == "1. März 2025, 14:00 UTC"
    with app.test_request_context("/?lang=en"):
        assert (days.short(days.points[0]), days.long(days.points[0])) == ("Mar 1", "March 1, 2025")
        assert hours.short(hours.points[0]) == "Mar 1, 14:00"
