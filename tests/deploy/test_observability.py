"""The shipped gunicorn.conf.py with LOG_FORMAT=json and METRICS_TOKEN, on SQLite and PostgreSQL:
every line it writes is one JSON object, the proxy's request id is in the access line, and /metrics
adds up the counts of both workers (prometheus-client's multiprocess mode)."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.faults.helpers import start_gunicorn

pytestmark = pytest.mark.slow

TOKEN = "observability-token"  # noqa: S105


def test_json_logs_and_metrics_summed_over_the_workers(database_url: str, tmp_path: Path) -> None:
    with contextlib.ExitStack() as stack:
        server = start_gunicorn(
            stack,
            tmp_path,
            database_url,
            workers=2,
            threads=2,
            LOG_FORMAT="json",
            METRICS_TOKEN=TOKEN,
            GUNICORN_ACCESS_LOG="-",
        )
        before = _healthz_count(server.url)
        # Fresh connections, so the kernel spreads them over both workers' sockets (SO_REUSEPORT).
        for n in range(40):
            with requests.get(f"{server.url}/healthz", headers={"X-Request-ID": f"req-{n}"}, timeout=10) as r:
                assert r.status_code == 200
        with requests.get(f"{server.url}/metrics", timeout=10) as r:
            assert r.status_code == 401
        with requests.get(f"{server.url}/metrics", headers={"Authorization": "Bearer wrong"}, timeout=10) as r:
            assert r.status_code == 403
        assert _healthz_count(server.url) == before + 40
        server.proc.stop()

    lines = [json.loads(line) for line in server.proc.log_path.read_text().splitlines()]
    assert all(isinstance(doc, dict) and {"time", "level", "logger", "message"} <= doc.keys() for doc in lines)
    access = [doc for doc in lines if doc["logger"] == "gunicorn.access" and "request_id" in doc]
    assert sorted(doc["request_id"] for doc in access) == sorted(f"req-{n}" for n in range(40))
    assert all(doc["status"] == "200" and doc["method"] == "GET" for doc in access)
    assert len({doc["pid"] for doc in access}) == 2, "both workers served, and /metrics counted both"


def _healthz_count(url: str) -> float:
    """/healthz answers counted at /metrics, all workers together; checks the database gauge on the way."""
    with requests.get(f"{url}/metrics", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10) as r:
        assert r.status_code == 200, r.text
        samples = {
            (s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(r.text)
            for s in family.samples
        }
    assert samples[("petitions_database_up", ())] == 1
    return samples.get(("petitions_http_requests_total", (("endpoint", "public.healthz"), ("status", "200"))), 0.0)
