"""The public log of each petition: its head, entries, hash tiles and pending removals; signatures' log state.

- signatures.log_nonce (the secret nonce of the signer's commitment, set by the signing from now
  on; NULL in the rows already there, which the worker fills when it first logs them),
  log_entry (the index of the signature's add entry) and log_live (its add is live in the log).
  Adding them costs no table rewrite: the columns are NULL or a constant default.
- ix_signatures_log_out_of_sync: the rows whose counting differs from log_live, which the worker
  appends entries for. Right after this migration every counted signature is in it, and the
  worker logs them in batches. The predicate is the count rule of counting/rules.py as it was
  when this was written (copied: a migration imports nothing from the application). Built
  CONCURRENTLY on PostgreSQL like 0004, so signing goes on meanwhile.
- petition_logs, log_entries, log_tiles, log_removals.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-08 10:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None

INDEX, TABLE, COLUMNS = "ix_signatures_log_out_of_sync", "signatures", ["petition_id"]
# counting/rules.log_out_of_sync() as it was written when this migration was.
OUT_OF_SYNC = sa.text("(confirmed_at IS NOT NULL AND invalidated_at IS NULL) != log_live")


def upgrade():
    with op.batch_alter_table('signatures', schema=None) as batch_op:
        batch_op.add_column(sa.Column('log_nonce', sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column('log_entry', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('log_live', sa.Boolean(), server_default=sa.false(), nullable=False))

    op.create_table('petition_logs',
    sa.Column('petition_id', sa.Integer(), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('root', sa.LargeBinary(), nullable=False),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.Column('checkpoint', sa.Text(), nullable=True),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['petition_id'], ['petitions.id'], name=op.f('fk_petition_logs_petition_id_petitions'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('petition_id', name=op.f('pk_petition_logs'))
    )
    op.create_table('log_entries',
    sa.Column('petition_id', sa.Integer(), nullable=False),
    sa.Column('idx', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('data', sa.LargeBinary(), nullable=False),
    sa.ForeignKeyConstraint(['petition_id'], ['petitions.id'], name=op.f('fk_log_entries_petition_id_petitions'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('petition_id', 'idx', name=op.f('pk_log_entries'))
    )
    op.create_table('log_tiles',
    sa.Column('petition_id', sa.Integer(), nullable=False),
    sa.Column('level', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('n', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('data', sa.LargeBinary(), nullable=False),
    sa.ForeignKeyConstraint(['petition_id'], ['petitions.id'], name=op.f('fk_log_tiles_petition_id_petitions'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('petition_id', 'level', 'n', name=op.f('pk_log_tiles'))
    )
    op.create_table('log_removals',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('petition_id', sa.Integer(), nullable=False),
    sa.Column('entry', sa.Integer(), nullable=False),
    sa.Column('reason', sa.String(length=16), nullable=False),
    sa.ForeignKeyConstraint(['petition_id'], ['petitions.id'], name=op.f('fk_log_removals_petition_id_petitions'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_log_removals'))
    )
    with op.batch_alter_table('log_removals', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_log_removals_petition_id'), ['petition_id'], unique=False)

    if op.get_context().dialect.name != "postgresql":
        op.create_index(INDEX, TABLE, COLUMNS, sqlite_where=OUT_OF_SYNC)
        return
    with op.get_context().autocommit_block():
        invalid = op.get_bind().exec_driver_sql(
            "SELECT 1 FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relname = %(name)s AND NOT i.indisvalid",
            {"name": INDEX},
        ).first()
        if invalid:
            op.drop_index(INDEX, table_name=TABLE, postgresql_concurrently=True)
        op.create_index(
            INDEX, TABLE, COLUMNS, postgresql_where=OUT_OF_SYNC, postgresql_concurrently=True, if_not_exists=True
        )


def downgrade():
    if op.get_context().dialect.name != "postgresql":
        op.drop_index(INDEX, table_name=TABLE)
    else:
        with op.get_context().autocommit_block():
            op.drop_index(INDEX, table_name=TABLE, postgresql_concurrently=True, if_exists=True)

    with op.batch_alter_table('log_removals', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_log_removals_petition_id'))
    op.drop_table('log_removals')
    op.drop_table('log_tiles')
    op.drop_table('log_entries')
    op.drop_table('petition_logs')

    with op.batch_alter_table('signatures', schema=None) as batch_op:
        batch_op.drop_column('log_live')
        batch_op.drop_column('log_entry')
        batch_op.drop_column('log_nonce')
