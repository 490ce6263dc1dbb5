"""The OpenAPI description of the JSON API, served at /api/v1/openapi.json."""

from __future__ import annotations

from typing import Any

_PAPER = {
    "type": "integer",
    "minimum": 0,
    "description": "Signatures the campaign collected on paper, as the campaigner states them (batches an"
    " administrator rejected left out); not verified by the site, never part of signature_count or the log.",
}
_OUTCOME = {
    "type": ["string", "null"],
    "enum": ["won", None],
    "description": "What the petition achieved: won, or null. Independent of status, which says only"
    " whether it takes signatures.",
}

_COUNT = {
    "type": "object",
    "required": ["slug", "signature_count", "paper_signature_count", "goal", "status", "outcome", "updated_at"],
    "properties": {
        "slug": {"type": "string"},
        "signature_count": {"type": "integer", "minimum": 0, "description": "Confirmed, valid signatures only."},
        "paper_signature_count": _PAPER,
        "goal": {"type": "integer", "minimum": 1},
        "status": {"type": "string", "enum": ["open", "closed"]},
        "outcome": _OUTCOME,
        "updated_at": {"type": "string", "format": "date-time", "description": "When the count last changed (UTC)."},
    },
}

_SUMMARY = {
    "type": "object",
    "required": [
        "slug",
        "title",
        "target",
        "summary",
        "url",
        "status",
        "signature_count",
        "paper_signature_count",
        "goal",
        "outcome",
        "created_at",
        "closes_at",
        "updated_at",
    ],
    "properties": {
        "slug": {"type": "string"},
        "title": {"type": "string"},
        "target": {"type": "string", "description": "To whom the petition is addressed."},
        "summary": {"type": "string"},
        "url": {"type": "string", "format": "uri"},
        "status": {"type": "string", "enum": ["open", "closed"]},
        "signature_count": {"type": "integer", "minimum": 0},
        "paper_signature_count": _PAPER,
        "goal": {"type": "integer", "minimum": 1},
        "outcome": _OUTCOME,
        "created_at": {"type": "string", "format": "date-time"},
        "closes_at": {"type": ["string", "null"], "format": "date-time"},
        "updated_at": {"type": "string", "format": "date-time"},
    },
}

_PETITION = {
    "allOf": [
        {"$ref": "#/components/schemas/PetitionSummary"},
        {
            "type": "object",
            "required": ["language", "translations", "signatures_by_country", "supporter_groups", "log"],
            "properties": {
                "language": {
                    "type": "string",
                    "description": "The language the petition is written in (a code such as en, es, pt_BR).",
                },
                "translations": {
                    "type": "object",
                    "description": "The petition's text in other languages, by language code, as its campaigner"
                    " wrote it. People sign the petition as written in `language`.",
                    "additionalProperties": {
                        "type": "object",
                        "required": ["title", "target", "summary", "body_html"],
                        "properties": {
                            "title": {"type": "string"},
                            "target": {"type": "string"},
                            "summary": {"type": "string"},
                            "body_html": {"type": "string", "description": "Sanitised HTML from the Markdown."},
                        },
                    },
                },
                "signatures_by_country": {
                    "type": "object",
                    "additionalProperties": {"type": "integer"},
                    "description": "Confirmed signatures by ISO 3166-1 alpha-2 country code.",
                },
                "supporter_groups": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["name", "signature_count"],
                        "properties": {
                            "name": {"type": "string"},
                            "signature_count": {"type": ["integer", "null"]},
                            "fewer_than": {"type": "integer"},
                        },
                    },
                    "description": "Confirmed signatures from the email domains of a group such as 'Amazon employees'."
                    " A group with fewer than GROUP_MIN_COUNT (5) has signature_count null and fewer_than 5,"
                    " so that no count singles out its few signers.",
                },
                "log": {
                    "type": "object",
                    "required": ["size", "count", "checkpoint_url"],
                    "properties": {
                        "size": {"type": "integer", "minimum": 0},
                        "count": {"type": "integer", "minimum": 0},
                        "checkpoint_url": {"type": ["string", "null"], "format": "uri"},
                    },
                    "description": "The petition's public log as of its latest signed checkpoint: its entries, the"
                    " count they add up to (signature_count once the log has caught up, within LOG_INTERVAL"
                    " seconds), and the checkpoint's address; 0, 0 and null before its first entry.",
                },
            },
        },
    ]
}

