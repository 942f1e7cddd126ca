"""The run record: bounded log, throttled progress, cancel flag re-read from the database."""

from sqlalchemy import select

from sisapp.extensions import db
from sisapp.models import SyncLogLine, SyncRun
from sisapp.sync.match import SisUserRow, match_users_by_email
from sisapp.sync.record import RunLog, RunRecorder


def test_log_keeps_head_then_only_warnings_up_to_the_limit():
    log = RunLog(1, head=3, limit=5)
    for n in range(10):
        log.info(f"line {n}")
    log.warning("a warning")
    log.add("summary", summary=True)
    log.error("an error")
    messages = [row["message"] for row in log.take()]
    assert messages == ["line 0", "line 1", "line 2", "a warning", "summary"]
    assert log.dropped == 8


def test_progress_is_throttled_and_written(make_integration, sync):
    integration = make_integration()
    run = SyncRun(integration_id=integration.id, device_id=integration.device_id)
    db.session.add(run)
    db.session.commit()
    now = [0.0]
    seen = []
    recorder = RunRecorder(run.id, RunLog(run.id), interval=1.0, on_progress=seen.append, clock=lambda: now[0])  # fmt: skip
    recorder.set_phase("users", "reading users")
    for n in range(100):
        recorder.tick(records=n)
    now[0] = 1.5
    recorder.tick(records=100)
    assert [s["records_read"] for s in seen] == [0, 100]
    db.session.expire_all()
    stored = db.session.get(SyncRun, run.id)
    assert stored.phase == "users" and stored.records_read == 100 and stored.heartbeat_at
    assert db.session.scalars(select(SyncLogLine.message)).all() == ["reading users"]
    assert recorder.should_stop() is False
    stored.cancel_requested = True
    db.session.commit()
    assert recorder.should_stop() is False  # throttled: not re-read yet
    now[0] = 3.0
    assert recorder.should_stop() is True


def test_phases_reported_during_a_sync(make_integration, sync):
    seen = []
    run = sync(make_integration(), on_progress=seen.append, progress_interval=0)
    phases = [s["phase"] for s in seen]
    for phase in ("schools", "sessions", "users", "classes", "applying", "done"):
        assert phase in phases
    assert seen[-1]["progress_done"] == seen[-1]["progress_total"] == run.progress_total


def _user(sid, role="student", email="", enabled=True, orgs=("s1",), agents=()):
    return SisUserRow(sid, role, enabled, email, "Given", "Family", None, orgs, agents)


def test_matching_rules_in_isolation():
    users = [
        _user("a", email="x@e.org"),
        _user("b", email="x@e.org", role="teacher"),  # duplicate of a
        _user("c", email=""),  # no email: unmatched
        _user("d", email="nobody@e.org"),  # unknown: unmatched
        _user("e", email="t@e.org", role="teacher", enabled=False),  # disabled: skipped
        _user("f", email="y@e.org", orgs=("s2",)),  # only an excluded school
        _user("g", email="z@e.org", role="aide"),  # other role
        _user("h", email="y@e.org"),  # left: no current enrollment
    ]
    result = match_users_by_email(
        users,
        {"x@e.org": 1, "y@e.org": 2, "z@e.org": 3, "t@e.org": 4},
        excluded_schools={"s2"},
        current_students={"a", "c", "d", "f"},
        school_names={"s1": "School One"},
        relationship=None,
    )
    assert result.links == {"a": (1, "student")}
    assert [u["sis_sourced_id"] for u in result.unmatched] == ["c", "d"]
    assert result.unmatched[0]["school_name"] == "School One"
    assert result.duplicate_count == 1 and result.other_roles == {"aide": 1}
    assert result.skipped == {"disabled": 1, "excluded or no school": 1, "no current enrollment": 1}
    assert result.excluded_only == {"f"}


def test_sync_codes_documented(project_root):
    from sisapp.sync import SyncErrorCode

    text = (project_root / "docs" / "error-codes.md").read_text()
    for code in SyncErrorCode:
        assert f"| {code.value} | `{code.name}` | {code.meaning} | {code.action} |" in text


def test_users_phase_shows_records_by_collection_as_pages_arrive(make_integration, sync, district):
    """Issue 18 item 4: records read move within the Users phase, by collection, and the
    bar moves with them (the SIS's X-Total-Count says how many users to expect)."""
    seen = []
    run = sync(make_integration(), on_progress=seen.append, progress_interval=0, page_size=20)
    users = len(district.users)
    during = [s for s in seen if s["phase"] == "users" and "read_counts" in s]
    read = [s["read_counts"]["read"].get("users", 0) for s in during]
    assert len(set(read)) >= 3 and read == sorted(read), read
    assert {s["read_counts"]["expected"].get("users") for s in during if read} >= {users}
    step = [s["progress_done"] for s in during if 0 < s["read_counts"]["read"].get("users", 0) < users]  # fmt: skip
    assert len(set(step)) >= 2, step  # the bar moved inside the phase, not only between phases
    assert all(s["progress_done"] < s["progress_total"] for s in during)
    db.session.expire_all()
    stored = db.session.get(SyncRun, run.id)
    assert stored.read_counts["read"]["users"] == users
    assert stored.read_counts["expected"]["users"] == users
    assert sum(stored.read_counts["read"].values()) == stored.records_read
