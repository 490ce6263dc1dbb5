"""Live counts for Server-Sent Events: one watcher per process, however many streams are open.

Streams never query the database themselves. A per-process hub polls the counts of the
petitions that open streams watch, in one query, every COUNT_POLL_INTERVAL seconds; with
REDIS_URL set it instead wakes on a message that every process publishes after a commit that
moved a count, so a confirmation reaches viewers on every machine at once (with a slow poll
kept as a safety net). Changes are coalesced: a stream gets at most one event per interval.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Generator
from typing import Any

from flask import Flask, current_app, has_app_context
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from petitions.clock import iso, utcnow
from petitions.extensions import db
from petitions.infra.ttlcache import TTLCache
from petitions.models import Petition

log = logging.getLogger(__name__)
CHANNEL = "petitions:counts"


def count_doc(row: Any, now: Any) -> dict[str, Any]:
    """The count JSON of CONTRACT.md from a petition (or a row with the same fields)."""
    status = row.status
    if status == "open" and row.closes_at is not None and now >= row.closes_at:
        status = "closed"
    return {
        "slug": row.slug,
        "signature_count": row.signature_count,
        # The campaigner's statement of signatures on paper, never part of signature_count.
        "paper_signature_count": row.paper_signature_count,
        "goal": row.goal,
        "status": status,
        "outcome": row.outcome,
        "updated_at": iso(row.count_updated_at),
    }


class CountHub:
    """Watches the counts of petitions with open streams and wakes the streams when one changes."""

    def __init__(self, app: Flask) -> None:
        """Create an idle hub; its watcher thread starts with the first stream."""
        self.app = app
        self.cond = threading.Condition()
        self.listeners: dict[int, int] = {}  # petition id -> open streams
        self.open = 0  # open streams, all petitions
        self.latest: dict[int, tuple[int, dict[str, Any]]] = {}  # petition id -> (version, doc)
        self.thread: threading.Thread | None = None
        self.interval = float(app.config["COUNT_POLL_INTERVAL"])
        self.closed = False
        self.redis_url = app.config.get("REDIS_URL")

    # --- streams ---------------------------------------------------------------------------

    def subscribe(self, petition: Petition, limit: int | None = None) -> tuple[int, dict[str, Any]] | None:
        """Register a stream and return the current (version, doc); None if `limit` streams are open already."""
        with self.cond:
            if limit is not None and self.open >= limit:
                return None
            self.open += 1
            self.listeners[petition.id] = self.listeners.get(petition.id, 0) + 1
            if petition.id not in self.latest:
                self.latest[petition.id] = (1, count_doc(petition, utcnow()))
            self._ensure_thread()
            return self.latest[petition.id]

    def unsubscribe(self, petition_id: int) -> None:
        """Forget a stream."""
        with self.cond:
            if petition_id not in self.listeners:  # the hub was closed meanwhile
                return
            self.open -= 1
            n = self.listeners[petition_id] - 1
            if n <= 0:
                self.listeners.pop(petition_id, None)
                self.latest.pop(petition_id, None)
            else:
                self.listeners[petition_id] = n

    def wait(self, petition_id: int, version: int, timeout: float) -> tuple[int, dict[str, Any]]:
        """Block until the petition's version differs from `version`, or the timeout passes."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                current = self.latest.get(petition_id, (version, {}))
                remaining = deadline - time.monotonic()
                if current[0] != version or remaining <= 0 or self.closed:
                    return current
                self.cond.wait(remaining)

    def close(self) -> None:
        """End every stream and the watcher (on shutdown)."""
        with self.cond:
            self.closed = True
            self.listeners.clear()
            self.open = 0
            self.cond.notify_all()

    @property
    def streams(self) -> int:
        """How many streams are open in this process."""
        with self.cond:
            return self.open

    # --- the watcher -----------------------------------------------------------------------

    def _ensure_thread(self) -> None:
        if self.thread is None or not self.thread.is_alive():
            self.thread = threading.Thread(target=self._run, name="count-hub", daemon=True)
            self.thread.start()

    def _run(self) -> None:
        pubsub = None
        if self.redis_url:
            try:
                import redis

                pubsub = redis.Redis.from_url(self.redis_url).pubsub(ignore_subscribe_messages=True)
                pubsub.subscribe(CHANNEL)
            except Exception:
                log.exception("Live counts: Redis unavailable, polling the database instead")
                pubsub = None
        last_poll = 0.0
        while True:
            with self.cond:
                if not self.listeners or self.closed:  # the last stream closed: stop until the next one opens
                    self.thread = None
                    if pubsub is not None:
                        pubsub.close()
                    return
            try:
                if pubsub is not None:
                    # Wake on a published change; poll anyway now and then in case a message was missed.
                    message = pubsub.get_message(timeout=self.interval)
                    due = message is not None or time.monotonic() - last_poll > 10 * self.interval
                    if message is not None:
                        time.sleep(min(0.25, self.interval))  # coalesce a burst into one query
                        while pubsub.get_message(timeout=0) is not None:
                            pass
                else:
                    time.sleep(self.interval)
                    due = True
                if due:
                    self.poll()
                    last_poll = time.monotonic()
            except Exception:
                log.exception("Live counts: poll failed; trying again")
                time.sleep(self.interval)

    def poll(self) -> None:
        """Read the watched counts in one query and wake the streams whose count changed."""
        with self.cond:
            ids = list(self.listeners)
        if not ids:
            return
        with self.app.app_context():
            try:
                rows = db.session.execute(
                    select(
                        Petition.id,
                        Petition.slug,
                        Petition.signature_count,
                        Petition.goal,
                        Petition.status,
                        Petition.closes_at,
                        Petition.count_updated_at,
                        Petition.paper_signature_count,
                        Petition.outcome,
                    ).where(Petition.id.in_(ids))
                ).all()
            finally:
                db.session.remove()
        now = utcnow()
        changed = False
        with self.cond:
            for row in rows:
                doc = count_doc(row, now)
                version, old = self.latest.get(row.id, (0, None))
                if row.id in self.listeners and doc != old:
                    self.latest[row.id] = (version + 1, doc)
                    changed = True
            if changed:
                self.cond.notify_all()


