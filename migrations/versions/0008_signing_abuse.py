"""Signing abuse: suspected and withdrawn signatures kept apart, used form stamps, provider-aware mailbox keys.

- signatures.suspected: why the site holds a signature as suspected. It was only known from
  the automatic batch a row sat in; it is filled in here from those batches (not reversed).
  A suspected signing now stores it with the row, and the row joins its batch later.
- signatures.withdrawn_at: a withdrawn invalidated or suspected signature stays as a row that
  keeps its mailbox, so withdrawing and signing again does not undo an invalidation.
- Two CHECK constraints: only an invalidated row is suspected or kept after withdrawal (so the
  counts, which leave out invalidated rows, leave those out too).
- form_stamps: the stamps of signing forms already used by a signing.
- email_normalized and email_domain are computed again with the provider rules that
  petitions/signatures/mailboxes.py had when this was written (Proton, Fastmail subdomains,
  iCloud, Yahoo disposable addresses, a name left empty by dropping its '+tag'), copied below
  so that a later change to the application's rules cannot change what this migration does.
  Where two signatures of one petition now have the same key, the first (lowest id) takes it
  and the other keeps its old key: both stay, and both stay counted as they were, since a
  migration cannot ask who signed; the mailbox's next signing meets the row with the new key.
  Supporter groups are recounted for the rows whose domain changed.

On PostgreSQL the columns are added without a default (no rewrite), the constraints are
added NOT VALID and then validated (which does not block signing), and the partial index is
built CONCURRENTLY.

Revision ID: 0008
Revises: 0006
Create Date: 2026-11-28 10:00:00.000000

"""
import logging
from collections import defaultdict
from dataclasses import dataclass

import sqlalchemy as sa
from alembic import op
from email_validator import EmailNotValidError, validate_email

# revision identifiers, used by Alembic.
revision = '0008'
down_revision = '0006'
branch_labels = None
depends_on = None

log = logging.getLogger("alembic.runtime.migration")

INDEX = "ix_signatures_suspected_unassigned"
UNASSIGNED = "suspected IS NOT NULL AND invalidation_id IS NULL"
CHECKS = {
    "ck_signatures_suspected_invalidated": "suspected IS NULL OR invalidated_at IS NOT NULL",
    "ck_signatures_withdrawn_invalidated": "withdrawn_at IS NULL OR invalidated_at IS NOT NULL",
}


def _postgresql() -> bool:
    return op.get_context().dialect.name == "postgresql"


