"""Signed, expiring tokens for links in emails, each bound to one purpose."""

from datetime import datetime
from typing import Any

from flask import current_app
from itsdangerous import BadSignature, URLSafeTimedSerializer

from .exceptions import TokenExpired, TokenInvalid

CONFIRM_SIGNATURE = "confirm-signature"
CONFIRM_ACCOUNT = "confirm-account"
WITHDRAW_SIGNATURE = "withdraw-signature"
UNSUBSCRIBE = "unsubscribe-updates"
# Links to withdraw or unsubscribe work for as long as the signature exists.
LONG_LIVED = 10 * 365 * 24 * 3600


def _serializer(purpose: str) -> URLSafeTimedSerializer:
    """A serializer whose salt is the purpose, so a token for one thing is refused for another."""
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=purpose)


def make_token(purpose: str, payload: Any) -> str:
    """Sign the payload for the purpose."""
    return _serializer(purpose).dumps(payload)


def read_token(purpose: str, token: str, *, max_age: int, now: datetime) -> Any:
    """The payload of a genuine token for the purpose, signed no more than max_age seconds before now."""
    try:
        payload, signed_at = _serializer(purpose).loads(token, return_timestamp=True)
    except BadSignature:
        raise TokenInvalid() from None
    if (now - signed_at).total_seconds() > max_age:
        raise TokenExpired()
    return payload
