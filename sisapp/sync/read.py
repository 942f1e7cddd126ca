"""Read the SIS into the run's staging tables, page by page, and say what was read.

Nothing read here touches synced data: users, classes and enrollments go to the
staging tables (``stage``) in batches committed as they fill, so memory stays flat;
schools and academic sessions (a few hundred rows) stay in memory. The mirror step
merges them in the apply transaction.

A full read takes classes and enrollments school by school, so one school's failure is
contained: it is recorded in ``ReadResult.failed`` and its staged rows are ignored by the
apply. Where the database allows it, a full read hands what it has staged to a
``StagedHook`` (the mirror's merge while reading) as each collection completes.

A delta reads the changes of all schools that share a delta point from the top-level
collections at once (two filtered reads instead of two per school: a small delta's time
is mostly per-request cost); if that read fails for a reason that could belong to one
school, it falls back to the per-school reads and their partial semantics.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import chain
from typing import Protocol

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from sisapp.models import OneRosterIntegration, SisOrg
from sisapp.models.sis_mirror import NAME_LENGTH
from sisapp.oneroster import (
    AcademicSession,
    ConnectionSettings,
    Enrollment,
    ErrorCode,
    OneRosterClient,
    OneRosterError,
    Org,
)
from sisapp.sync.errors import SyncError, SyncErrorCode
from sisapp.sync.record import RunRecorder
from sisapp.sync.stage import (
    STAGE_CLASS,
    STAGE_COLUMNS,
    STAGE_ENROLLMENT,
    STAGE_USER,
    class_row,
    clean,
    enrollment_row,
    user_row,
)
from sisapp.sync.stage_writer import StageSink, StageWriter

# Failures that belong to one school's data or endpoint: the run goes on without it.
# Anything else (bad credentials, a malformed page, an unreachable SIS) fails the run.
SCHOOL_CAUSES = frozenset(
    {
        ErrorCode.SERVER_ERROR,
        ErrorCode.ENDPOINT_NOT_FOUND,
        ErrorCode.FORBIDDEN_SCOPE,
        ErrorCode.REQUEST_REJECTED,
        ErrorCode.TIMEOUT,
        ErrorCode.RATE_LIMITED,
    }
)


@dataclass
class ReadResult:
    """What the read phase found, for the apply."""

    started_at: datetime
    full: bool
    schools: list[Org] = field(default_factory=list)
    sessions: list[AcademicSession] = field(default_factory=list)
    # school sourcedId -> True when read in full (replace its slice), False for a delta.
    read_schools: dict[str, bool] = field(default_factory=dict)
    failed: dict[str, OneRosterError] = field(default_factory=dict)
    roster_read: bool = False
    # What the client found: (version, auth mode) and records read, for the run's record.
    detected: tuple[str | None, str | None] = (None, None)
    records: int = 0
    # school sourcedId -> users read that name it among their orgs (for the empty-school warning)
    users_per_school: Counter = field(default_factory=Counter)

    def school_names(self) -> dict[str, str]:
        """School sourcedId -> name, cut to the column like every other SIS string
        (classrooms and unmatched users store it)."""
        return {s.sourced_id: clean(s.name, NAME_LENGTH) or s.sourced_id for s in self.schools}


class StagedHook(Protocol):
    """Told, on a full read, when a collection is wholly staged; it may queue work on the
    staging writer (``sink``), which runs it in order after the staged rows."""

    def users_staged(self, sink: StageSink) -> None: ...

    def school_staged(self, sink: StageSink, school_id: str) -> None: ...


def read_sis(
    session: Session,
    settings: ConnectionSettings,
    integration: OneRosterIntegration,
    run_id: int,
    full: bool,
    started_at: datetime,
    recorder: RunRecorder,
    margin: float = 0,
    staged: StagedHook | None = None,
) -> ReadResult:
    """Read schools, sessions, users and each school's classes and enrollments, staged
    (and committed) on the run's ``session`` by the time it returns. A delta reads from
    ``margin`` seconds before each delta point (SYNC_DELTA_MARGIN: clock skew between
    the SIS and us; records read twice merge to the same result, rule 6). A full read
    tells ``staged`` of the users, then of each school read, as they are staged.

    Raises ``SyncError(ALL_SCHOOLS_FAILED)`` when schools were to be read and none could.
    """
    log = recorder.log
    client = OneRosterClient(settings, log=log.info, warn=log.warning, should_stop=recorder.should_stop)  # fmt: skip
    recorder.watch(client)
    with client:
        sink = StageSink(session.connection())
        try:
            result = _read(client, session, integration, run_id, full, started_at, recorder, sink, margin, staged)  # fmt: skip
        except BaseException:
            sink.abandon()
            raise
        sink.close()
        result.detected = (client.version, client.auth_mode)
        result.records = client.records_read
        pages, retries = client.pages_read, client.retries
    log.add(f"read {result.records} records in {pages} pages ({retries} retries)", summary=True)
    if result.failed and not result.read_schools:
        first = next(iter(result.failed.values()))
        raise SyncError(SyncErrorCode.ALL_SCHOOLS_FAILED, f"No school could be read: {first}")
    return result


def _writer(table, sink: StageSink, recorder: RunRecorder, client) -> StageWriter:
    return StageWriter(table, STAGE_COLUMNS[table], sink, recorder, client)


def _read(client, session, integration, run_id, full, started_at, recorder, sink, margin=0, staged=None) -> ReadResult:  # fmt: skip
    log = recorder.log
    skew = timedelta(seconds=margin)
    since = None if full or integration.last_sync_at is None else integration.last_sync_at - skew
    staged = staged if since is None else None  # a delta's merge needs the mirror as it was
    result = ReadResult(started_at=started_at, full=since is None)
    mode = "full" if since is None else f"changes since {since:%Y-%m-%d %H:%M:%S} UTC"
    excluded = set(integration.excluded_school_ids or ())
    progress = lambda: recorder.tick(records=client.records_read)  # noqa: E731
    slice_times = {}
    if since is not None:  # asked before the reads begin: later, parsing threads hold the GIL
        slice_times = {sid: at - skew if at else at for sid, at in _slice_times(session, integration.id).items()}  # fmt: skip

    with ExitStack() as reads:
        recorder.set_phase("schools", f"reading schools ({mode})")
        tops = [lambda: client.academic_sessions(since=since), lambda: client.users(since=since)]
        tops = _started(reads, client, tops, progress) if since is not None else _in_turn(tops)
        result.schools = _once_each([org for org in client.schools() if org.status == "active"], log)  # fmt: skip
        log.info(f"{len(result.schools)} schools; {len(excluded)} excluded")
        roster_wanted = bool(integration.sync_classes or integration.respect_enrolment_date)
        to_read = [s for s in result.schools if s.sourced_id not in excluded] if roster_wanted else []  # fmt: skip
        recorder.step(done=1, total=3 + 2 * len(to_read) + 1)

        plan = [(school, slice_times.get(school.sourced_id)) for school in to_read]
        shared, together = _shared_delta_point(plan)
        changed = None
        if together:
            opens = [lambda: client.classes(since=shared), lambda: client.enrollments(since=shared)]
            changed = _started(reads, client, opens, progress)

        recorder.set_phase("sessions", "reading academic sessions")
        result.sessions = list(next(tops))
        log.info(f"{len(result.sessions)} academic sessions read")
        recorder.step(done=2)

        recorder.set_phase("users", "reading users")
        writer = _writer(STAGE_USER, sink, recorder, client)
        for user in next(tops):
            writer.add(user_row(run_id, user))
            result.users_per_school.update(user.org_ids)
        writer.flush()
        if staged is not None:
            staged.users_staged(sink)
        log.info(f"{writer.count} users read ({client.pages_read} pages so far)")
        recorder.step(done=3)

        result.roster_read = roster_wanted
        at_once = (client, session, run_id, together, changed, recorder, result, sink)
        if together and _read_changes_at_once(*at_once):
            plan = [(school, at) for school, at in plan if school.sourced_id not in together]
    done = 3 + 2 * (len(to_read) - len(plan))
    recorder.step(done=done)
    schools = ((school.sourced_id, at) for school, at in plan)
    with client.school_rosters(schools, on_wait=progress) as rosters:
        for n, ((school, school_since), roster) in enumerate(zip(plan, rosters, strict=False)):
            if _read_school(roster, run_id, school, school_since, recorder, result, client, sink) and staged:  # fmt: skip
                staged.school_staged(sink, school.sourced_id)
            recorder.step(done=done + 2 * (n + 1))
    return result


def _once_each(schools: list[Org], log) -> list[Org]:
    """The schools, a sourcedId listed again left out (the first listing kept, as the
    mirror keeps it): its roster is read once, and a school's slice is replaced by one
    read of it, also when merged school by school while reading."""
    first = {}
    for school in schools:
        first.setdefault(school.sourced_id, school)
    if len(first) < len(schools):
        listed = Counter(s.sourced_id for s in schools)
        repeated = sorted(sid for sid, n in listed.items() if n > 1)
        log.warning(f"the SIS listed {len(repeated)} school(s) more than once ({', '.join(repeated[:5])}): each is read once")  # fmt: skip
    return list(first.values())


def _started(reads: ExitStack, client, opens, on_wait) -> Iterator[Iterator]:
    """The reads ``opens`` starts, every one begun now in the background (a delta's few
    pages per collection then arrive together instead of one collection after another);
    their iterators in order, each to be read to its end before the next is asked for."""
    streams = iter(reads.enter_context(client.at_once(opens, on_wait)))
    return chain([next(streams)], streams)  # the first next() starts them all


def _in_turn(opens) -> Iterator[Iterator]:
    return (open_read() for open_read in opens)


def _shared_delta_point(plan) -> tuple[datetime | None, dict[str, Org]]:
    """The delta point most schools share (normally the last sync's start) and them.

    Schools read in full (new, re-included, failed before) or from another point (one
    that failed in the last sync keeps its older point) are read on their own. Fewer
    than two schools gain nothing from the shared read.
    """
    points = Counter(at for _, at in plan if at is not None)
    if not points:
        return None, {}
    shared, count = points.most_common(1)[0]
    if count < 2:
        return None, {}
    return shared, {school.sourced_id: school for school, at in plan if at == shared}


def _read_changes_at_once(client, session, run_id, schools: dict[str, Org], changed, recorder, result, sink) -> bool:  # fmt: skip
    """Stage the classes and enrollments of ``schools`` changed since their shared delta
    point from the top-level collections (``changed``: the two reads, begun by
    ``_started``), keeping the records of these schools only (as their per-school reads
    would). False, with nothing staged, when the read failed for a school-level cause:
    the caller then reads these schools one by one."""
    recorder.set_phase("classes", f"reading changed classes and enrollments of {len(schools)} schools")  # fmt: skip
    classes = _writer(STAGE_CLASS, sink, recorder, client)
    enrollments = _writer(STAGE_ENROLLMENT, sink, recorder, client)
    others = 0
    try:
        for cls in next(changed):
            if cls.school_id in schools:
                classes.add(class_row(run_id, cls.school_id, cls))
            else:
                others += 1
        classes.flush()
        for enrollment in next(changed):
            if enrollment.school_id in schools:
                enrollments.add(enrollment_row(run_id, enrollment.school_id, enrollment))
            else:
                others += 1
        enrollments.flush()
    except OneRosterError as exc:
        if exc.code not in SCHOOL_CAUSES:
            raise
        sink.drain()  # what was staged is committed; the session may use the connection
        for table in (STAGE_CLASS, STAGE_ENROLLMENT):
            session.execute(delete(table).where(table.c.run_id == run_id))
        session.commit()
        recorder.log.warning(
            f"reading the changed classes and enrollments at once failed ({exc.code.value}): "
            "reading them school by school"
        )
        return False
    for sid in schools:
        result.read_schools[sid] = False
    recorder.log.info(
        f"{len(schools)} schools: {classes.count} changed classes, {enrollments.count} changed "
        f"enrollments ({others} of excluded, other or no schools left out)"
    )
    return True


def _slice_times(session: Session, integration_id: int) -> dict[str, datetime | None]:
    rows = session.execute(
        select(SisOrg.sourced_id, SisOrg.slice_read_at).where(
            SisOrg.integration_id == integration_id
        )
    )
    return {sid: at for sid, at in rows}


def _read_school(roster, run_id, school, since, recorder, result: ReadResult, client, sink) -> bool:  # fmt: skip
    """Stage one school's classes and enrollments from its ``roster`` (classes first);
    False when the school could not be read."""
    sid = school.sourced_id
    label = f"{school.name or sid} ({sid})"
    recorder.set_phase("classes", f"reading classes and enrollments of {label}")
    classes = _writer(STAGE_CLASS, sink, recorder, client)
    enrollments = _writer(STAGE_ENROLLMENT, sink, recorder, client)
    try:
        for record in roster:
            if type(record) is Enrollment:
                enrollments.add(enrollment_row(run_id, sid, record))
            else:
                classes.add(class_row(run_id, sid, record))
        classes.flush()
        enrollments.flush()
    except OneRosterError as exc:
        if exc.code is not ErrorCode.SCHOOL_READ_FAILED:
            raise
        if exc.cause_code not in SCHOOL_CAUSES:
            raise OneRosterError(
                exc.cause_code or ErrorCode.INTERNAL_ERROR,
                f"{label}: {exc.message}",
                status=exc.status,
                path=exc.path,
                detail=exc.detail,
            ) from exc
        # Its batches staged before the failure stay, unused: the apply takes the
        # staged rows of the schools read (``read_schools``) only.
        result.failed[sid] = exc
        recorder.log.warning(f"school {label} could not be read: {exc}")
        return False
    result.read_schools[sid] = since is None
    kind = "all" if since is None else "changed"
    recorder.log.info(
        f"{label}: {classes.count} {kind} classes, {enrollments.count} {kind} enrollments"
    )
    users = result.users_per_school.get(sid, 0)
    if since is None and users and not (classes.count and enrollments.count):
        missing = "classes" if not classes.count else "enrollments"
        recorder.log.warning(
            f"{label} has {users} users but the SIS sent no {missing} for it: its users "
            "are in no classroom. Check the SIS's export for this school."
        )
    return True