def upgrade():
    bind = op.get_bind()
    if _postgresql():
        op.execute("SET LOCAL lock_timeout = '5s'")
        op.add_column("signatures", sa.Column("suspected", sa.String(length=20), nullable=True))
        op.add_column("signatures", sa.Column("withdrawn_at", sa.DateTime(), nullable=True))
        for name, condition in CHECKS.items():
            op.execute(f"ALTER TABLE signatures ADD CONSTRAINT {name} CHECK ({condition}) NOT VALID")
    else:
        with op.batch_alter_table("signatures") as batch:
            batch.add_column(sa.Column("suspected", sa.String(length=20), nullable=True))
            batch.add_column(sa.Column("withdrawn_at", sa.DateTime(), nullable=True))
            for name, condition in CHECKS.items():
                batch.create_check_constraint(op.f(name), sa.text(condition))
    op.create_table(
        "form_stamps",
        sa.Column("nonce", sa.String(length=32), nullable=False),
        sa.Column("used_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("nonce", name=op.f("pk_form_stamps")),
    )
    op.create_index(op.f("ix_form_stamps_used_at"), "form_stamps", ["used_at"], unique=False)

    # Suspected rows, as their automatic batches say.
    batches = bind.execute(sa.text(
        "SELECT id, criteria FROM invalidations WHERE actor_id IS NULL AND reversed_at IS NULL"
    )).all()
    for batch_id, criteria in batches:
        kind = _json(criteria).get("automatic")
        if kind:
            bind.execute(
                sa.text("UPDATE signatures SET suspected = :kind WHERE invalidation_id = :id AND invalidated_at IS NOT NULL"),
                {"kind": str(kind)[:20], "id": batch_id},
            )

    _rekey(upgrade=True)

    if _postgresql():
        for name in CHECKS:
            op.execute(f"ALTER TABLE signatures VALIDATE CONSTRAINT {name}")
        with op.get_context().autocommit_block():
            op.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {INDEX}")  # an INVALID one from a failed build
            op.execute(f"CREATE INDEX CONCURRENTLY {INDEX} ON signatures (petition_id, created_at) WHERE {UNASSIGNED}")
    else:
        op.create_index(INDEX, "signatures", ["petition_id", "created_at"], sqlite_where=sa.text(UNASSIGNED))


def downgrade():
    bind = op.get_bind()
    # The code before this revision knows neither a withdrawn row nor a suspected one outside
    # its batch: the first are deleted (they never count), the second are put in batches.
    bind.execute(sa.text("DELETE FROM signatures WHERE withdrawn_at IS NOT NULL"))
    unassigned = bind.execute(
        sa.select(sa.column("id"), sa.column("petition_id"), sa.column("suspected"), sa.column("created_at", sa.DateTime()))
        .select_from(sa.table("signatures")).where(sa.text(UNASSIGNED)).order_by(sa.column("id"))
    ).all()
    groups = defaultdict(list)
    for sig_id, petition_id, kind, created_at in unassigned:
        groups[(petition_id, kind, created_at.date())].append(sig_id)
    invalidations = sa.table(
        "invalidations", sa.column("petition_id"), sa.column("actor_id"), sa.column("reason"), sa.column("criteria", sa.JSON),
        sa.column("signature_count"), sa.column("created_at"),
    )
    for (petition_id, kind, day), ids in groups.items():
        batch_id = bind.execute(
            sa.insert(invalidations).values(
                petition_id=petition_id, actor_id=None, reason=f"Suspected: {kind} ({day:%Y-%m-%d})",
                criteria={"automatic": kind, "day": f"{day:%Y-%m-%d}"}, signature_count=len(ids),
                created_at=min(c for i, p, k, c in unassigned if p == petition_id and k == kind and c.date() == day),
            ).returning(sa.literal_column("id"))
        ).scalar()
        bind.execute(
            sa.text("UPDATE signatures SET invalidation_id = :b WHERE id IN :ids").bindparams(sa.bindparam("ids", expanding=True)),
            {"b": batch_id, "ids": ids},
        )
    _rekey(upgrade=False)
    if _postgresql():
        with op.get_context().autocommit_block():
            op.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {INDEX}")
        for name in CHECKS:
            op.execute(f"ALTER TABLE signatures DROP CONSTRAINT IF EXISTS {name}")
        op.drop_column("signatures", "withdrawn_at")
        op.drop_column("signatures", "suspected")
    else:
        op.drop_index(INDEX, table_name="signatures")
        with op.batch_alter_table("signatures") as batch:
            for name in CHECKS:
                batch.drop_constraint(op.f(name), type_="check")
            batch.drop_column("withdrawn_at")
            batch.drop_column("suspected")
    op.drop_index(op.f("ix_form_stamps_used_at"), table_name="form_stamps")
    op.drop_table("form_stamps")


def _json(value):
    if isinstance(value, str):
        import json

        return json.loads(value or "{}")
    return value or {}


# --- The mailbox rules as petitions/signatures/mailboxes.py had them for this revision --------
# Copied, not imported: the application's rules may change later, and this migration must
# still compute what it computed when it was written (tests/test_migrations.py checks it).


class InvalidEmail(ValueError):
    """The text is not an email address that mail can be delivered to."""


@dataclass(frozen=True)
class Provider:
    """Which addresses of one mail provider reach the same mailbox (see mailboxes.Provider)."""

    name: str
    domains: tuple
    one_domain: str = None
    transparent: str = ""
    disposable: str = None
    subdomains: bool = False


PROVIDERS = (
    Provider("Gmail", ("gmail.com", "googlemail.com"), one_domain="gmail.com", transparent="."),
    Provider("Proton", ("proton.me", "protonmail.com", "protonmail.ch", "pm.me"), one_domain="proton.me", transparent="._-"),
    Provider(
        "Fastmail",
        (
            "fastmail.com", "fastmail.fm", "fastmail.net", "fastmail.org", "fastmail.to", "fastmail.us", "fastmail.cn",
            "fastmail.co.uk", "fastmail.com.au", "fastmail.de", "fastmail.es", "fastmail.in", "fastmail.jp",
            "fastmail.nl", "fastmail.se", "fastmail.tw", "sent.com", "ftml.net", "messagingengine.com",
        ),
        subdomains=True,
    ),
    Provider("Outlook", ("outlook.com", "hotmail.com", "live.com", "msn.com", "hotmail.co.uk", "outlook.fr", "live.fr")),
    Provider("iCloud", ("icloud.com", "me.com", "mac.com"), one_domain="icloud.com"),
    Provider(
        "Yahoo",
        ("yahoo.com", "yahoo.co.uk", "yahoo.fr", "yahoo.de", "yahoo.es", "yahoo.it", "yahoo.ca", "yahoo.com.au", "ymail.com"),
        disposable="-",
    ),
)
_BY_DOMAIN = {domain: provider for provider in PROVIDERS for domain in provider.domains}
_SUBDOMAIN_BASES = tuple(domain for provider in PROVIDERS if provider.subdomains for domain in provider.domains)


def canonical_email(address):
    """The address as used for sending: syntax checked, domain lower-cased and IDNA-encoded."""
    try:
        info = validate_email(address.strip(), check_deliverability=False)
    except EmailNotValidError as exc:
        raise InvalidEmail(str(exc)) from None
    return f"{info.local_part}@{info.ascii_domain.lower()}"


def _subdomain_address(local, domain):
    """x@dave.fastmail.com is dave@fastmail.com (the name is the label just left of the provider's domain)."""
    for base in _SUBDOMAIN_BASES:
        if domain.endswith("." + base):
            return domain[: -len(base) - 1].rpartition(".")[2], base
    return local, domain


def mailbox_key(canonical):
    """The provider rules' key of a canonical address."""
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


def legacy_key(canonical):
    """The key of the rules before this revision (lower case, no '+tag', Gmail's dots)."""
    local, _, domain = canonical.rpartition("@")
    local = local.lower().split("+", 1)[0]
    if domain in ("gmail.com", "googlemail.com"):
        domain, local = "gmail.com", local.replace(".", "")
    return f"{local}@{domain}"


SIGNATURES = sa.table(
    "signatures", sa.column("id"), sa.column("petition_id"), sa.column("email"), sa.column("email_normalized"),
    sa.column("email_domain"),
)


def _candidates():
    """The rows whose key the provider rules can change: their domains, and names that were only a '+tag'."""
    domains = sorted({d for p in PROVIDERS for d in p.domains} - {"gmail.com", "googlemail.com"})
    subdomains = [SIGNATURES.c.email_domain.like(f"%.{d}") for p in PROVIDERS if p.subdomains for d in p.domains]
    return sa.or_(
        SIGNATURES.c.email_domain.in_(domains),
        SIGNATURES.c.email_normalized.like("@%"),
        SIGNATURES.c.email_normalized.like("+%"),
        *subdomains,
    )


def _rekey(*, upgrade: bool) -> None:
    """Compute the mailbox keys again (the provider rules going up, the old rule going down); see the docstring."""
    bind = op.get_bind()
    s = SIGNATURES.c
    rows = bind.execute(
        sa.select(s.id, s.petition_id, s.email, s.email_normalized, s.email_domain).where(_candidates()).order_by(s.id)
    ).all()
    kept, touched = [], set()
    for sig_id, petition_id, email, old_key, old_domain in rows:
        try:
            canonical = canonical_email(email)
        except InvalidEmail:
            continue  # an address stored by an older version that no longer validates: left as it is
        key = mailbox_key(canonical) if upgrade else legacy_key(canonical)
        if key == old_key:
            continue
        taken = bind.execute(
            sa.text("SELECT 1 FROM signatures WHERE petition_id = :p AND email_normalized = :k"), {"p": petition_id, "k": key}
        ).first()
        if taken:
            kept.append(sig_id)
            continue
        domain = key.rpartition("@")[2]
        bind.execute(
            sa.text("UPDATE signatures SET email_normalized = :k, email_domain = :d WHERE id = :i"),
            {"k": key, "d": domain, "i": sig_id},
        )
        if domain != old_domain:
            touched.add(petition_id)
    if kept:
        log.warning(
            "%d signatures keep their old mailbox key: another signature of the same petition has the new one "
            "(the same mailbox signed twice under two spellings). Their ids: %s", len(kept), kept[:1000],
        )
    _recount_groups(touched)


def _recount_groups(petition_ids) -> None:
    """Supporter groups count by domain: recount those of the petitions where a counted domain changed."""
    bind = op.get_bind()
    for petition_id in sorted(petition_ids):
        for (group_id,) in bind.execute(
            sa.text("SELECT id FROM supporter_groups WHERE petition_id = :p"), {"p": petition_id}
        ).all():
            domains = [d for (d,) in bind.execute(sa.text("SELECT domain FROM group_domains WHERE group_id = :g"), {"g": group_id})]
            if not domains:
                count = 0
            else:
                match = " OR ".join(f"email_domain = :d{i} OR email_domain LIKE :l{i}" for i in range(len(domains)))
                params = {"p": petition_id, **{f"d{i}": d for i, d in enumerate(domains)},
                          **{f"l{i}": "%." + d for i, d in enumerate(domains)}}
                count = bind.execute(sa.text(
                    "SELECT count(*) FROM signatures WHERE petition_id = :p AND confirmed_at IS NOT NULL"  # noqa: S608 - placeholders only
                    f" AND invalidated_at IS NULL AND ({match})"
                ), params).scalar()
            bind.execute(sa.text("UPDATE supporter_groups SET signature_count = :n WHERE id = :g"), {"n": count, "g": group_id})

