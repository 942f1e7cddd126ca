"""The apply streams the mirrored users without changing its connection: a streaming
option left on the connection made PostgreSQL's later bulk inserts in the same
transaction fail ("executemany not supported on server-side cursors")."""

from sqlalchemy import insert

from sisapp.extensions import db
from sisapp.models import SyncLogLine, SyncStatus
from sisapp.sync.match import _sis_users


def test_streaming_the_users_leaves_the_connection_clean(make_integration, sync):
    integration = make_integration()
    run = sync(integration)
    assert run.status is SyncStatus.SUCCEEDED
    conn = db.session.connection()
    users = list(_sis_users(conn, integration.id, with_parents=True))
    assert len(users) > 100
    assert not {"yield_per", "stream_results"} & set(conn.get_execution_options())
    lines = [{"run_id": run.id, "level": "info", "message": f"line {n}"} for n in range(3)]
    conn.execute(insert(SyncLogLine), lines)  # an executemany on the same connection
    db.session.rollback()
