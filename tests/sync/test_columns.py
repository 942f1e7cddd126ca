"""The SIS user column order has one definition: the mirror table's (``stage.USER_COLUMNS``)."""

from dataclasses import fields

from sisapp.models import SisUser
from sisapp.sync.match import SisUserRow
from sisapp.sync.stage import STAGE_COLUMNS, STAGE_USER, USER_COLUMNS


def test_matched_users_and_staged_rows_follow_the_mirror_columns():
    assert USER_COLUMNS[0] == "sourced_id" and "id" not in USER_COLUMNS
    assert set(USER_COLUMNS) == {c.name for c in SisUser.__table__.columns} - {"id", "integration_id"}  # fmt: skip
    assert tuple(f.name for f in fields(SisUserRow)) == USER_COLUMNS
    assert STAGE_COLUMNS[STAGE_USER] == ("run_id", "active", *USER_COLUMNS)
    assert [c.name for c in STAGE_USER.columns] == ["id", *STAGE_COLUMNS[STAGE_USER]]
