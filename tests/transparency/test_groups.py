"""Supporter groups in the log: a group's domain enters it only once the site shows the group's count.

The site shows "fewer than 5" for a small group, even at zero, so nobody learns when a group of a
company's few employees got its first signer; these tests check the log keeps that too, and that
once the group is shown the log's count for it is the site's, earlier signatures included.
"""

from __future__ import annotations

from sqlalchemy import select

from petitions.campaigns import groups
from petitions.clock import utcnow
from petitions.counting import counts
from petitions.extensions import db
from petitions.infra.tlog import entries
from petitions.models import GroupDomain, Petition, Signature, SupporterGroup
from petitions.moderation import invalidation
from petitions.signatures import confirming, signing, withdrawing
from petitions.transparency import audit, reading, sequencer
from tests.helpers import make_petition, make_user


def confirmed(petition: Petition, *addresses: str) -> list[int]:
    """A confirmed signature from each address (committed); their ids."""
    ids = []
    for address in addresses:
        data = signing.SignatureData(name=f"Signer {address}", email=address, country="GB")
        signature = signing.sign(petition, data, now=utcnow(), ip=None)
        confirming.confirm(signature, now=utcnow())
        db.session.commit()
        ids.append(signature.id)
    return ids


def replayed(petition: Petition) -> entries.Tally:
    return entries.replay(reading.all_entries(petition.id))


def ops(petition: Petition) -> list[entries.Entry]:
    return [entries.parse_entry(d) for d in reading.all_entries(petition.id)]


def group_count(petition: Petition) -> int:
    return db.session.scalar(select(SupporterGroup.signature_count).where(SupporterGroup.petition_id == petition.id))


def test_a_small_groups_domain_stays_out_of_the_log_until_the_site_shows_its_count(ctx) -> None:
    petition = make_petition()
    groups.save_group(petition, name="Acme staff", domains=["acme.org"], now=utcnow())
    db.session.commit()
    early = confirmed(petition, "a1@acme.org", "a2@eng.acme.org", "a3@acme.org", "x@example.org")
    sequencer.sequence_all()
    # The site says "fewer than 5"; the log counts the four, and says nothing of a group.
    assert counts.public_groups(petition.id)[0][1] == counts.FewerThan(5)
    assert [e.domain for e in ops(petition)] == [None] * 4
    assert replayed(petition).count == 4 and replayed(petition).live_by_group() == {}

    # The fifth makes the group shown: its add carries the domain, the earlier three get a group entry.
    confirmed(petition, "a4@acme.org", "a5@acme.org", "y@example.org")
    (run,) = sequencer.sequence_all()
    assert run.appended == 3 + 3
    new = ops(petition)[4:]
    assert sorted((e.op, e.domain or "") for e in new[:3]) == [("add", ""), ("add", "acme.org"), ("add", "acme.org")]
    early_entries = dict(db.session.execute(select(Signature.id, Signature.log_entry)).all())
    # In the order of the entries they name (eng.acme.org is under the group's domain).
    assert [(e.op, e.target, e.domain) for e in new[3:]] == [
        ("group", index, "acme.org") for index in sorted(early_entries[i] for i in early[:3])
    ]
    tally = replayed(petition)
    assert tally.count == 7 == petition.signature_count
    assert tally.live_by_group() == {"acme.org": 5} and group_count(petition) == 5
    assert db.session.scalar(select(GroupDomain.log_disclosed))
    assert sequencer.sequence_all() == []  # in step
    assert audit.check(petition).ok

    # Once shown, always shown: a withdrawal takes the group under 5, and the next signer's add
    # still carries the domain (its count was public; hiding it again would make the log disagree).
    withdrawing.withdraw(db.session.get(Signature, early[0]), now=utcnow())
    db.session.commit()
    confirmed(petition, "a6@acme.org")
    sequencer.sequence_all()
    assert replayed(petition).live_by_group() == {"acme.org": 5} and group_count(petition) == 5
    assert [e.domain for e in ops(petition) if e.op == "add"][-1] == "acme.org"


def test_a_removed_signature_restored_after_its_group_was_shown_gets_its_group_entry(ctx) -> None:
    petition = make_petition()
    groups.save_group(petition, name="Acme staff", domains=["acme.org"], now=utcnow())
    admin = make_user("admin@example.org", admin=True)
    db.session.commit()
    (bot,) = confirmed(petition, "bot@lab.acme.org")
    sequencer.sequence_all()
    crit = invalidation.criteria(slug=petition.slug, domain="lab.acme.org")
    batch = invalidation.invalidate(crit, admin, reason="looked like bots", now=utcnow())
    db.session.commit()
    confirmed(petition, *[f"a{i}@acme.org" for i in range(5)])
    sequencer.sequence_all()
    assert replayed(petition).live_by_group() == {"acme.org": 5}
    assert db.session.scalar(select(Signature.log_domain).where(Signature.id == bot)) is None  # removed: not marked

    invalidation.reverse(batch, admin, reason="real people after all", now=utcnow())
    db.session.commit()
    sequencer.sequence_all()
    entry = db.session.scalar(select(Signature.log_entry).where(Signature.id == bot))
    assert [(e.op, e.target, e.domain) for e in ops(petition)[-2:]] == [
        ("restore", entry, None),
        ("group", entry, "acme.org"),
    ]
    assert replayed(petition).live_by_group() == {"acme.org": 6} and group_count(petition) == 6
    assert audit.check(petition).ok


def test_a_domain_added_to_a_shown_group_marks_the_signatures_logged_before_it(ctx) -> None:
    petition = make_petition()
    group = groups.save_group(petition, name="Acme staff", domains=["acme.org"], now=utcnow())
    db.session.commit()
    confirmed(petition, *[f"a{i}@acme.org" for i in range(5)], "b1@acme.com", "b2@acme.com")
    sequencer.sequence_all()
    assert replayed(petition).live_by_group() == {"acme.org": 5}

    groups.save_group(petition, name="Acme staff", domains=["acme.org", "acme.com"], now=utcnow(), group=group)
    db.session.commit()
    assert sequencer.pending_petitions() == [petition.id]
    (run,) = sequencer.sequence_all()
    assert (run.appended, run.count) == (2, 7)
    assert [e.op for e in ops(petition)[-2:]] == ["group", "group"]
    assert replayed(petition).live_by_group() == {"acme.com": 2, "acme.org": 5}
    assert group_count(petition) == 7
    assert sequencer.pending_petitions() == []
