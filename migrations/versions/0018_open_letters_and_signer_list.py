"""Open letters and the public list of signers.

- petitions.ask_organisation, ask_job_title: what the signing form asks ('off', 'optional',
  'required'); a constant default, so no table rewrite on PostgreSQL.
- signatures.organisation, job_title (what the signer gave) and list_hidden_at (the campaigner
  took the entry off the public list): nullable, no default, no rewrite.
- ix_signatures_listable: (petition_id, confirmed_at, id) over the signatures that may be
  listed (counted, and their signer chose to show their name), which each page of the list
  reads a range of. The predicate is counting/rules.listable() as it was when this was written
  (copied: a migration imports nothing from the application). Built CONCURRENTLY on PostgreSQL
  like 0004, so signing goes on while it is built over a big table.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-12 10:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None

INDEX, TABLE, COLUMNS = "ix_signatures_listable", "signatures", ["petition_id", "confirmed_at", "id"]
# counting/rules.listable() as it was written when this migration was.
LISTABLE = sa.text("confirmed_at IS NOT NULL AND invalidated_at IS NULL AND show_name IS true")
LISTABLE_SQLITE = sa.text("confirmed_at IS NOT NULL AND invalidated_at IS NULL AND show_name IS 1")


def upgrade():
    with op.batch_alter_table('petitions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('ask_organisation', sa.String(length=8), server_default='off', nullable=False))
        batch_op.add_column(sa.Column('ask_job_title', sa.String(length=8), server_default='off', nullable=False))
        for column in ('ask_organisation', 'ask_job_title'):
            batch_op.create_check_constraint(
                op.f(f'ck_petitions_{column}_mode'), sa.text(f"{column} IN ('off', 'optional', 'required')")
            )
    with op.batch_alter_table('signatures', schema=None) as batch_op:
        batch_op.add_column(sa.Column('organisation', sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column('job_title', sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column('list_hidden_at', sa.DateTime(), nullable=True))

    if op.get_context().dialect.name != "postgresql":
        op.create_index(INDEX, TABLE, COLUMNS, sqlite_where=LISTABLE_SQLITE)
        return
    with op.get_context().autocommit_block():
        invalid = op.get_bind().exec_driver_sql(
            "SELECT 1 FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relname = %(name)s AND NOT i.indisvalid",
            {"name": INDEX},
        ).first()
        if invalid:
            op.drop_index(INDEX, table_name=TABLE, postgresql_concurrently=True)
        op.create_index(
            INDEX, TABLE, COLUMNS, postgresql_where=LISTABLE, postgresql_concurrently=True, if_not_exists=True
        )


def downgrade():
    if op.get_context().dialect.name != "postgresql":
        op.drop_index(INDEX, table_name=TABLE)
    else:
        with op.get_context().autocommit_block():
            op.drop_index(INDEX, table_name=TABLE, postgresql_concurrently=True, if_exists=True)
    with op.batch_alter_table('signatures', schema=None) as batch_op:
        batch_op.drop_column('list_hidden_at')
        batch_op.drop_column('job_title')
        batch_op.drop_column('organisation')
    with op.batch_alter_table('petitions', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_petitions_ask_job_title_mode'), type_='check')
        batch_op.drop_constraint(op.f('ck_petitions_ask_organisation_mode'), type_='check')
        batch_op.drop_column('ask_job_title')
        batch_op.drop_column('ask_organisation')
