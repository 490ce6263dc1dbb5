"""Structured logs (LOG_FORMAT=json): one JSON object per line, for a log collector to parse.

Also named by gunicorn.conf.py for gunicorn's own loggers, so it imports nothing but the
standard library and Flask's request proxies: gunicorn's master loads it before any worker,
and a gevent worker must not find sockets or SSL imported before its monkey-patching.
"""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime
from typing import Any

# A request id from the reverse proxy (Caddy: header_up X-Request-ID {http.request.uuid}) is written
# into the log as it came only if it looks like one; anything else is a client's text, not an id.
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")

# gunicorn's access log passes its atoms as the record's arguments: these are kept as fields.
_ACCESS_FIELDS = {"h": "remote", "m": "method", "U": "path", "s": "status", "B": "bytes", "M": "duration_ms"}


def request_id(value: str | None) -> str | None:
    """The proxy's request id, if the header holds one."""
    return value if value and _REQUEST_ID.fullmatch(value) else None


def _current_request_id() -> str | None:
    """The request id of the request this thread is serving, if any."""
    try:
        from flask import has_request_context, request
    except ImportError:  # pragma: no cover (gunicorn without the app's requirements)
        return None
    if not has_request_context():
        return None
    return request_id(request.headers.get("X-Request-ID"))


class JSONFormatter(logging.Formatter):
    """A record as one line of JSON: time (UTC, ISO 8601), level, logger, message, and where there is
    one the request id; a traceback as one string field, so it cannot break the line up."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as a JSON object with no line breaks."""
        doc: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "pid": record.process,
        }
        if record.name == "gunicorn.access" and isinstance(record.args, dict):
            atoms = record.args
            doc["message"] = f"{atoms.get('m')} {atoms.get('U')} {atoms.get('s')}"
            for atom, field in _ACCESS_FIELDS.items():
                if atoms.get(atom) not in (None, "-"):
                    doc[field] = atoms[atom]
            rid = request_id(atoms.get("{x-request-id}i"))
        else:
            doc["message"] = record.getMessage()
            rid = _current_request_id()
        if rid:
            doc["request_id"] = rid
        if record.exc_info:
            doc["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            doc["exception"] = record.exc_text
        return json.dumps(doc, ensure_ascii=False, default=str)


def gunicorn_config(*, access: bool = True) -> dict[str, Any]:
    """logging.config.dictConfig for gunicorn's loggers and the root (the app's), all as JSON lines:
    errors and the app's logs on stderr, the access log on stdout, as gunicorn's defaults do. Without
    `access` the access log's level is above what it writes: gunicorn logs access whenever a logging
    configuration is given."""
    formatter = {"json": {"()": f"{__name__}.JSONFormatter"}}
    handlers = {
        "stderr": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"},
        "stdout": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stdout"},
    }
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": formatter,
        "handlers": handlers,
        "root": {"level": "INFO", "handlers": ["stderr"]},
        "loggers": {
            "gunicorn.error": {"level": "INFO", "handlers": ["stderr"], "propagate": False},
            "gunicorn.access": {"level": "INFO" if access else "WARNING", "handlers": ["stdout"], "propagate": False},
        },
    }
