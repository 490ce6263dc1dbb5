"""The campaigner's dashboard and delivery page: who may see them, and that every figure matches the rows."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event, func, select

from petitions.campaigns import stats
from petitions.clock import utcnow
from petitions.counting import counts
from petitions.extensions import db
from petitions.models import GroupDomain, Petition, Signature, SupporterGroup, User
from petitions.signatures import confirming, signing
from tests.helpers import login, make_petition, make_user

OWNER = "owner@example.org"
OTHER = "other@example.org"
ADMIN = "admin@example.org"


# --- helpers --------------------------------------------------------------------------------


def add_signature(
    petition: Petition, email: str, *, at: datetime, country: str = "GB", confirm: bool = True, **fields
) -> Signature:
    """A signature made at `at` and, unless told otherwise, confirmed at that moment; committed."""
    data = signing.SignatureData(name=fields.pop("name", "Sam Signer"), email=email, country=country, **fields)
    signature = signing.sign(petition, data, now=at, ip=None)
    if confirm:
        confirming.confirm(signature, now=at)
    db.session.commit()
    return signature


def invalidate(signature: Signature, *, now: datetime) -> None:
    """Take a confirmed signature out of every count, as an administrator's invalidation does."""
    counts.apply([counts.Counted.of(signature)], -1, now=now)
    signature.invalidated_at = now
    db.session.commit()


@contextmanager
def queries(app: Flask) -> Iterator[list[str]]:
    """The SQL statements sent to the database inside the block."""
    with app.app_context():
        engine = db.engine
    seen: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany) -> None:
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


@pytest.fixture
def people(app: Flask) -> dict[str, str]:
    """An owner, another campaigner and an admin."""
    with app.app_context():
        make_user(OWNER)
        make_user(OTHER)
        make_user(ADMIN, admin=True)
    return {"owner": OWNER, "other": OTHER, "admin": ADMIN}


@pytest.fixture
def slug(app: Flask, people) -> str:
    """The owner's open petition, opened five days ago, with no signatures."""
    with app.app_context():
        owner = db.session.scalar(select(User).where(User.email == OWNER))
        return make_petition(owner, goal=40, now=utcnow() - timedelta(days=5)).slug


def petition_of(slug: str) -> Petition:
    return db.session.scalar(select(Petition).where(Petition.slug == slug))


def signed_in(client: FlaskClient, email: str) -> FlaskClient:
    response = login(client, email)
    assert response.status_code == 303, response.text
    return client


# --- who may see it -------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/account/petitions/{}", "/petitions/{}/delivery"])
def test_only_the_owner_and_admins_see_the_dashboard_and_delivery_page(app, client, slug, path) -> None:
    url = path.format(slug)
    anonymous = client.get(url)
    assert anonymous.status_code == 302 and anonymous.headers["Location"].startswith("/login")

    signed_in(client, OTHER)
    assert client.get(url).status_code == 403
    assert client.get(path.format("no-such-petition")).status_code == 404

    owner = signed_in(app.test_client(), OWNER)
    assert owner.get(url).status_code == 200
    admin = signed_in(app.test_client(), ADMIN)
    assert admin.get(url).status_code == 200


def test_a_hidden_petition_is_not_found_by_others_but_still_seen_by_its_owner(app, client, slug) -> None:
    with app.app_context():
        petition_of(slug).status = "hidden"
        db.session.commit()
    signed_in(client, OTHER)
    assert client.get(f"/account/petitions/{slug}").status_code == 404
    assert client.get(f"/petitions/{slug}/delivery").status_code == 404
    owner = signed_in(app.test_client(), OWNER)
    assert owner.get(f"/account/petitions/{slug}").status_code == 200


