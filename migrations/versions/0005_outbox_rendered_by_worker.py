"""The outbox can hold a message the worker renders when it sends it: template, context, signature.

A signing's confirmation email is queued as its template name and a small JSON context in
the signing's own transaction, and rendered (with its signed links) by the mail worker, so
the hottest request there is does no templating. body_text becomes nullable for those rows.

On PostgreSQL every step here changes the catalogue only (new nullable columns without a
default, a dropped NOT NULL): no table rewrite, instant on a big outbox.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27 04:00:00.000000

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade():
    if op.get_context().dialect.name == "postgresql":
        # DROP NOT NULL waits for an exclusive lock; a mail worker holds row locks while it
        # talks to the SMTP server. Give up (and run the migration again) rather than make
        # every signing queue behind the wait.
        op.execute("SET LOCAL lock_timeout = '5s'")
    with op.batch_alter_table("outbox_messages") as batch:
        batch.add_column(sa.Column("template", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("context", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("signature_id", sa.Integer(), nullable=True))
        batch.alter_column("body_text", existing_type=sa.Text(), nullable=True)


def downgrade():
    # A message still waiting to be rendered would be lost: send them first (run the mail
    # worker until nothing is due). Sent or failed ones keep an empty body as their record.
    if op.get_context().dialect.name == "postgresql":
        # No new message to render may be queued between the check and the change.
        op.execute("LOCK TABLE outbox_messages IN EXCLUSIVE MODE")
    waiting = op.get_bind().execute(
        sa.text("SELECT count(*) FROM outbox_messages WHERE body_text IS NULL AND sent_at IS NULL AND failed_at IS NULL")
    ).scalar()
    if waiting:
        raise RuntimeError(f"{waiting} queued emails are not rendered yet: run the mail worker until the outbox is empty")
    op.execute(
        "UPDATE outbox_messages SET body_text = '' WHERE body_text IS NULL AND (sent_at IS NOT NULL OR failed_at IS NOT NULL)"
    )
    with op.batch_alter_table("outbox_messages") as batch:
        batch.alter_column("body_text", existing_type=sa.Text(), nullable=False)
        batch.drop_column("signature_id")
        batch.drop_column("context")
        batch.drop_column("template")
