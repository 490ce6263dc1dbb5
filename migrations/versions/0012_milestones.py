"""Milestones: petition_milestones, one row per threshold a petition reached; petitions.auto_raise_goal.

Petitions past a threshold already get their milestones here, so the worker does not email
their campaigners about the past.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-20 10:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None

STEPS = (100, 1_000, 10_000, 100_000, 1_000_000)


def upgrade():
    op.create_table('petition_milestones',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('petition_id', sa.Integer(), nullable=False),
    sa.Column('threshold', sa.Integer(), nullable=False),
    sa.Column('is_goal', sa.Boolean(), nullable=False),
    sa.Column('reached_at', sa.DateTime(), nullable=False),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['petition_id'], ['petitions.id'], name=op.f('fk_petition_milestones_petition_id_petitions'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_petition_milestones')),
    sa.UniqueConstraint('petition_id', 'threshold', name=op.f('uq_petition_milestones_petition_id_threshold'))
    )
    with op.batch_alter_table('petitions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('auto_raise_goal', sa.Boolean(), server_default=sa.false(), nullable=False))
    for step in STEPS:
        op.execute(
            "INSERT INTO petition_milestones (petition_id, threshold, is_goal, reached_at, count)"
            f" SELECT id, {step}, goal = {step}, count_updated_at, signature_count FROM petitions"
            f" WHERE signature_count >= {step}"
        )
    op.execute(
        "INSERT INTO petition_milestones (petition_id, threshold, is_goal, reached_at, count)"
        " SELECT id, goal, true, count_updated_at, signature_count FROM petitions"
        " WHERE signature_count >= goal AND goal NOT IN (100, 1000, 10000, 100000, 1000000)"
    )


def downgrade():
    with op.batch_alter_table('petitions', schema=None) as batch_op:
        batch_op.drop_column('auto_raise_goal')
    op.drop_table('petition_milestones')
