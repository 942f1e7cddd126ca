"""Sync outcome emails: admin_user.notify_sync_results and sync_run.notified_at

Admins are emailed when a sync of their device fails, is partial or blocked, and when it
is back to normal; each can switch this off (on by default, existing admins included).
notified_at marks a run whose emails were queued, so they go out once per run.

Revision ID: e3b8d5a61c92
Revises: e3b8d51f0a96
Create Date: 2026-12-02 19:00:00

"""
from alembic import op
import sqlalchemy as sa

import sisapp.models.types


# revision identifiers, used by Alembic.
revision = 'e3b8d5a61c92'
down_revision = 'e3b8d51f0a96'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('admin_user', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                'notify_sync_results', sa.Boolean(), server_default=sa.true(), nullable=False
            )
        )
    with op.batch_alter_table('sync_run', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('notified_at', sisapp.models.types.UTCDateTime(timezone=True), nullable=True)
        )


def downgrade():
    with op.batch_alter_table('sync_run', schema=None) as batch_op:
        batch_op.drop_column('notified_at')
    with op.batch_alter_table('admin_user', schema=None) as batch_op:
        batch_op.drop_column('notify_sync_results')