def hub(app: Flask) -> CountHub:
    """This process's hub, created on first use."""
    h: CountHub | None = app.extensions.get("count_hub")
    if h is None:
        h = app.extensions.setdefault("count_hub", CountHub(app))
    return h


def stream(app: Flask, petition: Petition) -> EventStream | None:
    """The event stream of a petition's count, or None when this process holds SSE_MAX_STREAMS already.

    Under threaded workers an open stream holds a thread, so a process keeps only so many: the
    rest of its threads stay free for pages, whatever number of readers come.
    """
    h = hub(app)
    current = h.subscribe(petition, app.config["SSE_MAX_STREAMS"])
    if current is None:
        return None
    return EventStream(app, h, petition.id, *current)


class EventStream:
    """One reader's stream (the current count, then every change, with heartbeats) holding one
    of the process's stream places until it ends or the server closes it, started or not."""

    def __init__(self, app: Flask, h: CountHub, petition_id: int, version: int, doc: dict[str, Any]) -> None:
        """Wrap a subscription the hub has just granted."""
        self.hub = h
        self.petition_id = petition_id
        self.released = False
        self.events = self._events(app, version, doc)

    def __iter__(self) -> EventStream:
        return self

    def __next__(self) -> str:
        return next(self.events)

    def close(self) -> None:
        """End the stream and give its place back (the WSGI server calls this, even if nothing was sent)."""
        self.events.close()
        self._release()

    def _release(self) -> None:
        if not self.released:
            self.released = True
            self.hub.unsubscribe(self.petition_id)

    def _events(self, app: Flask, version: int, doc: dict[str, Any]) -> Generator[str, None, None]:
        h = self.hub
        heartbeat = float(app.config["SSE_HEARTBEAT"])
        ends = time.monotonic() + float(app.config["SSE_MAX_SECONDS"])
        try:
            yield f"retry: {int(app.config['SSE_RETRY_MS'])}\n\n"
            yield f"event: count\ndata: {json.dumps(doc)}\n\n"
            while time.monotonic() < ends and not h.closed:
                new_version, doc = h.wait(self.petition_id, version, min(heartbeat, max(0.0, ends - time.monotonic())))
                if new_version == version:
                    yield ": heartbeat\n\n"
                    continue
                version = new_version
                if doc.get("status") not in ("open", "closed"):
                    return  # hidden by a moderator meanwhile: the stream ends
                yield f"event: count\ndata: {json.dumps(doc)}\n\n"
        finally:
            self._release()


