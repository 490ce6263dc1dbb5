"""Accounts get a session token: what a session stores to name its account, instead of the id.

SQLite gives a deleted account's id to the next account, so a cookie holding an id could
open someone else's account; a random token is never given twice, and changing it ends
every session of the account. Each existing account gets its own random token; sessions
made before the upgrade named accounts by id and end (everyone signs in once more).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-28 10:00:00.000000

"""
import secrets

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("session_token", sa.String(length=64), nullable=True))
    users = sa.table("users", sa.column("id", sa.Integer), sa.column("session_token", sa.String))
    bind = op.get_bind()
    for (user_id,) in bind.execute(sa.select(users.c.id)).all():
        bind.execute(users.update().where(users.c.id == user_id).values(session_token=secrets.token_urlsafe(32)))
    with op.batch_alter_table("users") as batch:
        batch.alter_column("session_token", existing_type=sa.String(length=64), nullable=False)
        batch.create_unique_constraint(batch.f("uq_users_session_token"), ["session_token"])


def downgrade():
    with op.batch_alter_table("users") as batch:
        batch.drop_constraint(batch.f("uq_users_session_token"), type_="unique")
        batch.drop_column("session_token")
