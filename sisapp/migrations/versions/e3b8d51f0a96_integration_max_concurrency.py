"""oneroster_integration.max_concurrency: the most requests in flight to one SIS

Some SIS vendors ask for 5 or fewer concurrent requests; NULL keeps the sync's default
(SYNC_CONCURRENCY). Nothing to fill in for existing integrations.

Revision ID: e3b8d51f0a96
Revises: c4a7e19b2f30
Create Date: 2026-12-02 19:05:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'e3b8d51f0a96'
down_revision = 'c4a7e19b2f30'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('oneroster_integration', schema=None) as batch_op:
        batch_op.add_column(sa.Column('max_concurrency', sa.Integer(), nullable=True))


def downgrade():
    with op.batch_alter_table('oneroster_integration', schema=None) as batch_op:
        batch_op.drop_column('max_concurrency')