@pytest.mark.parametrize("bad", ["%00", "x" * 500, "%E2%80%AE", "..%2F..%2Fetc", "a%0D%0Ab"])
def test_garbage_slugs_are_404_never_500(client, slug, bad) -> None:
    signed_in(client, OWNER)
    # 404, or 400 where the site refuses the request outright (a NUL byte)
    assert client.get(f"/account/petitions/{bad}").status_code in (400, 404)
    assert client.get(f"/petitions/{bad}/delivery").status_code in (400, 404)


# --- the figures ----------------------------------------------------------------------------


def test_the_series_match_the_signatures_day_by_day_and_hour_by_hour(app, ctx, slug) -> None:
    petition = petition_of(slug)
    now = utcnow()
    moments = [now - timedelta(hours=h, minutes=7) for h in (0, 0, 1, 5, 5, 5, 30, 47, 50, 71, 100)]
    for i, at in enumerate(moments):
        add_signature(petition, f"s{i}@example.org", at=at)
    add_signature(petition, "pending@example.org", at=now, confirm=False)
    gone = add_signature(petition, "gone@example.org", at=now - timedelta(hours=5))
    invalidate(gone, now=now)

    days = stats.per_day(petition, now=now)
    expected_days = Counter(stats.start_of_day(m) for m in moments)
    first_day = stats.start_of_day(petition.opened_at)
    assert days.unit == "day"
    assert days.points[0].start == first_day
    assert days.points[-1].start == stats.start_of_day(now)
    assert len(days.points) == (stats.start_of_day(now) - first_day).days + 1  # every day, zero-filled
    assert {p.start: p.count for p in days.points if p.count} == dict(expected_days)
    assert days.total == len(moments) == petition.signature_count

    hours = stats.per_hour(petition, now=now)
    assert len(hours.points) == 48
    assert hours.points[-1].start == counts.hour_of(now)
    assert hours.points[0].start == counts.hour_of(now) - timedelta(hours=47)
    recent = [m for m in moments if m >= hours.points[0].start]
    assert {p.start: p.count for p in hours.points if p.count} == dict(Counter(counts.hour_of(m) for m in recent))
    assert hours.total == len(recent)
    assert [p.start for p in hours.points] == sorted({p.start for p in hours.points})  # consecutive, no gaps


def test_a_closed_petition_s_days_end_when_it_closed(ctx, slug) -> None:
    petition = petition_of(slug)
    # Midday, so that two days and an hour later is the third day whatever the hour the test runs at.
    opened = petition.opened_at.replace(hour=12, minute=0, second=0, microsecond=0)
    petition.opened_at = opened
    petition.status, petition.closed_at = "closed", opened + timedelta(days=2, hours=1)
    db.session.commit()
    days = stats.per_day(petition, now=opened + timedelta(days=30))
    assert len(days.points) == 3 and days.total == 0


def test_the_chart_draws_one_bar_per_period_with_signatures_and_says_what_it_shows(ctx) -> None:
    start = datetime(2025, 3, 1, tzinfo=UTC)
    series = stats.Series(
        "day", tuple(stats.Point(start + timedelta(days=i), n) for i, n in enumerate([3, 0, 12, 5, 0]))
    )
    svg = str(stats.render_bar_chart(series, chart_id="c1", title="Signatures <per> day"))

    assert svg.startswith("<svg") and svg.endswith("</svg>")
    assert 'role="img"' in svg and 'aria-labelledby="c1-title c1-desc"' in svg
    assert '<title id="c1-title">Signatures &lt;per&gt; day</title>' in svg
    desc = re.search(r'<desc id="c1-desc">(.*?)</desc>', svg).group(1)
    # Dates as CLDR writes them in the page's language (here none: English).
    assert "20 signatures over 5 days, from March 1, 2025 to March 5, 2025" in desc
    assert "The most in one day: 12, on March 3, 2025" in desc
    bars = re.findall(r'<rect class="bar" [^>]*height="([\d.]+)"[^>]*><title>([^<]*)</title>', svg)
    assert [title for _, title in bars] == ["March 1, 2025: 3", "March 3, 2025: 12", "March 4, 2025: 5"]
    heights = [float(h) for h, _ in bars]
    assert heights[1] == max(heights) and heights[0] / heights[1] == pytest.approx(3 / 12, rel=0.01)
    labels = re.findall(r'<text class="chart-label"[^>]*>([^<]*)</text>', svg)
    assert "12" in labels and "0" in labels  # the y axis: 0 and the highest value
    assert "Mar 1" in labels and "Mar 5" in labels  # the x axis: first and last day
    assert "style=" not in svg and "<script" not in svg


