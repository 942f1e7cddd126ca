"""Change sets: sync_run.changes and the sync_change rows; previews beside syncs; reset_at

A run records what it changed by kind (``sync_run.changes``) and the first rows of each
kind (``sync_change``). A preview run (trigger ``preview``) may be active beside a sync,
so the one-active-run index leaves previews out and a second index allows one preview.
Reset stamps ``oneroster_integration.reset_at``. New statuses (``blocked``, ``preview``)
need no DDL: the status column is a plain string.

Revision ID: e6b1d4f08a53
Revises: e3b8d5a61c92
Create Date: 2026-12-02 19:00:00

"""
from alembic import op
import sqlalchemy as sa

import sisapp.models.types


# revision identifiers, used by Alembic.
revision = 'e6b1d4f08a53'
down_revision = 'e3b8d5a61c92'
branch_labels = None
depends_on = None

_ACTIVE = "status IN ('queued', 'running')"
_SYNC = _ACTIVE + " AND \"trigger\" <> 'preview'"
_PREVIEW = _ACTIVE + " AND \"trigger\" = 'preview'"


def _index(batch_op, name, where):
    batch_op.create_index(
        name,
        ['integration_id'],
        unique=True,
        postgresql_where=sa.text(where),
        sqlite_where=sa.text(where),
    )


def upgrade():
    op.create_table(
        'sync_change',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('run_id', sa.Integer(), nullable=False),
        sa.Column('kind', sa.String(length=20), nullable=False),
        sa.Column('change', sa.String(length=10), nullable=False),
        sa.Column('subject', sa.String(length=500), nullable=False),
        sa.Column('reason', sa.String(length=60), nullable=True),
        sa.ForeignKeyConstraint(
            ['run_id'], ['sync_run.id'], name=op.f('fk_sync_change_run_id_sync_run'),
            ondelete='CASCADE',
        ),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_sync_change')),
    )
    with op.batch_alter_table('sync_change', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sync_change_run_id'), ['run_id'], unique=False)
    with op.batch_alter_table('sync_run', schema=None) as batch_op:
        batch_op.add_column(sa.Column('changes', sa.JSON(), nullable=True))
        batch_op.drop_index('uq_sync_run_one_active')
        _index(batch_op, 'uq_sync_run_one_active', _SYNC)
        _index(batch_op, 'uq_sync_run_one_preview', _PREVIEW)
    with op.batch_alter_table('oneroster_integration', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('reset_at', sisapp.models.types.UTCDateTime(timezone=True), nullable=True)
        )


def downgrade():
    with op.batch_alter_table('oneroster_integration', schema=None) as batch_op:
        batch_op.drop_column('reset_at')
    op.execute("DELETE FROM sync_run WHERE \"trigger\" = 'preview'")
    with op.batch_alter_table('sync_run', schema=None) as batch_op:
        batch_op.drop_index('uq_sync_run_one_preview')
        batch_op.drop_index('uq_sync_run_one_active')
        _index(batch_op, 'uq_sync_run_one_active', _ACTIVE)
        batch_op.drop_column('changes')
    with op.batch_alter_table('sync_change', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sync_change_run_id'))
    op.drop_table('sync_change')
