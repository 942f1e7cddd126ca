"""admin_user.session_token: sessions end at sign-out, a new password, or with age

Flask-Login's user id becomes "<id>:<session_token>", so a session or remember-me
cookie captured before the token was rotated no longer signs anyone in; a token older
than REMEMBER_COOKIE_DURATION (session_token_issued_at) signs nobody in either. Existing
admins get a random token each (their current sessions end once, at this upgrade).

Revision ID: c4a7e19b2f30
Revises: 8d2f6a4c1e07
Create Date: 2026-12-02 18:20:00

"""
import secrets
from datetime import UTC, datetime

from alembic import op
import sqlalchemy as sa

import sisapp.models.types


# revision identifiers, used by Alembic.
revision = 'c4a7e19b2f30'
down_revision = '8d2f6a4c1e07'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('admin_user', schema=None) as batch_op:
        batch_op.add_column(sa.Column('session_token', sa.String(length=64), nullable=True))
        batch_op.add_column(
            sa.Column(
                'session_token_issued_at',
                sisapp.models.types.UTCDateTime(timezone=True),
                nullable=True,
            )
        )
    admin_user = sa.table(
        'admin_user',
        sa.column('id', sa.Integer),
        sa.column('session_token', sa.String),
        sa.column('session_token_issued_at', sisapp.models.types.UTCDateTime(timezone=True)),
    )
    conn = op.get_bind()
    now = datetime.now(UTC)
    for (admin_id,) in conn.execute(sa.select(admin_user.c.id)).all():
        conn.execute(
            admin_user.update()
            .where(admin_user.c.id == admin_id)
            .values(session_token=secrets.token_urlsafe(32), session_token_issued_at=now)
        )
    with op.batch_alter_table('admin_user', schema=None) as batch_op:
        batch_op.alter_column('session_token', existing_type=sa.String(length=64), nullable=False)
        batch_op.alter_column(
            'session_token_issued_at',
            existing_type=sisapp.models.types.UTCDateTime(timezone=True),
            nullable=False,
        )


def downgrade():
    with op.batch_alter_table('admin_user', schema=None) as batch_op:
        batch_op.drop_column('session_token_issued_at')
        batch_op.drop_column('session_token')
