"""A delta's collections are a page or a few each: their reads begin together, so the
SIS's latency is paid about once, not once per collection (issue 19)."""

import threading
import time

from sisapp.models import SyncStatus

from .test_delta import _stamped


def _recording(sis):
    """Wrap the server's dispatch: (path, filtered?, started, ended) of each data request."""
    seen, lock, real = [], threading.Lock(), sis.dispatch

    def dispatch(request):
        started = time.monotonic()
        try:
            return real(request)
        finally:
            with lock:
                seen.append((request.path, "filter" in request.args, started, time.monotonic()))

    sis.dispatch = dispatch
    return seen


def test_a_delta_reads_its_collections_at_the_same_time(make_integration, sync, sis, district):
    integration = make_integration()
    assert sync(integration).status is SyncStatus.SUCCEEDED
    user = next(u for u in district.users if u["role"] == "student")
    enrollment = next(e for e in district.enrollments if e["status"] == "active")
    _stamped(district, lambda: [user, enrollment])
    sis.faults.latency_ms = 300
    seen = _recording(sis)

    delta = sync(integration)
    assert delta.status is SyncStatus.SUCCEEDED, delta.error_message
    firsts = {}
    for path, filtered, started, ended in sorted(seen, key=lambda row: row[2]):
        name = path.rstrip("/").rsplit("/", 1)[-1]
        if filtered or name == "schools":
            firsts.setdefault(name, (started, ended))
    assert {"schools", "academicSessions", "users", "classes", "enrollments"} <= set(firsts), seen

    def together(*names):
        """Each one's first request began before any of the others had been answered."""
        spans = [firsts[n] for n in names]
        return max(s for s, _ in spans) < min(e for _, e in spans)

    # Sessions and users do not wait for the schools; the changed classes and
    # enrollments wait for them (which schools share the delta point), then go together.
    assert together("schools", "academicSessions", "users"), firsts
    assert together("classes", "enrollments"), firsts
