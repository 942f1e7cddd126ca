"""sync_run.read_counts: records read so far by collection, for live progress

Revision ID: f1c2a9d7e4b6
Revises: e6b1d4f08a53
Create Date: 2026-12-03 08:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'f1c2a9d7e4b6'
down_revision = 'e6b1d4f08a53'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('sync_run', schema=None) as batch_op:
        batch_op.add_column(sa.Column('read_counts', sa.JSON(), nullable=True))


def downgrade():
    with op.batch_alter_table('sync_run', schema=None) as batch_op:
        batch_op.drop_column('read_counts')