@pytest.mark.parametrize(("unit", "n"), [("hour", 48), ("day", 1), ("day", 2), ("day", 9), ("day", 31), ("day", 400)])
def test_axis_labels_never_overlap_and_stay_on_the_chart(unit, n) -> None:
    start = datetime(2024, 12, 30, tzinfo=UTC)
    step = timedelta(hours=1) if unit == "hour" else timedelta(days=1)
    series = stats.Series(unit, tuple(stats.Point(start + i * step, i % 5) for i in range(n)))
    svg = str(stats.render_bar_chart(series, chart_id="t", title="T", width=720))
    labels = re.findall(r'<text class="chart-label" x="([\d.]+)" y="\d+" text-anchor="middle"[^>]*>([^<]*)</text>', svg)
    assert labels[0][1] == series.short(series.points[0]) and labels[-1][1] == series.short(series.points[-1])
    spans = [(float(x) - len(t) * stats.CHAR_WIDTH / 2, float(x) + len(t) * stats.CHAR_WIDTH / 2) for x, t in labels]
    assert all(a[1] <= b[0] for a, b in zip(spans, spans[1:], strict=False)), spans
    assert spans[0][0] >= 0 and spans[-1][1] <= 720
    assert len(re.findall(r'<rect class="bar"', svg)) == sum(1 for p in series.points if p.count)


def test_a_big_highest_value_fits_left_of_the_axis() -> None:
    start = datetime(2025, 3, 1, tzinfo=UTC)
    series = stats.Series("day", (stats.Point(start, 1_234_567), stats.Point(start + timedelta(days=1), 5)))
    svg = str(stats.render_bar_chart(series, chart_id="b", title="Big"))
    x = float(
        re.search(r'<text class="chart-label" x="([\d.]+)"[^>]*text-anchor="end"[^>]*>1,234,567</text>', svg).group(1)
    )
    assert x - len("1,234,567") * stats.CHAR_WIDTH >= 0


def test_an_empty_chart_draws_no_bars_and_does_not_fail(ctx) -> None:
    start = datetime(2025, 3, 1, tzinfo=UTC)
    empty = stats.Series("hour", tuple(stats.Point(start + timedelta(hours=i), 0) for i in range(48)))
    svg = str(stats.render_bar_chart(empty, chart_id="e", title="Nothing"))
    assert "<rect" not in svg and "0 signatures over 48 hours" in svg
    assert "<rect" not in str(stats.render_bar_chart(stats.Series("day", ()), chart_id="n", title="None"))


