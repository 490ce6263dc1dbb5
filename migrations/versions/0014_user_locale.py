"""Accounts get an interface language: users.locale, a code of LANGUAGES, or NULL for the browser's choice.

A nullable column without a default: no table rewrite, and every existing account keeps what it
had (the browser decides).

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-09 10:00:00.000000

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("locale", sa.String(length=16), nullable=True))


def downgrade():
    with op.batch_alter_table("users") as batch:
        batch.drop_column("locale")
