"""Email addresses: validation and the normal form that decides 'the same mailbox'.

The normal form (the key of "one signature per mailbox per petition") follows what each big
provider documents about which spellings reach one mailbox; PROVIDERS is that table. For
every other domain only case and a '+tag' are ignored.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from email_validator import EmailNotValidError, validate_email


class InvalidEmail(ValueError):
    """The text is not an email address that mail can be delivered to."""


@dataclass(frozen=True)
class Provider:
    """How one mail provider decides which addresses reach the same mailbox.

    - `domains`: the domains it serves;
    - `one_domain`: when the mailbox name is the same account on all of them, the domain the
      key uses (None: each domain is its own namespace);
    - `transparent`: characters the provider ignores in a mailbox name;
    - `disposable`: the separator of the provider's disposable addresses, `base<sep>keyword`;
      the key keeps `base<sep>`, because the base name is not itself an account's name;
    - `subdomains`: `anything@name.<domain>` is delivered to `name@<domain>`.
    """

    name: str
    domains: tuple[str, ...]
    one_domain: str | None = None
    transparent: str = ""
    disposable: str | None = None
    subdomains: bool = False


# '+tags' are dropped for every domain (nearly every provider delivers name+tag to name, and a
# tag must not give one person a second signature), so they are not repeated here.
PROVIDERS: tuple[Provider, ...] = (
    # Gmail ignores dots; googlemail.com is the same account under its old name.
    Provider("Gmail", ("gmail.com", "googlemail.com"), one_domain="gmail.com", transparent="."),
    # Proton treats '.', '_' and '-' as transparent; an account has its name on every Proton domain.
    Provider(
        "Proton", ("proton.me", "protonmail.com", "protonmail.ch", "pm.me"), one_domain="proton.me", transparent="._-"
    ),
    # Fastmail: subdomain addressing (x@dave.fastmail.com reaches dave@fastmail.com). Its domains
    # are separate namespaces: dave@fastmail.com and dave@fastmail.fm may be two people.
    Provider(
        "Fastmail",
        (
            "fastmail.com",
            "fastmail.fm",
            "fastmail.net",
            "fastmail.org",
            "fastmail.to",
            "fastmail.us",
            "fastmail.cn",
            "fastmail.co.uk",
            "fastmail.com.au",
            "fastmail.de",
            "fastmail.es",
            "fastmail.in",
            "fastmail.jp",
            "fastmail.nl",
            "fastmail.se",
            "fastmail.tw",
            "sent.com",
            "ftml.net",
            "messagingengine.com",
        ),
        subdomains=True,
    ),
    # Outlook, Hotmail, Live: '+tags' only; dots are significant and the domains are separate.
    Provider(
        "Outlook", ("outlook.com", "hotmail.com", "live.com", "msn.com", "hotmail.co.uk", "outlook.fr", "live.fr")
    ),
    # iCloud: '+tags'; an account's name is the same on icloud.com, me.com and mac.com.
    Provider("iCloud", ("icloud.com", "me.com", "mac.com"), one_domain="icloud.com"),
    # Yahoo: disposable addresses are base-keyword@; a Yahoo account's name has no '-', so a
    # '-' always marks one, and every keyword of one base name reaches the same mailbox.
    Provider(
        "Yahoo",
        (
            "yahoo.com",
            "yahoo.co.uk",
            "yahoo.fr",
            "yahoo.de",
            "yahoo.es",
            "yahoo.it",
            "yahoo.ca",
            "yahoo.com.au",
            "ymail.com",
        ),
        disposable="-",
    ),
)
_BY_DOMAIN = {domain: provider for provider in PROVIDERS for domain in provider.domains}
_SUBDOMAIN_BASES = tuple(domain for provider in PROVIDERS if provider.subdomains for domain in provider.domains)


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


def _subdomain_address(local: str, domain: str) -> tuple[str, str]:
    """x@dave.fastmail.com is dave@fastmail.com (the name is the label just left of the provider's domain)."""
    for base in _SUBDOMAIN_BASES:
        if domain.endswith("." + base):
            return domain[: -len(base) - 1].rpartition(".")[2], base
    return local, domain


def normalize_email(address: str) -> str:
    """The key that makes two spellings of one mailbox equal.

    Case and surrounding spaces are ignored, and a '+tag' is dropped, for every domain; the
    providers in PROVIDERS add their own rules. A name that these rules would leave empty
    (`+abc@example.com`) is kept whole, so two such addresses stay two mailboxes.
    """
    return mailbox_key(canonical_email(address))


def mailbox_key(canonical: str) -> str:
    """normalize_email of an address already made canonical (canonical_email)."""
    local, _, domain = canonical.rpartition("@")
    original = local.lower()
    name, domain = _subdomain_address(original, domain)
    name = name.split("+", 1)[0]
    provider = _BY_DOMAIN.get(domain)
    if provider is not None:
        if provider.disposable and provider.disposable in name:
            base = name.split(provider.disposable, 1)[0]
            name = base + provider.disposable if base else ""
        for char in provider.transparent:
            name = name.replace(char, "")
        domain = provider.one_domain or domain
    return f"{name or original}@{domain}"


def legacy_key(canonical: str) -> str:
    """The key the rules before PROVIDERS gave a canonical address (lower case, no '+tag', Gmail's dots).

    Links sent before the rules changed are bound to it (see links.bound_to).
    """
    local, _, domain = canonical.rpartition("@")
    local = local.lower().split("+", 1)[0]
    if domain in ("gmail.com", "googlemail.com"):
        domain, local = "gmail.com", local.replace(".", "")
    return f"{local}@{domain}"
