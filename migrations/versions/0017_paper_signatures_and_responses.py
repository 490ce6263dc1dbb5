"""Paper signatures and the target's response: paper_batches, petition_responses, and on petitions
paper_signature_count (the batches not rejected, never part of signature_count) and outcome ('won').

petition_updates.response_id marks the update that announces a response, written in each signer's
language. The new petitions columns have a server default or allow NULL: no table rewrite on PostgreSQL.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07 22:55:39.663665

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('paper_batches',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('petition_id', sa.Integer(), nullable=False),
    sa.Column('author_id', sa.Integer(), nullable=True),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.Column('location', sa.String(length=200), nullable=False),
    sa.Column('collected_on', sa.Date(), nullable=False),
    sa.Column('scan_file', sa.String(length=80), nullable=True),
    sa.Column('scan_type', sa.String(length=40), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('rejected_at', sa.DateTime(), nullable=True),
    sa.Column('rejected_by_id', sa.Integer(), nullable=True),
    sa.Column('rejection_reason', sa.String(length=500), nullable=True),
    sa.CheckConstraint('count > 0 AND count <= 100000', name=op.f('ck_paper_batches_paper_count_range')),
    sa.ForeignKeyConstraint(['author_id'], ['users.id'], name=op.f('fk_paper_batches_author_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['petition_id'], ['petitions.id'], name=op.f('fk_paper_batches_petition_id_petitions'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['rejected_by_id'], ['users.id'], name=op.f('fk_paper_batches_rejected_by_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_paper_batches'))
    )
    with op.batch_alter_table('paper_batches', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_paper_batches_petition_id'), ['petition_id'], unique=False)

    op.create_table('petition_responses',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('petition_id', sa.Integer(), nullable=False),
    sa.Column('author_id', sa.Integer(), nullable=True),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('text_html', sa.Text(), nullable=False),
    sa.Column('responded_on', sa.Date(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('won', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['author_id'], ['users.id'], name=op.f('fk_petition_responses_author_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['petition_id'], ['petitions.id'], name=op.f('fk_petition_responses_petition_id_petitions'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_petition_responses'))
    )
    with op.batch_alter_table('petition_responses', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_petition_responses_petition_id'), ['petition_id'], unique=False)

    with op.batch_alter_table('petition_updates', schema=None) as batch_op:
        batch_op.add_column(sa.Column('response_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_petition_updates_response_id_petition_responses'), 'petition_responses', ['response_id'], ['id'], ondelete='CASCADE')

    with op.batch_alter_table('petitions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('paper_signature_count', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('outcome', sa.String(length=16), nullable=True))
        batch_op.create_check_constraint(op.f('ck_petitions_paper_count_not_negative'), 'paper_signature_count >= 0')



def downgrade():
    with op.batch_alter_table('petitions', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_petitions_paper_count_not_negative'), type_='check')
        batch_op.drop_column('outcome')
        batch_op.drop_column('paper_signature_count')

    with op.batch_alter_table('petition_updates', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_petition_updates_response_id_petition_responses'), type_='foreignkey')
        batch_op.drop_column('response_id')

    with op.batch_alter_table('petition_responses', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_petition_responses_petition_id'))

    op.drop_table('petition_responses')
    with op.batch_alter_table('paper_batches', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_paper_batches_petition_id'))

    op.drop_table('paper_batches')