_HISTORY = {
    "type": "object",
    "required": ["slug", "hourly", "daily", "milestones"],
    "properties": {
        "slug": {"type": "string"},
        "hourly": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["hour", "signatures"],
                "properties": {
                    "hour": {"type": "string", "format": "date-time", "description": "The hour's start (UTC)."},
                    "signatures": {"type": "integer", "minimum": 1},
                },
            },
        },
        "daily": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["day", "signatures"],
                "properties": {
                    "day": {"type": "string", "format": "date", "description": "The UTC day."},
                    "signatures": {"type": "integer", "minimum": 1},
                },
            },
        },
        "milestones": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["threshold", "reached_at", "goal"],
                "properties": {
                    "threshold": {"type": "integer", "minimum": 1},
                    "reached_at": {"type": "string", "format": "date-time"},
                    "goal": {"type": "boolean", "description": "The threshold was the petition's goal then."},
                },
            },
            "description": "100, 1,000, 10,000, 100,000, 1,000,000 and the goal, each recorded once, when the"
            " count first reached it (noticed within seconds), in the order reached.",
        },
    },
    "description": "Signatures that count today, by the UTC hour and day in which each was confirmed, oldest"
    " first; periods without any are left out. A signature invalidated or withdrawn later is taken out of the"
    " period it was confirmed in, so the periods never go negative and add up to signature_count.",
}

_SIGNERS = {
    "type": "object",
    "required": ["slug", "page", "per_page", "signers", "next", "prev"],
    "properties": {
        "slug": {"type": "string"},
        "page": {"type": "integer", "minimum": 1, "maximum": 500},
        "per_page": {"type": "integer"},
        "signers": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["name", "country", "comment", "organisation", "job_title", "confirmed_on"],
                "properties": {
                    "name": {"type": "string"},
                    "country": {"type": "string", "description": "ISO 3166-1 alpha-2."},
                    "comment": {"type": ["string", "null"]},
                    "organisation": {"type": ["string", "null"]},
                    "job_title": {"type": ["string", "null"]},
                    "confirmed_on": {"type": "string", "format": "date", "description": "The UTC day."},
                },
            },
        },
        "next": {"type": ["string", "null"], "description": "The URL of the next (older) page, if any."},
        "prev": {"type": ["string", "null"], "description": "The URL of the previous (newer) page, if any."},
    },
    "description": "Confirmed, counted signers who chose to show their name, most recently confirmed first,"
    " without those the campaigner hid; never an email address. Only the latest 10,000 are served.",
}

_ERROR = {"type": "object", "required": ["error"], "properties": {"error": {"type": "string"}}}


def _json(schema_ref: str, description: str) -> dict[str, Any]:
    return {
        "description": description,
        "headers": {"ETag": {"schema": {"type": "string"}}, "Cache-Control": {"schema": {"type": "string"}}},
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema_ref}"}}},
    }


_ERRORS = {
    "304": {"description": "Not modified: the ETag in If-None-Match is still current."},
    "404": {
        "description": "No public petition has that slug.",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    },
    "429": {
        "description": "Too many requests; see Retry-After.",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    },
}

_SLUG = {"name": "slug", "in": "path", "required": True, "schema": {"type": "string"}}