def busy(doc: dict[str, Any], retry_seconds: int) -> str:
    """The whole answer of a stream refused for lack of places: the count now, then `busy`.

    An EventSource reconnects after `retry:`; the widget instead closes it on `busy` and polls
    the cached count endpoint, which a CDN can serve.
    """
    return (
        f"retry: {retry_seconds * 1000}\n\n"
        f"event: count\ndata: {json.dumps(doc)}\n\n"
        f"event: busy\ndata: {json.dumps({'retry_after': retry_seconds})}\n\n"
    )


# --- publishing changes across processes ----------------------------------------------------


def mark_changed(petition_ids: set[int]) -> None:
    """Note that this transaction moved these petitions' counts (published after the commit)."""
    db.session.info.setdefault("counts_changed", set()).update(petition_ids)


@event.listens_for(Session, "after_commit")
def _publish(session: Session) -> None:
    changed = session.info.pop("counts_changed", None)
    if changed:
        publish_changed(changed)


def publish_changed(petition_ids: set[int]) -> None:
    """Tell every process's live hub that these petitions' counts moved (call it after the commit)."""
    if not has_app_context():
        return
    client = current_app.extensions.get("count_publisher")
    if client is None:
        return
    try:
        client.publish(CHANNEL, json.dumps(sorted(petition_ids)))
    except Exception as exc:  # the hubs' slow poll still carries the change
        log.warning("Live counts: could not publish to Redis: %s", exc)


@event.listens_for(Session, "after_rollback")
def _forget(session: Session) -> None:
    session.info.pop("counts_changed", None)


def init_app(app: Flask) -> None:
    """With REDIS_URL set, publish to Redis after each commit that moved a count."""
    url = app.config.get("REDIS_URL")
    if url:
        import redis

        app.extensions["count_publisher"] = redis.Redis.from_url(url, socket_timeout=1, socket_connect_timeout=1)


def count_cache(app: Flask) -> TTLCache[dict[str, Any] | None]:
    """This process's cache of count documents, each kept for less than COUNT_MAX_AGE seconds.

    The count endpoint and the badge are what a viral petition's readers hit; with this, a
    process asks the database about a petition at most once per TTL however many read it.
    """
    cache: TTLCache[dict[str, Any] | None] | None = app.extensions.get("count_cache")
    if cache is None:
        from petitions.config import cache_budget

        # Half the in-process share: the other half is the micro-cache's (petitions/web/microcache.py).
        ttl = cache_budget(app.config)[0] / 2
        cache = app.extensions.setdefault("count_cache", TTLCache(ttl))
    return cache


def load_count(slug: str) -> dict[str, Any] | None:
    """The count document of a public petition, straight from the database."""
    row = db.session.execute(
        select(
            Petition.slug,
            Petition.signature_count,
            Petition.goal,
            Petition.status,
            Petition.closes_at,
            Petition.count_updated_at,
            Petition.paper_signature_count,
            Petition.outcome,
        ).where(Petition.slug == slug, Petition.status.in_(("open", "closed")))
    ).first()
    return None if row is None else count_doc(row, utcnow())


def cached_count(slug: str) -> dict[str, Any] | None:
    """The count document, at most a quarter of COUNT_MAX_AGE (and at most 1 s) old."""
    return count_cache(current_app).get(slug, load_count)
