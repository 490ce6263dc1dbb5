"""The sequencer called directly: batches, rows older than the log, the partial index, and two at once."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from flask import Flask
from sqlalchemy import func, select, text, update

from petitions.clock import utcnow
from petitions.counting import rules
from petitions.extensions import db
from petitions.infra.tlog import entries, merkle, note, tiles
from petitions.models import OutboxMessage, Petition, PetitionLog, Signature
from petitions.signatures import confirming, signing, withdrawing
from petitions.transparency import audit, keys, reading, sequencer
from tests.helpers import TABLES, Mailbox, SMTPServer, is_postgres, make_app, make_petition


def signed_and_confirmed(petition: Petition, n: int, start: int = 0) -> list[int]:
    """n confirmed signatures (committed); their ids."""
    ids = []
    for i in range(start, start + n):
        data = signing.SignatureData(name=f"Signer {i}", email=f"s{i}@example.org", country="GB")
        signature = signing.sign(petition, data, now=utcnow(), ip=None)
        confirming.confirm(signature, now=utcnow())
        db.session.commit()
        ids.append(signature.id)
    return ids


def log_entries(petition_id: int) -> list[bytes]:
    return list(reading.all_entries(petition_id))


def test_a_backlog_is_appended_a_batch_at_a_time_and_older_rows_get_a_nonce_but_no_receipt(ctx) -> None:
    petition = make_petition()
    ids = signed_and_confirmed(petition, 25)
    # Five rows signed before the log existed: no nonce, as migration 0010 leaves them.
    db.session.execute(update(Signature).where(Signature.id.in_(ids[:5])).values(log_nonce=None))
    db.session.commit()

    runs = sequencer.sequence_all(batch=10)
    assert [(r.appended, r.size, r.count, r.more) for r in runs] == [
        (10, 10, 10, True),
        (10, 20, 20, True),
        (5, 25, 25, False),
    ]
    head = db.session.get(PetitionLog, petition.id)
    signed = note.open_checkpoint(head.checkpoint, keys.verifier(), note.log_origin("http://localhost", petition.slug))
    assert (signed.size, signed.root) == (25, head.root)
    assert entries.replay(log_entries(petition.id)).count == 25 == petition.signature_count
    rows = db.session.execute(select(Signature.id, Signature.log_nonce, Signature.log_entry, Signature.log_live)).all()
    assert all(r.log_live and r.log_nonce and r.log_entry is not None for r in rows)
    assert sorted(r.log_entry for r in rows) == list(range(25))
    receipts = db.session.scalars(select(OutboxMessage.signature_id).where(OutboxMessage.template == "log_receipt"))
    assert sorted(receipts) == sorted(ids[5:])
    assert audit.check(petition).ok


def test_an_invalid_row_withdrawn_keeps_no_nonce_and_its_add_is_removed_as_withdrawn(ctx) -> None:
    petition = make_petition()
    (sid,) = signed_and_confirmed(petition, 1)
    sequencer.sequence_all()
    signature = db.session.get(Signature, sid)
    db.session.execute(update(Signature).where(Signature.id == sid).values(invalidated_at=utcnow()))
    db.session.commit()
    db.session.refresh(signature)
    assert withdrawing.withdraw(signature, now=utcnow()) is True  # kept for its mailbox
    db.session.commit()
    assert db.session.scalar(select(Signature.log_nonce)) is None
    sequencer.sequence_all()
    assert entries.parse_entry(log_entries(petition.id)[-1]) == entries.Entry("remove", target=0, reason="withdrawn")


def test_the_workers_queries_use_the_partial_index(ctx) -> None:
    petition = make_petition()
    db.session.execute(
        text(
            "INSERT INTO signatures (petition_id, name, email, email_normalized, email_domain, country, show_name,"
            " updates, created_at, confirmed_at, resend_count, log_entry, log_live)"
            " SELECT :pid, 'S', 's' || g || '@example.org', 's' || g || '@example.org', 'example.org', 'GB',"
            " false, false, :now, :now, 0, g, true FROM (WITH RECURSIVE n(g) AS (SELECT 1 UNION ALL"
            " SELECT g + 1 FROM n WHERE g < 3000) SELECT g FROM n) AS numbers"
        ),
        {"pid": petition.id, "now": utcnow().replace(tzinfo=None)},
    )
    db.session.commit()
    db.session.execute(text("ANALYZE"))
    query = select(Signature.petition_id).where(rules.log_out_of_sync()).distinct()
    petition_query = select(Signature.id).where(Signature.petition_id == petition.id, rules.log_out_of_sync())
    for stmt in (query, petition_query):
        sql = str(stmt.compile(db.engine, compile_kwargs={"literal_binds": True}))
        explain = "EXPLAIN " if is_postgres(ctx) else "EXPLAIN QUERY PLAN "
        plan = " ".join(str(row) for row in db.session.execute(text(explain + sql)))
        assert "ix_signatures_log_out_of_sync" in plan, plan


@pytest.fixture
def pg_app(postgres_url: str, smtp_server: SMTPServer, mailbox: Mailbox, tmp_path: Path) -> Iterator[Flask]:
    """An app on the session's PostgreSQL database, emptied afterwards for the next tests."""
    app = make_app(postgres_url, smtp_server, tmp_path)
    try:
        yield app
    finally:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
        with psycopg.connect(postgres_url.replace("+psycopg", ""), autocommit=True) as conn:
            conn.execute(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE")


def test_sequencers_running_at_once_on_postgresql_never_fork_the_log(pg_app: Flask) -> None:
    """Three workers sequence in small batches while signatures are confirmed and withdrawn: every
    checkpoint any of them signed is extended by the final log (a consistency proof from its tiles)."""
    app = pg_app
    with app.app_context():
        petition = make_petition()
        pid = petition.id
        ids = signed_and_confirmed(petition, 300)
    seen: list[sequencer.Sequenced] = []
    errors: list[BaseException] = []
    done = threading.Event()

    def work() -> None:
        try:
            with app.app_context():
                while not done.is_set():
                    seen.extend(sequencer.sequence_all(batch=7))
                seen.extend(sequencer.sequence_all(batch=7))
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    workers = [threading.Thread(target=work) for _ in range(3)]
    for w in workers:
        w.start()
    with app.app_context():
        petition = db.session.get(Petition, pid)
        signed_and_confirmed(petition, 100, start=300)
        for sid in ids[::10]:
            withdrawing.withdraw(db.session.get(Signature, sid), now=utcnow())
            db.session.commit()
    done.set()
    for w in workers:
        w.join(timeout=120)
    assert not errors, errors

    with app.app_context():
        sequencer.sequence_all()
        head = db.session.get(PetitionLog, pid)
        size, root = head.size, bytes(head.root)
        stored = reading.stored_tiles(pid)
        count = db.session.scalar(select(Petition.signature_count).where(Petition.id == pid))
        assert entries.replay(log_entries(pid)).count == head.count == count == 400 - 30
        assert audit.check(db.session.get(Petition, pid)).ok
        assert db.session.scalar(select(func.count()).select_from(Signature).where(rules.log_out_of_sync())) == 0

    def read_tile(level: int, index: int, width: int) -> bytes:
        return stored[(level, index)][: width * merkle.HASH_SIZE]

    reader = tiles.TileHashReader(size, read_tile)
    assert reader.root() == root
    sizes = [s.size for s in seen]
    assert len(sizes) == len(set(sizes)), "two checkpoints of the same size: the log forked"
    assert len(seen) > 40  # 300 changes waiting in batches of 7, and more coming
    for s in sorted(seen, key=lambda s: s.size):
        proof = merkle.consistency_proof(s.size, size, reader)
        merkle.verify_consistency(s.size, size, s.root, root, proof)
