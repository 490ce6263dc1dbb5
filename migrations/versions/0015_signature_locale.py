"""Signatures keep their signer's language: signatures.locale, the page's language at signing.

The emails to a signer (the confirmation, "already signed", the receipt, updates) go out in it.
A nullable column without a default: no table rewrite on PostgreSQL, and the signatures stored
before it have NULL, which the emails read as DEFAULT_LOCALE, the language they were sent in then.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-10 10:00:00.000000

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("signatures") as batch:
        batch.add_column(sa.Column("locale", sa.String(length=16), nullable=True))


def downgrade():
    with op.batch_alter_table("signatures") as batch:
        batch.drop_column("locale")
