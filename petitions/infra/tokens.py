"""Signed, expiring tokens for links in emails, each bound to one purpose."""

from datetime import datetime
from functools import lru_cache
from typing import Any

from flask import current_app
from itsdangerous import BadSignature, URLSafeTimedSerializer

from petitions.exceptions import TokenExpired, TokenInvalid

CONFIRM_SIGNATURE = "confirm-signature"
CONFIRM_ACCOUNT = "confirm-account"
WITHDRAW_SIGNATURE = "withdraw-signature"
UNSUBSCRIBE = "unsubscribe-updates"
# Links to withdraw or unsubscribe work for as long as the signature exists.
LONG_LIVED = 10 * 365 * 24 * 3600


def serializer(purpose: str) -> URLSafeTimedSerializer:
    """A serializer whose salt is the purpose, so a token for one thing is refused for another."""
    return _serializer_for(current_app.config["SECRET_KEY"], purpose)


@lru_cache(maxsize=64)
def _serializer_for(secret_key: str, purpose: str) -> URLSafeTimedSerializer:
    # Built once per key and purpose: making one derives keys, which costs as much as signing.
    return URLSafeTimedSerializer(secret_key, salt=purpose)


def make_token(purpose: str, payload: Any) -> str:
    """Sign the payload for the purpose."""
    return serializer(purpose).dumps(payload)


def read_token(purpose: str, token: str, *, max_age: int, now: datetime) -> Any:
    """The payload of a genuine token for the purpose, signed no more than max_age seconds before now."""
    try:
        payload, signed_at = serializer(purpose).loads(token, return_timestamp=True)
    except BadSignature:
        raise TokenInvalid() from None
    if (now - signed_at).total_seconds() > max_age:
        raise TokenExpired()
    return payload
