"""For the press: the API contract, caching, the widget, the badge, oEmbed and live events."""

from __future__ import annotations

import json
import re
import threading
import time
from datetime import datetime
from pathlib import Path

import pytest
import requests
from werkzeug.serving import make_server

from petitions.campaigns import groups
from petitions.clock import utcnow
from petitions.extensions import db
from petitions.models import Petition
from petitions.signatures import confirming, signing
from tests.helpers import LiveServer, free_port, make_app, make_petition


def confirmed(petition, email: str, country: str = "GB") -> None:
    s = signing.sign(petition, signing.SignatureData("A", email, country), now=utcnow(), ip=None)
    confirming.confirm(s, now=utcnow())
    db.session.commit()


@pytest.fixture
def slug(app) -> str:
    with app.app_context():
        petition = make_petition(goal=200)
        confirmed(petition, "a@example.org")
        return petition.slug


# --- the JSON API ---------------------------------------------------------------------------


def test_count_is_cacheable_with_etags_and_cors(app, client, slug) -> None:
    app.config["COUNT_MAX_AGE"] = 2
    first = client.get(f"/api/v1/petitions/{slug}/count")
    assert first.status_code == 200
    assert first.headers["Access-Control-Allow-Origin"] == "*"
    cache = first.headers["Cache-Control"]
    assert "public" in cache and "stale-while-revalidate=" in cache
    # process cache + max-age + stale-while-revalidate never add up to more than COUNT_MAX_AGE
    max_age = int(re.search(r"max-age=(\d+)", cache).group(1))
    stale = int(re.search(r"stale-while-revalidate=(\d+)", cache).group(1))
    assert max_age >= 1 and max_age + stale + 0.5 <= app.config["COUNT_MAX_AGE"]
    etag = first.headers["ETag"]
    again = client.get(f"/api/v1/petitions/{slug}/count", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.data == b""

    with app.app_context():
        confirmed(db.session.scalar(db.select(Petition)), "b@example.org")
    changed_at = time.monotonic()
    # The contract: a served count lags a change by at most COUNT_MAX_AGE seconds.
    while (
        changed := client.get(f"/api/v1/petitions/{slug}/count", headers={"If-None-Match": etag})
    ).status_code == 304:
        assert time.monotonic() - changed_at <= app.config["COUNT_MAX_AGE"]
        time.sleep(0.05)
    assert changed.status_code == 200 and changed.json["signature_count"] == 2
    assert changed.headers["ETag"] != etag


def test_fields_and_types_follow_the_openapi_document(client, slug) -> None:
    spec = client.get("/api/v1/openapi.json").json
    schemas = spec["components"]["schemas"]
    count = client.get(f"/api/v1/petitions/{slug}/count").json
    assert set(count) == set(schemas["Count"]["required"])
    types = {"string": str, "integer": int, "null": type(None)}
    for key, value in count.items():
        declared = schemas["Count"]["properties"][key]["type"]
        kinds = declared if isinstance(declared, list) else [declared]  # ["string", "null"]: nullable
        assert isinstance(value, tuple(types[kind] for kind in kinds)), key
    doc = client.get(f"/api/v1/petitions/{slug}").json
    assert set(schemas["PetitionSummary"]["required"]) <= set(doc)
    assert {"signatures_by_country", "supporter_groups"} <= set(doc)
    for key in ("created_at", "updated_at"):
        assert datetime.fromisoformat(doc[key]).utcoffset().total_seconds() == 0
    listing = client.get("/api/v1/petitions").json
    assert set(schemas["PetitionList"]["required"]) <= set(listing)
    assert set(schemas["PetitionSummary"]["required"]) <= set(listing["petitions"][0])
    for path in ("/petitions", "/petitions/{slug}", "/petitions/{slug}/count"):
        assert path in spec["paths"]
    assert client.get("/api").status_code == 200


def test_list_filters_sorts_and_errors(app, client, slug) -> None:
    with app.app_context():
        other = make_petition(title="Protect the wetlands")
        other.status = "closed"
        db.session.commit()
    assert [p["slug"] for p in client.get("/api/v1/petitions?status=closed").json["petitions"]] == [
        "protect-the-wetlands"
    ]
    assert client.get("/api/v1/petitions?status=all").json["total"] == 2
    assert client.get("/api/v1/petitions?q=wetlands&status=all").json["total"] == 1
    assert client.get("/api/v1/petitions?sort=date").status_code == 200
    for bad in ("sort=sideways", "status=weird", "page=x", "per_page=many"):
        response = client.get(f"/api/v1/petitions?{bad}")
        assert response.status_code == 400 and "error" in response.json
    assert client.get("/api/v1/petitions/nope/count").json == {"error": "No petition has that slug."}


# --- widget, badge, oEmbed, sharing ---------------------------------------------------------


@pytest.mark.spanish
def test_the_widget_is_small_frameable_cookieless_and_self_contained(app, client, slug) -> None:
    app.config["GROUP_MIN_COUNT"] = (
        1  # exact public group counts here; tests/security/test_groups_privacy.py tests the threshold
    )
    with app.app_context():
        petition = db.session.scalar(db.select(Petition))
        groups.save_group(petition, name="Amazon employees", domains=["amazon.com"], now=utcnow())
        db.session.commit()
        confirmed(petition, "emp@amazon.com")
    response = client.get(f"/embed/{slug}?theme=dark&lang=es")
    assert response.status_code == 200
    assert "Set-Cookie" not in response.headers
    assert "X-Frame-Options" not in response.headers
    assert "frame-ancestors *" in response.headers["Content-Security-Policy"]
    html = response.text
    assert 'class="dark"' in html and "Firmar la petición" in html  # the `spanish` mark's catalogue
    assert "1 confirmados Amazon employees" in re.sub(r"<[^>]+>", "", html)
    assert 'id="count">2<' in html
    # every resource is ours, and all of it together stays under 20 kB
    resources = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert all(r.startswith("/") or r.startswith("http://localhost/") for r in resources), resources
    size = len(response.data)
    for resource in resources:
        if resource.startswith("/static/"):
            asset = client.get(resource)
            size += len(asset.data)
            asset.close()
    assert size < 20_000, size
    assert client.get(f"/embed/{slug}?lang=xx").status_code == 200  # unknown options fall back
    assert client.get("/embed/nope").status_code == 404


def test_other_pages_deny_framing(client, slug) -> None:
    for url in ["/", f"/petitions/{slug}", "/login", "/api"]:
        headers = client.get(url).headers
        assert headers["X-Frame-Options"] == "DENY"
        assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]


