"""Prometheus metrics at /metrics, for the operator's scraper only (a bearer token, METRICS_TOKEN).

Counters live in the process that counts (requests, signings, confirmations). Under gunicorn
each worker is a process of its own: gunicorn.conf.py points PROMETHEUS_MULTIPROC_DIR at a
folder before the app is imported, prometheus-client then writes each worker's counters to a
file there, and a scrape of any worker adds them all up. What the queues hold (the outbox, the
public logs' backlog) is read from the database at scrape time instead, so any node answers for
the whole site, the mail workers' effect included, whichever machine they run on.
"""

from __future__ import annotations

import hmac
import os
from collections.abc import Iterator
from datetime import datetime

from flask import Flask, Response, abort, current_app, request
from flask_babel import gettext as _
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, Counter, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError

from petitions.clock import utcnow
from petitions.counting.rules import log_out_of_sync
from petitions.extensions import db
from petitions.models import OutboxMessage, Signature

REQUESTS = Counter(
    "petitions_http_requests", "HTTP requests answered by the app, by endpoint and status", ["endpoint", "status"]
)
# What a signing request came to: stored (a signature, new or a repeat of one), stored as suspected,
# or dropped (a bot's filled honeypot: the same answer, nothing stored).
SIGNINGS = Counter("petitions_signings", "Signing forms accepted, by what became of them", ["result"])
CONFIRMATIONS = Counter("petitions_confirmations", "Signatures confirmed (first presses only)")


def count_request(response: Response) -> Response:
    """Count the response by its endpoint (the URL rule's name, not the path: a bounded set) and status."""
    REQUESTS.labels(request.endpoint or "unmatched", str(response.status_code)).inc()
    return response


class DatabaseGauges(Collector):
    """The queues as the database holds them at scrape time: the outbox, failed mail, the logs' backlog."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        """One query per figure, in the app context of the scrape; a database that does not answer says so."""
        up = GaugeMetricFamily("petitions_database_up", "1 when the database answered the scrape's queries")
        try:
            figures = self._read(utcnow())
        except SQLAlchemyError:
            db.session.rollback()
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        for name, help_text, value in figures:
            yield GaugeMetricFamily(name, help_text, value=value)

    def _read(self, now: datetime) -> list[tuple[str, str, float]]:
        outbox = OutboxMessage
        unsent = (outbox.sent_at.is_(None), outbox.failed_at.is_(None))  # the due index's predicate
        depth, oldest, retrying = db.session.execute(
            select(
                func.count(),
                func.min(outbox.created_at),
                func.count().filter(outbox.attempts > 0),
            ).where(*unsent)
        ).one()
        failed = db.session.scalar(select(func.count()).where(outbox.failed_at.is_not(None))) or 0
        lag = db.session.scalar(select(func.count()).select_from(Signature).where(log_out_of_sync())) or 0
        age = max(0.0, (now - oldest).total_seconds()) if oldest is not None else 0.0
        return [
            ("petitions_outbox_depth", "Emails waiting to be sent (unsent and not given up)", depth),
            ("petitions_outbox_oldest_age_seconds", "Age of the oldest email waiting to be sent; 0 when none", age),
            ("petitions_mail_retrying", "Emails waiting to be sent that failed at least once", retrying),
            ("petitions_mail_failed", "Emails given up (refused, or failing for days), kept with their error", failed),
            ("petitions_log_sequencing_lag", "Signatures whose change waits to be appended to the public log", lag),
        ]


def _exposition() -> bytes:
    """Every worker's counters under gunicorn (multiprocess mode), else this process's registry (with its
    CPU, memory and Python figures); then the database's gauges."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        counters = CollectorRegistry()
        multiprocess.MultiProcessCollector(counters)  # type: ignore[no-untyped-call]  # prometheus-client leaves it unannotated
    else:
        counters = REGISTRY
    gauges = CollectorRegistry(auto_describe=False)
    gauges.register(DatabaseGauges())
    return generate_latest(counters) + generate_latest(gauges)


def metrics() -> Response:
    """The metrics in Prometheus' text format, for a request with `Authorization: Bearer <METRICS_TOKEN>`.

    Not served at all (404) without METRICS_TOKEN; 401 without a token, 403 with a wrong one. The
    comparison takes the same time however much of the token is right.
    """
    token = current_app.config.get("METRICS_TOKEN")
    if not token:
        abort(404)
    scheme, _sep, given = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not given.strip():
        return Response(_("A bearer token is required.") + "\n", 401, {"WWW-Authenticate": 'Bearer realm="metrics"'})
    if not hmac.compare_digest(given.strip().encode(), str(token).encode()):
        return Response(_("This token is not the metrics token.") + "\n", 403)
    body = _exposition()
    return Response(body, 200, {"Content-Type": CONTENT_TYPE_LATEST, "Cache-Control": "no-store"})


def init_app(app: Flask) -> None:
    """Count every response, and serve /metrics."""
    app.after_request(count_request)
    app.add_url_rule("/metrics", "metrics", metrics, methods=["GET"])
