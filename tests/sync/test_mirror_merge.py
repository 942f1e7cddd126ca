"""Staged duplicates collapse to the last version read, on either database.

A record can be read twice in one run (offset paging while the SIS changes under the
read). The mirror must hold the last version read, and none when that version is a
``tobedeleted`` one, whichever copy the database takes (SQLite replaces in order,
PostgreSQL groups first).
"""

from datetime import date

from sqlalchemy import select

from sisapp.extensions import db
from sisapp.models import SisEnrollment
from sisapp.sync.mirror import _merge_staged
from sisapp.sync.stage import STAGE_ENROLLMENT, create_stage, drop_stage


def _staged(run_id, active, sid, role, school="s1"):
    return {
        "run_id": run_id, "active": active, "sourced_id": sid, "school_id": school,
        "user_id": f"u-{sid}", "class_id": "c1", "role": role,
        "begin_date": date(2026, 9, 1), "end_date": None,
    }  # fmt: skip


def test_the_last_version_read_wins_and_a_last_tobedeleted_removes(make_integration):
    integration = make_integration()
    rows = [
        _staged(7, True, "gone", "student"),
        _staged(7, True, "twice", "student"),
        _staged(7, False, "back", "student"),
        _staged(7, True, "kept", "teacher"),
        _staged(7, False, "gone", "student"),  # read again as tobedeleted: removed
        _staged(7, True, "back", "teacher"),  # tobedeleted, then active again: kept
        _staged(7, True, "twice", "teacher"),  # the later version's values
        _staged(8, True, "other-run", "student"),  # another run's rows are not taken
        _staged(7, True, "other-school", "student", school="s2"),  # nor unread schools'
    ]
    with db.engine.connect() as conn:
        create_stage(conn)
        conn.execute(STAGE_ENROLLMENT.insert(), rows)
        _merge_staged(conn, integration.id, 7, SisEnrollment, STAGE_ENROLLMENT, schools=["s1"])
        mirrored = dict(
            conn.execute(
                select(SisEnrollment.sourced_id, SisEnrollment.role).where(
                    SisEnrollment.integration_id == integration.id
                )
            ).all()
        )
        conn.rollback()
        drop_stage(conn)
        conn.commit()
    assert mirrored == {"twice": "teacher", "back": "teacher", "kept": "teacher"}