def test_the_badge(client, slug) -> None:
    response = client.get(f"/petitions/{slug}/badge.svg?label=<script>")
    assert response.status_code == 200 and response.mimetype == "image/svg+xml"
    assert ">1<" in response.text and "<script>" not in response.text and "&lt;script&gt;" in response.text
    assert client.get(
        f"/petitions/{slug}/badge.svg", headers={"If-None-Match": response.headers["ETag"]}
    ).status_code in (200, 304)
    plain = client.get(f"/petitions/{slug}/badge.svg")
    assert (
        client.get(f"/petitions/{slug}/badge.svg", headers={"If-None-Match": plain.headers["ETag"]}).status_code == 304
    )
    assert client.get("/petitions/nope/badge.svg").status_code == 404


def test_oembed_and_its_discovery(client, slug) -> None:
    page = client.get(f"/petitions/{slug}").text
    link = re.search(r'<link rel="alternate" type="application/json\+oembed" title="[^"]*"\s+href="([^"]+)"', page)
    assert link
    href = link.group(1).replace("&amp;", "&").removeprefix("http://localhost")
    doc = client.get(href).json
    assert doc["type"] == "rich" and doc["version"] == "1.0"
    assert f'src="http://localhost/embed/{slug}"' in doc["html"]
    narrow = client.get("/oembed", query_string={"url": f"http://localhost/petitions/{slug}", "maxwidth": 300}).json
    assert narrow["width"] == 300 and 'width="300"' in narrow["html"]
    assert client.get("/oembed", query_string={"url": "https://elsewhere.example/petitions/x"}).status_code == 404
    assert client.get("/oembed", query_string={"url": "http://localhost/petitions/nope"}).status_code == 404
    assert (
        client.get("/oembed", query_string={"url": f"http://localhost/petitions/{slug}", "format": "xml"}).status_code
        == 501
    )
    assert (
        client.get(
            "/oembed", query_string={"url": f"http://localhost/petitions/{slug}", "maxwidth": "wide"}
        ).status_code
        == 400
    )


def test_petition_pages_carry_sharing_tags_and_embed_code(client, slug) -> None:
    page = client.get(f"/petitions/{slug}").text
    for tag in ('property="og:title"', 'property="og:image"', 'name="twitter:card"', 'id="embed-code"'):
        assert tag in page
    image = client.get("/static/img/share.png")
    assert image.status_code == 200 and image.mimetype == "image/png"
    image.close()