def spec(base_url: str) -> dict[str, Any]:
    """The OpenAPI document, with this site's address as its server."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Petitions API",
            "version": "1",
            "description": (
                "Live signature counts and petition data. Counts are confirmed, valid signatures only. "
                "Every response is public and CORS-open; counts may be cached for COUNT_MAX_AGE seconds "
                "(2 by default) and carry an ETag: send If-None-Match to get 304 Not Modified. "
                "Live updates: Server-Sent Events at /petitions/{slug}/events (event `count`); a server "
                "holding all the streams it may answers at once with the count, an event `busy` and a "
                "`retry:` hint (also Retry-After): poll /count meanwhile. "
                "Rate limits: reads are not limited per client beyond what the operator sets at the proxy; "
                "signing and account forms are limited per address."
            ),
        },
        "servers": [{"url": base_url + "/api/v1"}],
        "paths": {
            "/petitions": {
                "get": {
                    "summary": "List public petitions",
                    "parameters": [
                        {
                            "name": "status",
                            "in": "query",
                            "schema": {"type": "string", "enum": ["open", "closed", "all"], "default": "open"},
                        },
                        {
                            "name": "q",
                            "in": "query",
                            "schema": {"type": "string", "maxLength": 100},
                            "description": "Search in title, summary and target.",
                        },
                        {
                            "name": "sort",
                            "in": "query",
                            "schema": {
                                "type": "string",
                                "enum": ["popular", "count", "new", "date"],
                                "default": "popular",
                            },
                        },
                        {"name": "page", "in": "query", "schema": {"type": "integer", "minimum": 1, "default": 1}},
                        {
                            "name": "per_page",
                            "in": "query",
                            "schema": {"type": "integer", "minimum": 1, "maximum": 100, "default": 20},
                        },
                    ],
                    "responses": {
                        "200": _json("PetitionList", "A page of petitions."),
                        "400": {
                            "description": "A bad parameter.",
                            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
                        },
                        "304": _ERRORS["304"],
                    },
                }
            },
            "/petitions/{slug}": {
                "get": {
                    "summary": "One petition with its counts by country and by supporter group",
                    "parameters": [_SLUG],
                    "responses": {"200": _json("Petition", "The petition."), **_ERRORS},
                }
            },
            "/petitions/{slug}/count": {
                "get": {
                    "summary": "The live count of one petition (cheap, cacheable)",
                    "parameters": [_SLUG],
                    "responses": {"200": _json("Count", "The count."), **_ERRORS},
                }
            },
            "/petitions/{slug}/history": {
                "get": {
                    "summary": "New signatures per hour and per day, adding up to the count (cacheable)",
                    "description": "The same as CSV at /petitions/{slug}/history.csv on the site (?by=day for days).",
                    "parameters": [_SLUG],
                    "responses": {"200": _json("History", "The history."), **_ERRORS},
                }
            },
            "/petitions/{slug}/signers": {
                "get": {
                    "summary": "The public list of signers, 20 a page (cacheable)",
                    "parameters": [
                        _SLUG,
                        {
                            "name": "page",
                            "in": "query",
                            "schema": {"type": "integer", "minimum": 1, "maximum": 500, "default": 1},
                        },
                    ],
                    "responses": {
                        "200": _json("Signers", "A page of the list."),
                        "400": {
                            "description": "A bad page number.",
                            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
                        },
                        **_ERRORS,
                    },
                }
            },
        },
        "components": {
            "schemas": {
                "Count": _COUNT,
                "Signers": _SIGNERS,
                "History": _HISTORY,
                "PetitionSummary": _SUMMARY,
                "Petition": _PETITION,
                "PetitionList": {
                    "type": "object",
                    "required": ["petitions", "page", "per_page", "total", "pages"],
                    "properties": {
                        "petitions": {"type": "array", "items": {"$ref": "#/components/schemas/PetitionSummary"}},
                        "page": {"type": "integer"},
                        "per_page": {"type": "integer"},
                        "total": {"type": "integer"},
                        "pages": {"type": "integer"},
                    },
                },
                "Error": _ERROR,
            }
        },
    }