def test_the_dashboard_shows_counts_progress_charts_countries_groups_and_comments(app, client, slug) -> None:
    now = utcnow()
    with app.app_context():
        petition = petition_of(slug)
        group = SupporterGroup(petition_id=petition.id, name="Amazon employees", created_at=now)
        db.session.add(group)
        db.session.flush()
        db.session.add(GroupDomain(group_id=group.id, petition_id=petition.id, domain="amazon.com"))
        db.session.commit()
        add_signature(
            petition,
            "ana@amazon.com",
            at=now - timedelta(days=2),
            country="FR",
            name="Ana Public",
            show_name=True,
            comment="Old but <b>gold</b>",
        )
        add_signature(
            petition,
            "bo@aws.amazon.com",
            at=now - timedelta(hours=3),
            country="GB",
            name="Bo Private",
            comment='=HYPERLINK("evil")',
        )
        add_signature(petition, "cy@example.org", at=now - timedelta(hours=1), country="GB", name="Cy", show_name=True)
        add_signature(
            petition,
            "dee@example.org",
            at=now,
            country="DE",
            confirm=False,
            name="Dee Pending",
            comment="pending comment",
        )
        gone = add_signature(
            petition,
            "eve@example.org",
            at=now,
            country="US",
            name="Eve Gone",
            show_name=True,
            comment="invalid comment",
        )
        invalidate(gone, now=now)

    signed_in(client, OWNER)
    page = client.get(f"/account/petitions/{slug}")
    assert page.status_code == 200
    html = page.text
    assert 'id="verified-count" data-count="3"' in html
    assert 'id="pending-count" data-count="1"' in html
    assert 'aria-valuenow="7"' in html  # 3 of a goal of 40
    # the charts, drawn on the server, with their tables
    assert html.count('<svg xmlns="http://www.w3.org/2000/svg" class="chart"') == 2
    # per day: a bar for each day with a confirmed signature (ana's, and bo's and cy's, which are two days
    # when the test runs in the three hours after midnight UTC); per hour: bo's hour and cy's
    days = {(now - ago).date() for ago in (timedelta(days=2), timedelta(hours=3), timedelta(hours=1))}
    assert len(re.findall(r'<rect class="bar"', html)) == len(days) + 2
    assert 'id="table-days"' in html and 'id="table-hours"' in html
    # countries by name, largest first; the supporter group (ana and bo both at amazon.com)
    countries = re.search(r'<table class="table" id="countries">(.*?)</table>', html, re.S).group(1)
    assert re.findall(r'<th scope="row">([^<]+)</th><td class="num">(\d+)', countries) == [
        ("United Kingdom", "2"),
        ("France", "1"),
    ]
    groups = re.search(r'<table class="table" id="groups">(.*?)</table>', html, re.S).group(1)
    assert re.findall(r'<th scope="row">([^<]+)</th><td class="num">(\d+)', groups) == [("Amazon employees", "2")]
    # comments: verified only, newest first, a name only where allowed, never an email
    comments = re.search(r'<ul class="comments" id="comments">(.*?)</ul>', html, re.S).group(1)
    quotes = re.findall(r"<blockquote>(.*?)</blockquote>\s*<p class=\"small\">([^·]*)·", comments)
    assert [(q, n.strip()) for q, n in quotes] == [
        ("=HYPERLINK(&#34;evil&#34;)", "A signer"),
        ("Old but &lt;b&gt;gold&lt;/b&gt;", "Ana Public"),
    ]
    for secret in [
        "Bo Private",
        "pending comment",
        "invalid comment",
        "Eve Gone",
        "Dee Pending",
        "@amazon.com",
        "@example.org",
        "eve@",
        "ana@",
    ]:
        assert secret not in html, secret
    # links to the export and the delivery page
    assert f'href="/petitions/{slug}/signatures.csv"' in html
    assert f'href="/petitions/{slug}/delivery"' in html
    assert "include=email" not in html  # EXPORT_INCLUDE_EMAIL is off


def test_only_the_twenty_latest_comments_are_shown(app, client, slug) -> None:
    now = utcnow()
    with app.app_context():
        petition = petition_of(slug)
        for i in range(23):
            add_signature(
                petition, f"c{i}@example.org", at=now - timedelta(minutes=100 - i), comment=f"comment number {i}."
            )
    signed_in(client, OWNER)
    html = client.get(f"/account/petitions/{slug}").text
    shown = [int(n) for n in re.findall(r"<blockquote>comment number (\d+)\.</blockquote>", html)]
    assert shown == list(range(22, 2, -1))


