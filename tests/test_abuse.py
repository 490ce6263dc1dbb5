"""Abuse: rate limits (shared through Redis), client addresses behind proxies."""

from __future__ import annotations

import uuid

import pytest
import redis

from .conftest import csrf_from, make_app, make_user

REDIS_URL = "redis://127.0.0.1:6379/1"


@pytest.fixture
def redis_url():
    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except redis.RedisError as exc:
        pytest.fail(f"Redis is not answering at {REDIS_URL}: {exc}")
    yield REDIS_URL
    client.close()


def attempt_login(client, ip: str = "198.51.100.7"):
    page = client.get("/login", environ_base={"REMOTE_ADDR": ip})
    return client.post(
        "/login",
        data={"email": "casey@example.org", "password": "wrong password!", "csrf_token": csrf_from(page.text)},
        environ_base={"REMOTE_ADDR": ip},
    )


def test_login_is_limited_per_address_with_a_clear_429(app, client) -> None:
    app.config["RATELIMIT_LOGIN"] = "3 per minute"
    with app.app_context():
        make_user("casey@example.org")
    assert [attempt_login(client).status_code for _ in range(3)] == [422, 422, 422]
    blocked = attempt_login(client)
    assert blocked.status_code == 429
    assert "Too many attempts" in blocked.text
    assert int(blocked.headers["Retry-After"]) > 0
    assert attempt_login(client, ip="198.51.100.8").status_code == 422  # another address is not blocked


OTHER_PROCESS = """
import re, sys
from petitions import create_app
app = create_app({"DATABASE_URL": sys.argv[1], "SECRET_KEY": "x", "REDIS_URL": sys.argv[2],
                  "RATELIMIT_LOGIN": "4 per minute"})
client = app.test_client()
codes = []
for _ in range(2):
    page = client.get("/login", environ_base={"REMOTE_ADDR": sys.argv[3]})
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page.text).group(1)
    r = client.post("/login", data={"email": "x@example.org", "password": "wrong password!", "csrf_token": token},
                    environ_base={"REMOTE_ADDR": sys.argv[3]})
    codes.append(r.status_code)
print(codes)
"""


def test_limits_are_shared_by_every_process_through_redis(database_url, smtp_server, tmp_path, redis_url) -> None:
    """Two attempts in another process and two here use up a limit of four: the fifth is refused."""
    import subprocess
    import sys

    from .conftest import ROOT

    ip = f"2001:db8::{uuid.uuid4().hex[:4]}"  # this run's own counters in the shared Redis
    other = subprocess.run([sys.executable, "-c", OTHER_PROCESS, database_url, redis_url, ip],
                           cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert other.stdout.strip().splitlines()[-1] == "[422, 422]", other.stderr[-2000:]
    here = make_app(database_url, smtp_server, tmp_path, REDIS_URL=redis_url, RATELIMIT_STORAGE_URI=redis_url,
                    RATELIMIT_LOGIN="4 per minute")
    client = here.test_client()
    assert [attempt_login(client, ip=ip).status_code for _ in range(3)] == [422, 422, 429]
    with here.app_context():
        from petitions.extensions import db

        db.engine.dispose()


def test_the_client_address_comes_from_proxies_only_when_told_to_trust_them(database_url, smtp_server, tmp_path) -> None:
    from flask import request

    for count, expected in ((0, "127.0.0.1"), (1, "203.0.113.50")):
        app = make_app(database_url, smtp_server, tmp_path / str(count), PROXY_COUNT=count)
        app.add_url_rule("/whoami", "whoami", lambda: request.remote_addr or "")
        seen = app.test_client().get("/whoami", headers={"X-Forwarded-For": "10.9.9.9, 203.0.113.50"}).text
        assert seen == expected  # with one proxy, only the address it added counts; the client's own header is ignored
