"""Registering webhook endpoints: the URL rule, the secret, the events they receive."""

from __future__ import annotations

import base64
import ipaddress
import secrets
import socket
from datetime import datetime
from urllib.parse import urlsplit

from flask_babel import gettext as _
from sqlalchemy import select

from petitions.exceptions import DomainError
from petitions.extensions import db
from petitions.models import WebhookEndpoint

# The event types (CONTRACT.md, "Webhooks").
EVENTS = ("milestone", "petition.closed", "petition.responded")
MAX_PER_OWNER = 10  # endpoints per petition, or site-wide


class BadEndpoint(DomainError):
    """A URL or a choice of events that cannot be registered; the message says why."""


def new_secret() -> str:
    """A Standard Webhooks secret: "whsec_" and the base64 of 32 random bytes."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def key_of(secret: str) -> bytes:
    """The HMAC key a secret stands for."""
    return base64.b64decode(secret.removeprefix("whsec_"))


def is_public(address: str) -> bool:
    """True for an address on the public internet: not loopback, private, link-local, reserved or multicast."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def check_url(url: str, *, allow_private: bool) -> str:
    """The URL, cleaned, when webhooks may be sent to it; else BadEndpoint.

    http or https only, with a host and no user name or password in it; unless allow_private,
    every address the host resolves to must be public. The delivery checks again the address
    it actually connects to, since a name may resolve elsewhere by then.
    """
    url = url.strip()
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise BadEndpoint(_("That is not a valid URL.")) from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise BadEndpoint(_("The URL must start with http:// or https:// and name a host."))
    if parts.username or parts.password:
        raise BadEndpoint(_("The URL must not contain a user name or password."))
    if len(url) > 2000:
        raise BadEndpoint(_("The URL must be at most 2,000 characters."))
    if allow_private:
        return url
    try:
        infos = socket.getaddrinfo(parts.hostname, port or (443 if parts.scheme == "https" else 80))
    except (OSError, UnicodeError):
        raise BadEndpoint(_("The host %(host)s cannot be found.", host=parts.hostname)) from None
    if not infos or not all(is_public(str(info[4][0])) for info in infos):
        raise BadEndpoint(_("The URL must lead to a public address, not a local or private network."))
    return url


def register(
    url: str, events: list[str], *, petition_id: int | None, owner_id: int | None, now: datetime, allow_private: bool
) -> WebhookEndpoint:
    """Add an endpoint for a petition (or, with petition_id None, for every petition); flushed."""
    chosen = [e for e in EVENTS if e in events]
    if not chosen or len(chosen) != len(set(events)):
        raise BadEndpoint(_("Choose at least one of the events: %(events)s.", events=", ".join(EVENTS)))
    url = check_url(url, allow_private=allow_private)
    if len(of(petition_id)) >= MAX_PER_OWNER:
        raise BadEndpoint(_("At most %(max)s endpoints; remove one first.", max=MAX_PER_OWNER))
    endpoint = WebhookEndpoint(
        petition_id=petition_id,
        owner_id=owner_id,
        url=url,
        secret=new_secret(),
        events=",".join(chosen),
        enabled=True,
        failures=0,
        created_at=now,
    )
    db.session.add(endpoint)
    db.session.flush()
    return endpoint


def of(petition_id: int | None) -> list[WebhookEndpoint]:
    """A petition's endpoints, or the site-wide ones (None), oldest first."""
    where = WebhookEndpoint.petition_id.is_(None) if petition_id is None else WebhookEndpoint.petition_id == petition_id
    return list(db.session.scalars(select(WebhookEndpoint).where(where).order_by(WebhookEndpoint.id)))


def remove(endpoint: WebhookEndpoint) -> None:
    """Delete an endpoint and its pending deliveries."""
    db.session.delete(endpoint)
    db.session.flush()


def enable(endpoint: WebhookEndpoint) -> None:
    """Turn a disabled endpoint back on, its failures forgotten."""
    endpoint.enabled, endpoint.failures, endpoint.disabled_at = True, 0, None
    db.session.flush()
