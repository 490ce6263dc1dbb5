"""Supporter groups in the public log only once they are shown publicly.

- signatures.log_domain: the supporter group domain the signature's log entry counts toward
  (carried by its add, or by a later `group` entry); NULL when none.
- group_domains.log_disclosed: the log carries this domain. A group's domains are carried from
  the moment its count is shown exactly (GROUP_MIN_COUNT), so the log does not tell when a small
  group got its first signer when the site itself says only "fewer than 5".
Both columns are NULL or a constant default: no table rewrite. Entries logged before this
(whose adds carried their domain from the first signature) get a `group` entry once their group
is shown, which says again what their add said: harmless to a replay, and it also covers a
domain added to a group after signatures from it were logged.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-09 10:00:00.000000

"""

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("signatures", schema=None) as batch_op:
        batch_op.add_column(sa.Column("log_domain", sa.String(length=253), nullable=True))
    with op.batch_alter_table("group_domains", schema=None) as batch_op:
        batch_op.add_column(sa.Column("log_disclosed", sa.Boolean(), server_default=sa.false(), nullable=False))


def downgrade():
    with op.batch_alter_table("group_domains", schema=None) as batch_op:
        batch_op.drop_column("log_disclosed")
    with op.batch_alter_table("signatures", schema=None) as batch_op:
        batch_op.drop_column("log_domain")
