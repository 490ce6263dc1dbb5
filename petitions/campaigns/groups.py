"""Supporter groups: "312 confirmed Amazon employees", counted from confirmed addresses at their domains."""

from __future__ import annotations

import re
from datetime import datetime

from flask_babel import gettext as _
from sqlalchemy import select

from petitions.counting import counts, rules
from petitions.exceptions import DomainError
from petitions.extensions import db
from petitions.models import GroupDomain, Petition, SupporterGroup
from petitions.moderation.abuse import is_disposable

_DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")


# Providers of personal mailboxes. A group is an organisation's people; a group of one of
# these domains (or one of its subdomains, such as Fastmail's dave.fastmail.com, which is
# one person) would only single out who uses it. Throwaway-mailbox domains are refused too.
PERSONAL_MAIL_DOMAINS = frozenset(
    {
        "gmail.com",
        "googlemail.com",  # Google
        "outlook.com",
        "hotmail.com",
        "hotmail.co.uk",
        "hotmail.fr",
        "live.com",
        "msn.com",  # Microsoft
        "yahoo.com",
        "yahoo.co.uk",
        "yahoo.fr",
        "yahoo.de",
        "yahoo.es",
        "ymail.com",
        "rocketmail.com",  # Yahoo
        "icloud.com",
        "me.com",
        "mac.com",  # Apple
        "proton.me",
        "protonmail.com",
        "protonmail.ch",
        "pm.me",  # Proton
        "fastmail.com",
        "fastmail.fm",  # Fastmail
        "aol.com",
        "gmx.com",
        "gmx.net",
        "gmx.de",
        "web.de",
        "mail.com",
        "yandex.com",
        "yandex.ru",
        "zoho.com",
        "tutanota.com",
        "tuta.io",
        "mailbox.org",
        "posteo.de",
        "hey.com",
        "qq.com",
        "163.com",
    }
)


class GroupError(DomainError):
    """The group cannot be saved as asked; the message says why."""


def personal_domain(domain: str) -> bool:
    """True for a personal-mail or throwaway-mailbox provider's domain, or a subdomain of one."""
    return any(d in PERSONAL_MAIL_DOMAINS for d in rules.domain_suffixes(domain)) or is_disposable(domain)


def parse_domains(text: str) -> list[str]:
    """Domains from text separated by commas, spaces or lines; '@amazon.com' and 'Amazon.com' both give amazon.com."""
    domains: list[str] = []
    for raw in re.split(r"[\s,;]+", text or ""):
        if not raw:
            continue
        domain = raw.strip().lstrip("@").rstrip(".").lower()
        try:
            domain = domain.encode("idna").decode("ascii")
        except UnicodeError:
            raise GroupError(_("%(domain)s is not a domain name like example.com.", domain=repr(raw))) from None
        if not _DOMAIN.match(domain):
            raise GroupError(_("%(domain)s is not a domain name like example.com.", domain=repr(raw)))
        if domain not in domains:
            domains.append(domain)
    if not domains:
        raise GroupError(_("Give at least one email domain, like example.com."))
    if len(domains) > 50:
        raise GroupError(_("A group can have at most 50 domains."))
    return domains


def save_group(
    petition: Petition, *, name: str, domains: list[str], now: datetime, group: SupporterGroup | None = None
) -> SupporterGroup:
    """Create or change a group and set its count from the rows.

    Personal-mail and throwaway-mailbox domains are refused (see PERSONAL_MAIL_DOMAINS). The
    petition's row is locked while the count is computed, so confirmations committing
    meanwhile are added on top of it rather than lost.
    """
    name = name.strip()
    if not name:
        raise GroupError(_("Give the group a name."))
    personal = [d for d in domains if personal_domain(d)]
    if personal:
        raise GroupError(
            f"{', '.join(personal)}: a group cannot count the users of a personal or throwaway email provider"
            " (it would point at the few who use it). Give the domains of an organisation, like amazon.com."
        )
    counts.lock(petition)
    taken = {
        d: gid
        for d, gid in db.session.execute(
            select(GroupDomain.domain, GroupDomain.group_id).where(GroupDomain.petition_id == petition.id)
        )
    }
    clash = [d for d in domains if d in taken and (group is None or taken[d] != group.id)]
    if clash:
        raise GroupError(_("%(domains)s already belongs to another group of this petition.", domains=", ".join(clash)))
    if group is None:
        group = SupporterGroup(petition_id=petition.id, name=name, created_at=now, signature_count=0)
        db.session.add(group)
    group.name = name
    current = {d.domain: d for d in group.domains}
    for domain in set(current) - set(domains):
        group.domains.remove(current[domain])
    for domain in domains:
        if domain not in current:
            group.domains.append(GroupDomain(petition_id=petition.id, domain=domain))
    db.session.flush()
    group.signature_count = counts.group_actual(group)
    db.session.flush()
    return group


def delete_group(group: SupporterGroup) -> None:
    """Remove a group; signatures and the total are untouched."""
    db.session.delete(group)
    db.session.flush()
