"""An index on signatures.email_normalized: "my data" finds a mailbox's signatures on every petition.

The unique (petition_id, email_normalized) index cannot answer a question about one mailbox
across petitions, so that public form scanned the whole table. On PostgreSQL the index is
built CONCURRENTLY, outside a transaction, so signing goes on while it is built on a big
table; a build that failed before (an INVALID index) is dropped and made again.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26 16:45:00.000000

"""
from alembic import op

# revision identifiers, used by Alembic.
revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None

INDEX, TABLE, COLUMNS = "ix_signatures_email_normalized", "signatures", ["email_normalized"]


def upgrade():
    if op.get_context().dialect.name != "postgresql":
        op.create_index(INDEX, TABLE, COLUMNS)
        return
    with op.get_context().autocommit_block():
        invalid = op.get_bind().exec_driver_sql(
            "SELECT 1 FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relname = %(name)s AND NOT i.indisvalid",
            {"name": INDEX},
        ).first()
        if invalid:
            op.drop_index(INDEX, table_name=TABLE, postgresql_concurrently=True)
        op.create_index(INDEX, TABLE, COLUMNS, postgresql_concurrently=True, if_not_exists=True)


def downgrade():
    if op.get_context().dialect.name != "postgresql":
        op.drop_index(INDEX, table_name=TABLE)
        return
    with op.get_context().autocommit_block():
        op.drop_index(INDEX, table_name=TABLE, postgresql_concurrently=True, if_exists=True)