# --- live events ----------------------------------------------------------------------------


def read_events(response, into: list, stop: threading.Event) -> None:
    """Collect (event, data) pairs from an SSE response until stop is set or the stream ends."""
    name = None
    try:
        for line in response.iter_lines(decode_unicode=True):
            if stop.is_set():
                return
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: "):
                into.append((name, json.loads(line[6:]), time.monotonic()))
    except Exception:  # the test closed the response: the stream is over
        return


def wait_for(events: list, predicate, timeout: float) -> tuple:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for e in events:
            if predicate(e):
                return e
        time.sleep(0.02)
    raise AssertionError(f"no matching event within {timeout}s: {events}")


def test_a_confirmed_signature_arrives_as_an_event_within_a_second(live: LiveServer) -> None:
    live.app.config["SSE_HEARTBEAT"] = 1
    with live.app.app_context():
        petition = make_petition()
        slug = petition.slug
    events: list = []
    stop = threading.Event()
    with requests.get(f"{live.url}/petitions/{slug}/events", stream=True, timeout=10) as response:
        assert response.headers["Content-Type"].startswith("text/event-stream")
        assert response.headers["Cache-Control"] == "no-cache"
        assert response.headers["X-Accel-Buffering"] == "no"
        reader = threading.Thread(target=read_events, args=(response, events, stop), daemon=True)
        reader.start()
        wait_for(events, lambda e: e[1]["signature_count"] == 0, 5)
        with live.app.app_context():
            confirmed(db.session.scalar(db.select(Petition)), "new@example.org")
            done = time.monotonic()
        event = wait_for(events, lambda e: e[1]["signature_count"] == 1, 3)
        assert event[0] == "count"
        assert event[2] - done < 1.0
        assert set(event[1]) == {
            "slug",
            "signature_count",
            "paper_signature_count",
            "goal",
            "status",
            "outcome",
            "updated_at",
        }
        stop.set()


