"""A petition's picture: petition_images, one live and at most one waiting for review per petition.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-07 23:10:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0019'
down_revision = '0018'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('petition_images',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('petition_id', sa.Integer(), nullable=False),
    sa.Column('author_id', sa.Integer(), nullable=True),
    sa.Column('key', sa.String(length=32), nullable=False),
    sa.Column('width', sa.Integer(), nullable=False),
    sa.Column('height', sa.Integer(), nullable=False),
    sa.Column('alt', sa.String(length=300), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('reviewed_at', sa.DateTime(), nullable=True),
    sa.Column('reviewer_id', sa.Integer(), nullable=True),
    sa.Column('reason', sa.String(length=500), nullable=True),
    sa.ForeignKeyConstraint(['author_id'], ['users.id'], name=op.f('fk_petition_images_author_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['petition_id'], ['petitions.id'], name=op.f('fk_petition_images_petition_id_petitions'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['reviewer_id'], ['users.id'], name=op.f('fk_petition_images_reviewer_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_petition_images'))
    )
    with op.batch_alter_table('petition_images', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_petition_images_petition_id'), ['petition_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_petition_images_key'), ['key'], unique=False)
        batch_op.create_index('uq_petition_images_live', ['petition_id'], unique=True,
                              sqlite_where=sa.text("status = 'live'"), postgresql_where=sa.text("status = 'live'"))
        batch_op.create_index('uq_petition_images_pending', ['petition_id'], unique=True,
                              sqlite_where=sa.text("status = 'pending'"), postgresql_where=sa.text("status = 'pending'"))


def downgrade():
    with op.batch_alter_table('petition_images', schema=None) as batch_op:
        batch_op.drop_index('uq_petition_images_pending', sqlite_where=sa.text("status = 'pending'"),
                            postgresql_where=sa.text("status = 'pending'"))
        batch_op.drop_index('uq_petition_images_live', sqlite_where=sa.text("status = 'live'"),
                            postgresql_where=sa.text("status = 'live'"))
        batch_op.drop_index(batch_op.f('ix_petition_images_key'))
        batch_op.drop_index(batch_op.f('ix_petition_images_petition_id'))

    op.drop_table('petition_images')