def test_the_delivery_page_has_the_text_the_figures_and_a_print_stylesheet(app, client, slug) -> None:
    now = utcnow()
    first_at = now - timedelta(days=3)
    last_at = now - timedelta(hours=2)
    codes = ["GB", "FR", "DE", "US", "IE", "NL", "BE", "ES", "IT", "PT", "SE", "NO"]
    with app.app_context():
        petition = petition_of(slug)
        add_signature(petition, "first@example.org", at=first_at, country="GB")
        for i, code in enumerate(codes):
            add_signature(petition, f"s{i}@example.org", at=first_at + timedelta(hours=i + 1), country=code)
        add_signature(petition, "last@example.org", at=last_at, country="GB")
        add_signature(petition, "early-pending@example.org", at=first_at - timedelta(days=1), confirm=False)
        late = add_signature(petition, "late-invalid@example.org", at=now, country="JP")
        invalidate(late, now=now)
        early = add_signature(petition, "early-invalid@example.org", at=first_at - timedelta(days=1), country="JP")
        invalidate(early, now=now)
        assert stats.confirmed_range(petition) == (first_at, last_at)

    signed_in(client, OWNER)
    page = client.get(f"/petitions/{slug}/delivery")
    assert page.status_code == 200
    html = page.text
    assert "<h1>Stop selling Rekognition to governments</h1>" in html
    assert "Amazon&#39;s board of directors" in html
    assert "Face recognition in the hands of governments threatens civil liberties." in html
    assert "<strong>stop selling</strong>" in html  # the body, as rendered Markdown
    assert re.search(r'id="delivery-count">14<', html)

    def day(moment: datetime) -> str:  # CLDR's English
        return f"{moment:%B} {moment.day}, {moment.year}"

    assert f'<time datetime="{first_at:%Y-%m-%d}">{day(first_at)}</time>' in html
    assert f'<time datetime="{last_at:%Y-%m-%d}">{day(last_at)}</time>' in html
    assert re.search(r'id="generated-at">' + re.escape(f"{day(now)} at "), html)
    table = re.search(r'<table class="table" id="delivery-countries">(.*?)</table>', html, re.S).group(1)
    rows = re.findall(r'<th scope="row">([^<]+)</th><td class="num">(\d+)', table)
    assert len(rows) == len(codes) + 1  # every country, not only the top ten, and the total
    assert rows[0] == ("United Kingdom", "3") and rows[-1] == ("Total", "14")
    assert ("Norway", "1") in rows and "Japan" not in html
    assert 'href="/static/css/print.css" media="print"' in html
    assert "style=" not in html


def test_the_delivery_page_of_a_petition_without_signatures(client, slug) -> None:
    signed_in(client, OWNER)
    html = client.get(f"/petitions/{slug}/delivery").text
    assert re.search(r'id="delivery-count">0<', html)
    assert "none yet" in html and "No verified signatures yet." in html


# --- cost -----------------------------------------------------------------------------------


def test_the_dashboard_and_delivery_page_cost_the_same_queries_whatever_the_signatures(app, client, slug) -> None:
    now = utcnow()
    with app.app_context():
        add_signature(petition_of(slug), "one@example.org", at=now - timedelta(days=1), comment="hi", show_name=True)
    signed_in(client, OWNER)
    urls = [f"/account/petitions/{slug}", f"/petitions/{slug}/delivery"]
    for url in urls:
        assert client.get(url).status_code == 200  # warm: connections open, caches full

    def cost() -> list[int]:
        sizes = []
        for url in urls:
            with queries(app) as seen:
                assert client.get(url).status_code == 200
            sizes.append(len(seen))
        return sizes

    few = cost()
    with app.app_context():
        petition = petition_of(slug)
        for i in range(40):
            add_signature(
                petition,
                f"s{i}@example.org",
                at=now - timedelta(hours=i * 3),
                country=["GB", "FR", "DE"][i % 3],
                comment=f"comment {i}" if i % 2 else None,
                show_name=bool(i % 3),
            )
        for i in range(5):
            add_signature(petition, f"p{i}@example.org", at=now, confirm=False)
        assert db.session.scalar(select(func.count()).select_from(Signature)) == 46
    many = cost()
    assert many == few, (few, many)
    assert max(few) <= 12, few
