"""the basis of the stored matches, for incremental matching in a delta

``oneroster_integration.match_basis``: what the stored matches were computed under
(directory fingerprint, exclusions, school names, options) and the counts that go
with them (``sisapp/sync/rematch.py``). Empty: the next sync matches every user.

Revision ID: 8d2f6a4c1e07
Revises: 5b7e3c1d9a42
Create Date: 2026-11-30 00:10:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '8d2f6a4c1e07'
down_revision = '5b7e3c1d9a42'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('oneroster_integration', schema=None) as batch_op:
        batch_op.add_column(sa.Column('match_basis', sa.JSON(), nullable=True))


def downgrade():
    with op.batch_alter_table('oneroster_integration', schema=None) as batch_op:
        batch_op.drop_column('match_basis')
