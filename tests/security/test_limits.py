"""Request size: a huge body gets a clear 413 unread, and no page sends a field back longer than it may be."""

from __future__ import annotations

import re
import socket
from urllib.parse import urlsplit

import pytest
from sqlalchemy import func, select

from petitions.extensions import db
from petitions.models import Signature
from tests.helpers import csrf_from, login, make_petition, make_user, post_form, started_from

MB = 1024 * 1024
TOO_LARGE = "larger than this site accepts (at most 1 MB), so nothing was saved"


def longest_run(text: str, char: str) -> int:
    """The longest run of `char` in the text: how much of a repeated value came back."""
    return max((len(m) for m in re.findall(re.escape(char) + "+", text)), default=0)


@pytest.fixture
def slug(app) -> str:
    with app.app_context():
        return make_petition(make_user("owner@example.org")).slug


def signatures(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(Signature))


# --- the limit ------------------------------------------------------------------------------


def test_a_body_over_the_limit_gets_a_clear_page_and_nothing_is_kept(app, client, slug) -> None:
    page = client.get(f"/petitions/{slug}")
    response = client.post(
        f"/petitions/{slug}/sign",
        data={
            "csrf_token": csrf_from(page.text),
            "started": started_from(page.text),
            "name": "A" * (2 * MB),
            "email": "big@example.org",
            "country": "GB",
        },
    )
    assert response.status_code == 413
    assert response.mimetype == "text/html"
    assert TOO_LARGE in response.text
    assert longest_run(response.text, "A") < 10 and len(response.data) < 20_000
    assert signatures(app) == 0


def test_the_api_answers_413_in_json(client) -> None:
    response = client.post("/api/v1/petitions", data="x" * (2 * MB), content_type="application/x-www-form-urlencoded")
    assert response.status_code == 413
    assert TOO_LARGE in response.get_json()["error"]


def test_a_body_just_under_the_limit_is_still_read(app, client, slug) -> None:
    """The limit is on size alone: a form under it is answered as usual (here: its field too long)."""
    page = client.get(f"/petitions/{slug}")
    response = client.post(
        f"/petitions/{slug}/sign",
        data={
            "csrf_token": csrf_from(page.text),
            "started": started_from(page.text),
            "name": "A" * (MB - 2000),
            "email": "big@example.org",
            "country": "GB",
        },
    )
    assert response.status_code == 422
    assert "Please keep your name under 100 characters." in response.text


def _raw_post(url: str, path: str, head: str, body_parts) -> str:
    """POST over a real socket, sending the body in pieces; the status line and headers received."""
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=30) as sock:
        sock.sendall(
            (
                f"POST {path} HTTP/1.1\r\nHost: {parts.netloc}\r\nConnection: close\r\n"
                "Content-Type: application/x-www-form-urlencoded\r\n" + head + "\r\n"
            ).encode()
        )
        try:
            for piece in body_parts:
                sock.sendall(piece)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered and closed without reading the rest: what we want
        received = b""
        while b"\r\n\r\n" not in received:
            chunk = sock.recv(65536)
            if not chunk:
                break
            received += chunk
    return received.decode("latin-1")


def test_a_real_100_mb_post_is_refused_before_it_is_read(live) -> None:
    with live.app.app_context():
        slug = make_petition().slug
    # Announce 100 MB, send one: the answer must come without the other 99.
    answer = _raw_post(
        live.url, f"/petitions/{slug}/sign", f"Content-Length: {100 * MB}\r\n", [b"name=" + b"A" * (MB - 5)]
    )
    assert answer.startswith("HTTP/1.1 413")


def test_a_real_chunked_post_without_a_length_is_cut_at_the_limit(live) -> None:
    with live.app.app_context():
        slug = make_petition().slug
    piece = b"A" * (256 * 1024)
    chunks = [b"5\r\nname=\r\n"] + [b"%x\r\n%s\r\n" % (len(piece), piece)] * 8 + [b"0\r\n\r\n"]
    answer = _raw_post(live.url, f"/petitions/{slug}/sign", "Transfer-Encoding: chunked\r\n", chunks)
    assert answer.startswith("HTTP/1.1 413")
    with live.app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Signature)) == 0


# --- nothing unbounded is sent back ---------------------------------------------------------


def test_the_expired_form_page_does_not_echo_long_fields(app, client, slug) -> None:
    """No CSRF token: the signing form comes back filled in, each field cut to its maximum."""
    client.get(f"/petitions/{slug}")
    response = client.post(
        f"/petitions/{slug}/sign",
        data={
            "name": "N" * 200_000,
            "comment": "C" * 200_000,
            "website": "W" * 50_000,
            "postcode": "P" * 50_000,
            "started": "S" * 50_000,
            "email": "e" * 50_000 + "@example.org",
            "country": "GB",
        },
    )
    assert response.status_code == 400
    assert "This form expired" in response.text
    text = response.text
    assert longest_run(text, "N") == 100 and longest_run(text, "C") == 500 and longest_run(text, "P") == 16
    assert longest_run(text, "e") <= 254 and longest_run(text, "W") <= 200 and longest_run(text, "S") <= 200
    assert len(response.data) < 40_000


def test_a_form_with_errors_does_not_echo_long_fields(app, client, slug) -> None:
    page = client.get(f"/petitions/{slug}")
    response = client.post(
        f"/petitions/{slug}/sign",
        data={
            "csrf_token": csrf_from(page.text),
            "started": started_from(page.text),
            "name": "N" * 400_000,
            "comment": "C" * 400_000,
            "website": "W" * 100_000,
            "email": "sam@example.org",
            "country": "GB",  # just under 1 MB in all
        },
    )
    assert response.status_code == 422
    assert longest_run(response.text, "N") == 100 and longest_run(response.text, "C") == 500
    assert longest_run(response.text, "W") <= 200
    assert signatures(app) == 0


def test_the_petition_form_does_not_echo_long_fields(app, client) -> None:
    with app.app_context():
        make_user()
    login(client)
    response = post_form(
        client,
        "/petitions/new",
        {
            "title": "T" * 250_000,
            "target": "Someone",
            "summary": "S" * 250_000,
            "body": "B" * 250_000,
            "goal": "9" * 200_000,
        },
    )
    assert response.status_code == 422
    text = response.text
    assert longest_run(text, "T") == 150 and longest_run(text, "S") == 500 and longest_run(text, "B") == 20_000
    assert longest_run(text, "9") <= 200
