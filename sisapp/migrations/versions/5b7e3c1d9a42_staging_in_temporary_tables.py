"""staging in temporary tables of the run's connection

The sync now stages what it reads in temporary tables of its own connection
(``sisapp/sync/stage_tables.py``): the shared staging tables go.

Revision ID: 5b7e3c1d9a42
Revises: 91c9e2dd1763
Create Date: 2026-11-29 21:40:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '5b7e3c1d9a42'
down_revision = '91c9e2dd1763'
branch_labels = None
depends_on = None


def upgrade():
    for name in ('sis_stage_user', 'sis_stage_enrollment', 'sis_stage_class'):
        with op.batch_alter_table(name, schema=None) as batch_op:
            batch_op.drop_index(f'ix_{name}_run')
        op.drop_table(name)


def downgrade():
    op.create_table('sis_stage_class',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('run_id', sa.Integer(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('sourced_id', sa.String(length=255), nullable=False),
    sa.Column('school_id', sa.String(length=255), nullable=False),
    sa.Column('title', sa.String(length=255), nullable=True),
    sa.Column('class_code', sa.String(length=255), nullable=True),
    sa.Column('term_ids', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['run_id'], ['sync_run.id'], name=op.f('fk_sis_stage_class_run_id_sync_run'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sis_stage_class'))
    )
    with op.batch_alter_table('sis_stage_class', schema=None) as batch_op:
        batch_op.create_index('ix_sis_stage_class_run', ['run_id'], unique=False)

    op.create_table('sis_stage_enrollment',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('run_id', sa.Integer(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('sourced_id', sa.String(length=255), nullable=False),
    sa.Column('school_id', sa.String(length=255), nullable=False),
    sa.Column('user_id', sa.String(length=255), nullable=True),
    sa.Column('class_id', sa.String(length=255), nullable=True),
    sa.Column('role', sa.String(length=40), nullable=True),
    sa.Column('begin_date', sa.Date(), nullable=True),
    sa.Column('end_date', sa.Date(), nullable=True),
    sa.ForeignKeyConstraint(['run_id'], ['sync_run.id'], name=op.f('fk_sis_stage_enrollment_run_id_sync_run'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sis_stage_enrollment'))
    )
    with op.batch_alter_table('sis_stage_enrollment', schema=None) as batch_op:
        batch_op.create_index('ix_sis_stage_enrollment_run', ['run_id'], unique=False)

    op.create_table('sis_stage_user',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('run_id', sa.Integer(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('sourced_id', sa.String(length=255), nullable=False),
    sa.Column('role', sa.String(length=40), nullable=True),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=False),
    sa.Column('given_name', sa.String(length=255), nullable=True),
    sa.Column('family_name', sa.String(length=255), nullable=True),
    sa.Column('phone', sa.String(length=60), nullable=True),
    sa.Column('org_ids', sa.Text(), nullable=False),
    sa.Column('agent_ids', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['run_id'], ['sync_run.id'], name=op.f('fk_sis_stage_user_run_id_sync_run'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sis_stage_user'))
    )
    with op.batch_alter_table('sis_stage_user', schema=None) as batch_op:
        batch_op.create_index('ix_sis_stage_user_run', ['run_id'], unique=False)