def test_events_cross_processes_through_redis(postgres_url, smtp_server, tmp_path) -> None:
    """Two app processes' worth of servers on one PostgreSQL: a confirmation on one reaches a stream on the other.

    The database poll is made too slow to matter, so only Redis can carry the change in time.
    """
    redis_url = "redis://127.0.0.1:6379/0"
    import redis

    try:
        with redis.Redis.from_url(redis_url, socket_connect_timeout=2) as client:
            client.ping()
    except redis.RedisError as exc:
        pytest.fail(f"Redis is not answering at {redis_url}: {exc}")
    servers = []
    apps = []
    try:
        for name in ("a", "b"):
            port = free_port()
            app = make_app(
                postgres_url,
                smtp_server,
                tmp_path / name,
                BASE_URL=f"http://127.0.0.1:{port}",
                REDIS_URL=redis_url,
                COUNT_POLL_INTERVAL=30,
                SSE_HEARTBEAT=1,
            )
            server = make_server("127.0.0.1", port, app, threaded=True)
            threading.Thread(target=server.serve_forever, daemon=True).start()
            servers.append((server, f"http://127.0.0.1:{port}"))
            apps.append(app)
        with apps[1].app_context():
            petition = make_petition()
            slug = petition.slug
        events: list = []
        stop = threading.Event()
        with requests.get(f"{servers[0][1]}/petitions/{slug}/events", stream=True, timeout=10) as response:
            threading.Thread(target=read_events, args=(response, events, stop), daemon=True).start()
            wait_for(events, lambda e: e[1]["signature_count"] == 0, 5)
            with apps[1].app_context():  # the other "process" confirms
                confirmed(db.session.scalar(db.select(Petition)), "far@example.org")
            wait_for(events, lambda e: e[1]["signature_count"] == 1, 2)
            stop.set()
    finally:
        from tests.helpers import close_streams

        for app in apps:
            close_streams(app)
        for server, _ in servers:
            server.shutdown()
            server.server_close()
        for app in apps:
            with app.app_context():
                db.session.remove()
                db.engine.dispose()
        import psycopg

        from tests.helpers import TABLES

        with psycopg.connect(postgres_url.replace("+psycopg", ""), autocommit=True) as conn:
            conn.execute(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE")


# --- the widget in a page of another site ---------------------------------------------------


def test_a_news_page_on_another_origin_shows_the_count_growing(live: LiveServer, browser, tmp_path: Path) -> None:
    with live.app.app_context():
        petition = make_petition()
        slug = petition.slug
    article = tmp_article(tmp_path / "news-site", live.url, slug)
    port = free_port()
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

    class Handler(SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(article.parent), **kwargs)

        def log_message(self, *args):
            pass

    news = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    threading.Thread(target=news.serve_forever, daemon=True).start()
    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto(f"http://127.0.0.1:{port}/{article.name}")
        frame = page.frame_locator("iframe")
        count = frame.locator("#count")
        count.wait_for()
        assert count.inner_text() == "0"
        time.sleep(0.5)  # the stream is open
        with live.app.app_context():
            confirmed(db.session.scalar(db.select(Petition)), "reader@example.org")
        page.wait_for_function("() => document.querySelector('iframe').contentDocument === null || true")
        from playwright.sync_api import expect

        expect(count).to_have_text("1", timeout=5000)
        assert page.url.startswith(f"http://127.0.0.1:{port}/")  # no reload, no navigation
    finally:
        context.close()
        news.shutdown()
        news.server_close()


def tmp_article(folder: Path, base: str, slug: str) -> Path:
    """A news site's article embedding the petition's widget, in a folder of this test's own."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"article-{slug}.html"
    path.write_text(
        "<!doctype html><html lang=en><head><title>News</title></head><body><h1>Big news</h1>"
        f'<iframe src="{base}/embed/{slug}" width="400" height="200" title="Petition"></iframe></body></html>'
    )
    return path


def test_public_counts_are_the_same_for_every_visitor_so_a_cdn_keeps_one_copy(app, client, slug) -> None:
    """No Vary: Cookie and no Set-Cookie on the press endpoints, even for a visitor who has a session."""
    page = client.get(f"/petitions/{slug}")  # the signing form puts a CSRF token in this visitor's session
    assert "Set-Cookie" in page.headers and "Cookie" in page.headers.get("Vary", "")
    assert client.get_cookie("session") is not None
    for path in (
        f"/api/v1/petitions/{slug}/count",
        f"/api/v1/petitions/{slug}",
        f"/petitions/{slug}/badge.svg",
        f"/embed/{slug}",
        f"/oembed?url=http://localhost/petitions/{slug}",
    ):
        response = client.get(path)
        assert response.status_code == 200, path
        assert "public" in response.headers["Cache-Control"], path
        assert "Cookie" not in response.headers.get("Vary", ""), (path, response.headers.get("Vary"))
        assert "Set-Cookie" not in response.headers, path
        assert response.headers["X-Content-Type-Options"] == "nosniff", path
        assert len(response.headers.getlist("Content-Security-Policy")) == 1, path
        again = client.get(path, headers={"If-None-Match": response.headers["ETag"]})
        assert again.status_code == 304 and again.data == b"", path
        assert "Content-Type" not in again.headers and "Cookie" not in again.headers.get("Vary", ""), path


def test_the_micro_cache_replays_exactly_what_flask_answered_and_only_for_its_short_life(app, client, slug) -> None:
    """A repeat request to the count or the badge is answered below Flask with Flask's own bytes and headers."""
    from petitions.web import microcache

    app.config["COUNT_MAX_AGE"] = 2
    seconds = microcache.ttl(app.config)
    assert 0 < seconds <= 0.25
    served: list[str] = []
    app.before_request(lambda: served.append("flask"))
    for path in (f"/api/v1/petitions/{slug}/count", f"/petitions/{slug}/badge.svg"):
        served.clear()
        first = client.get(path)
        again = client.get(path)
        assert served == ["flask"], path  # the second answer did not go through Flask
        assert again.data == first.data and again.status == first.status
        assert sorted(again.headers.items()) == sorted(first.headers.items())
        not_modified = client.get(path, headers={"If-None-Match": first.headers["ETag"]})
        assert not_modified.status_code == 304 and not_modified.data == b""
        assert "Content-Type" not in not_modified.headers and not_modified.headers["ETag"] == first.headers["ETag"]
        assert served == ["flask"]
        # a query string, another method, or a cookie-setting page is never replayed
        client.get(path + "?label=x")
        assert served == ["flask", "flask"]
        time.sleep(seconds + 0.05)
        client.get(path)
        assert served == ["flask", "flask", "flask"], path  # expired: Flask answers again
    # a 404 is not kept
    served.clear()
    client.get("/api/v1/petitions/no-such-petition/count")
    client.get("/api/v1/petitions/no-such-petition/count")
    assert served == ["flask", "flask"]
