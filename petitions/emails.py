"""Email addresses: validation and the normal form that decides 'the same mailbox'."""

from functools import lru_cache

from email_validator import EmailNotValidError, validate_email

# Providers that ignore dots in the local part, and the one domain each is known by.
_DOTLESS = {"gmail.com": "gmail.com", "googlemail.com": "gmail.com"}


class InvalidEmail(ValueError):
    """The text is not an email address that mail can be delivered to."""


def canonical_email(address: str) -> str:
    """The address as it will be used for sending: syntax checked, domain lower-cased and IDNA-encoded."""
    return _canonical(address)


# A signing looks at the same address several times (the form, the domain check, the row);
# validation is pure and costs more than the rest of the check, so recent answers are kept.
@lru_cache(maxsize=256)
def _canonical(address: str) -> str:
    try:
        info = validate_email(address.strip(), check_deliverability=False)
    except EmailNotValidError as exc:
        raise InvalidEmail(str(exc)) from None
    return f"{info.local_part}@{info.ascii_domain.lower()}"


def normalize_email(address: str) -> str:
    """The key that makes two spellings of one mailbox equal.

    Case and surrounding spaces are ignored; a '+tag' is dropped for every domain (nearly all
    providers deliver subaddresses to the same mailbox, and one person should not sign twice
    by adding one); dots are dropped where the provider ignores them (Gmail).
    """
    canonical = canonical_email(address)
    local, _, domain = canonical.rpartition("@")
    local = local.lower().split("+", 1)[0]
    if domain in _DOTLESS:
        domain = _DOTLESS[domain]
        local = local.replace(".", "")
    return f"{local}@{domain}"
