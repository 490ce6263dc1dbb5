"""The embeddable chart: drawn by the server from the history, milestones marked, frameable, no cookies."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

from petitions.campaigns import history as histories
from petitions.campaigns import milestones
from petitions.extensions import db
from petitions.models import Petition
from petitions.signatures import confirming, signing
from petitions.web.press import charts
from tests.helpers import make_petition

T0 = datetime(2025, 3, 1, 23, 30, tzinfo=UTC)
NOW = T0 + timedelta(hours=5)


def make_signed_petition(app) -> str:
    """Three signatures over two hours, the goal of 3 reached with the third, the milestone recorded."""
    with app.app_context():
        petition = make_petition(title='Charts & "lines" <now>', goal=3, now=T0 - timedelta(days=1))
        for i, at in enumerate([T0, T0 + timedelta(minutes=10), T0 + timedelta(hours=1)]):
            s = signing.sign(petition, signing.SignatureData("A", f"s{i}@example.org", "GB"), now=at, ip=None)
            confirming.confirm(s, now=at)
        db.session.flush()
        milestones.record_reached(now=T0 + timedelta(hours=1, minutes=1))
        db.session.commit()
        return petition.slug


def test_the_line_climbs_by_the_history_to_the_count_with_the_milestone_marked(app) -> None:
    slug = make_signed_petition(app)
    with app.app_context():
        petition = db.session.scalar(db.select(Petition).where(Petition.slug == slug))
        found = histories.history(petition.id)
        assert charts.cumulative(found) == [
            (datetime(2025, 3, 2, 0, tzinfo=UTC), 2),
            (datetime(2025, 3, 2, 1, tzinfo=UTC), 3),
        ]
        chart = charts.draw(petition, found, NOW)
    line = re.search(r'<path class="line" d="([^"]+)"/>', chart.svg).group(1)
    ys = [float(y) for y in re.findall(r"[ML][\d.]+ ([\d.]+)", line)]
    top = charts.nice_ceiling(3)

    def y(n: int) -> float:
        return round(charts.TOP + (charts.HEIGHT - charts.TOP - charts.BOTTOM) * (1 - n / top), 1)

    assert ys == [y(0), y(2), y(3), y(3)]  # from none, by the hours, to the count, held until now
    assert chart.summary == "3 signatures from February 28, 2025 to March 2, 2025."
    assert chart.milestones == ["3 (the goal) on March 2, 2025"]
    assert chart.svg.count('<g class="milestone">') == 1
    assert '<title id="chart-title">Charts &amp; &#34;lines&#34; &lt;now&gt;: signatures over time</title>' in chart.svg
    assert "Milestones: 3 (the goal) on March 2, 2025." in chart.svg


def test_the_chart_page_is_frameable_cacheable_and_sets_no_cookie(app, client) -> None:
    slug = make_signed_petition(app)
    client.get(f"/petitions/{slug}")  # a visitor with a session: the chart still sets no cookie
    response = client.get(f"/embed/{slug}/chart")
    assert response.status_code == 200 and response.mimetype == "text/html"
    assert "frame-ancestors *" in response.headers["Content-Security-Policy"]
    assert "X-Frame-Options" not in response.headers
    assert "Set-Cookie" not in response.headers and "public" in response.headers["Cache-Control"]
    html = response.text
    assert '<svg xmlns="http://www.w3.org/2000/svg"' in html and 'role="img"' in html
    assert "3 signatures from February 28, 2025" in html
    assert "Milestones: 3 (the goal) on March 2, 2025." in html
    assert f'data-events="/petitions/{slug}/events"' in html and "embed/chart.js" in html
    again = client.get(f"/embed/{slug}/chart", headers={"If-None-Match": response.headers["ETag"]})
    assert again.status_code == 304


def test_a_petition_without_signatures_has_a_flat_chart(app, client) -> None:
    with app.app_context():
        slug = make_petition().slug
    html = client.get(f"/embed/{slug}/chart").text
    assert "0 signatures from" in html and "Milestones" not in html
    assert re.search(r'<path class="line" d="M[\d.]+ ([\d.]+)L[\d.]+ \1"/>', html)


def test_unknown_and_hidden_petitions_have_no_chart(app, client) -> None:
    slug = make_signed_petition(app)
    assert client.get("/embed/no-such-petition/chart").status_code == 404
    with app.app_context():
        db.session.scalar(db.select(Petition).where(Petition.slug == slug)).status = "hidden"
        db.session.commit()
    assert client.get(f"/embed/{slug}/chart").status_code == 404


def test_oembed_of_the_chart_url_gives_the_charts_iframe(app, client) -> None:
    slug = make_signed_petition(app)
    doc = client.get("/oembed", query_string={"url": f"http://localhost/embed/{slug}/chart"}).json
    assert doc["type"] == "rich" and (doc["width"], doc["height"]) == (600, 400)
    assert f'src="http://localhost/embed/{slug}/chart"' in doc["html"]
    assert doc["title"] == 'Charts & "lines" <now>: signatures over time'
    narrow = client.get("/oembed", query_string={"url": f"http://localhost/embed/{slug}/chart", "maxwidth": 320}).json
    assert narrow["width"] == 320 and 'width="320"' in narrow["html"]
    widget = client.get("/oembed", query_string={"url": f"http://localhost/petitions/{slug}"}).json
    assert f'src="http://localhost/embed/{slug}"' in widget["html"]
    assert client.get("/oembed", query_string={"url": f"http://localhost/embed/{slug}/other"}).status_code == 404


def test_the_petition_page_and_the_press_page_offer_the_charts_embed_code(app, client) -> None:
    slug = make_signed_petition(app)
    page = client.get(f"/petitions/{slug}").text
    code = re.search(r'<textarea id="chart-embed-code"[^>]*>([^<]+)</textarea>', page).group(1)
    assert f"src=&#34;http://localhost/embed/{slug}/chart?lang=en&#34;" in code  # in the page's language
    assert "Charts &amp;amp; &amp;#34;lines&amp;#34; &amp;lt;now&amp;gt;: signatures over time" in code
    press = client.get("/api").text
    assert "/embed/SLUG/chart" in press and "/petitions/&lt;slug&gt;/map.svg" in press


def test_milestones_close_together_keep_their_dots_and_only_the_larger_label(app) -> None:
    start = datetime(2025, 3, 1, tzinfo=UTC)
    petition = SimpleNamespace(
        title="t",
        opened_at=start,
        created_at=start,
        closed_at=None,
        closes_at=None,
        effective_status=lambda now: "open",
    )
    hourly = tuple((start + timedelta(hours=h), 100) for h in range(240))
    reached = (
        (100, start, False),
        (1_000, start + timedelta(hours=9), False),
        (10_000, start + timedelta(hours=99), False),
    )
    found = histories.History(hourly, (), reached)
    with app.test_request_context("/"):  # numbers in the page's locale
        chart = charts.draw(petition, found, start + timedelta(days=10))
    assert chart.svg.count("<circle") == 3
    labels = re.findall(r'<text x="[\d.]+" y="[\d.]+" text-anchor="end">([\d,]+)</text></g>', chart.svg)
    assert labels == ["1,000", "10,000"]


def test_the_chart_speaks_the_language_of_its_url_or_of_its_reader(app, client) -> None:
    slug = make_signed_petition(app)
    german = client.get(f"/embed/{slug}/chart?lang=de")
    assert '<html lang="de">' in german.text
    assert "3 Unterschriften vom 28. Februar 2025 bis zum " in german.text
    assert "Meilensteine: 3 (das Ziel) am 2. März 2025." in german.text
    assert "Accept-Language" not in german.headers.get("Vary", "")  # the URL says it: one copy per URL
    by_browser = client.get(f"/embed/{slug}/chart", headers={"Accept-Language": "fr-FR,fr;q=0.9"})
    assert '<html lang="fr">' in by_browser.text and "3 signatures du" in by_browser.text
    assert "Accept-Language" in by_browser.headers["Vary"]
    assert "Set-Cookie" not in by_browser.headers
    page = client.get(f"/petitions/{slug}?lang=de").text
    assert f"src=&#34;http://localhost/embed/{slug}/chart?lang=de&#34;" in page
    doc = client.get("/oembed", query_string={"url": f"http://localhost/embed/{slug}/chart?lang=de"}).json
    assert f'src="http://localhost/embed/{slug}/chart?lang=de"' in doc["html"]
