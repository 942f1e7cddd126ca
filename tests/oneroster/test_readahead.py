"""Read-ahead: the next schools are read in the background, results come in order,
failures come where they happened, nothing outlives its reader, and the SIS never sees
more requests at once than the concurrency setting."""

from __future__ import annotations

import json
import threading
import time
from urllib.parse import parse_qs, urlsplit

import pytest

from sisapp.oneroster import (
    Class,
    ConnectionSettings,
    Enrollment,
    ErrorCode,
    OneRosterClient,
    OneRosterError,
)
from sisapp.oneroster.readahead import ReadAhead
from tests.helpers.oneroster import V11, Collection, LocalSIS, QuietHandler


def _readahead_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("oneroster-readahead")]


def numbers(start: int, count: int, log: list | None = None, tag: str = ""):
    def open_stream():
        if log is not None:
            log.append(("open", tag, threading.current_thread().name))
        try:
            yield from range(start, start + count)
        finally:
            if log is not None:
                log.append(("closed", tag))

    return open_stream


@pytest.mark.parametrize("ahead", [0, 1, 2, 5])
def test_streams_come_in_order_and_whole(ahead):
    opens = [numbers(i * 10_000, 2_500 + i) for i in range(6)]
    with ReadAhead(opens, ahead) as streams:
        got = [list(stream) for stream in streams]
    assert got == [list(range(i * 10_000, i * 10_000 + 2_500 + i)) for i in range(6)]
    assert not _readahead_threads()


def test_without_ahead_streams_are_read_in_the_callers_thread():
    log = []
    with ReadAhead([numbers(0, 3, log, "a"), numbers(3, 3, log, "b")], 0) as streams:
        assert [list(s) for s in streams] == [[0, 1, 2], [3, 4, 5]]
    assert [entry[2] for entry in log if entry[0] == "open"] == [
        threading.current_thread().name
    ] * 2


def test_next_streams_start_while_the_first_is_read_and_no_more_than_ahead():
    log = []
    opens = [numbers(i, 1, log, str(i)) for i in range(5)]
    with ReadAhead(opens, 2) as streams:
        iterator = iter(streams)
        first = next(iterator)
        deadline = time.monotonic() + 5
        while len([e for e in log if e[0] == "open"]) < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
        opened = sorted(e[1] for e in log if e[0] == "open")
        assert opened == ["0", "1", "2"]  # the current one and two ahead, not the rest
        assert all(e[2].startswith("oneroster-readahead") for e in log if e[0] == "open")
        assert list(first) == [0]
        assert [list(s) for s in iterator] == [[1], [2], [3], [4]]


def test_a_failing_stream_raises_after_its_records_and_the_next_goes_on():
    def broken():
        yield 1
        yield 2
        raise OneRosterError(ErrorCode.SCHOOL_READ_FAILED, "school s2 failed", school_id="s2")

    seen, errors = [], []
    with ReadAhead([numbers(0, 1), broken, numbers(10, 2)], 2) as streams:
        for stream in streams:
            try:
                seen.extend(stream)
            except OneRosterError as exc:
                errors.append(exc.school_id)
    assert seen == [0, 1, 2, 10, 11]
    assert errors == ["s2"]


def test_a_stream_left_early_is_stopped_when_the_next_is_asked_for():
    log = []
    with ReadAhead([numbers(0, 1_000_000, log, "big"), numbers(7, 1, log, "small")], 1) as s:
        iterator = iter(s)
        big = next(iterator)
        assert next(big) == 0  # the caller reads one record of a huge stream and moves on
        assert list(next(iterator)) == [7]
        assert ("closed", "big") in log  # its generator was closed, not read to the end
    assert not _readahead_threads()


def test_leaving_by_an_exception_stops_every_stream():
    log = []
    opens = [numbers(i * 1_000_000, 1_000_000, log, str(i)) for i in range(4)]
    with pytest.raises(RuntimeError), ReadAhead(opens, 2) as streams:
        for stream in streams:
            next(stream)
            raise RuntimeError("the caller failed")
    assert not _readahead_threads()
    assert {e[1] for e in log if e[0] == "closed"} == {e[1] for e in log if e[0] == "open"}


def test_the_caller_is_called_back_while_it_waits_for_a_slow_stream():
    """A big school hands its first chunk over only after many pages: meanwhile the
    caller's on_wait runs in the caller's own thread (it records progress there)."""
    release = threading.Event()
    waits = []

    def slow():
        release.wait(5)
        yield 1

    def on_wait():
        waits.append(threading.current_thread().name)
        if len(waits) == 3:
            release.set()

    with ReadAhead([slow], 1, on_wait=on_wait) as streams:
        assert [list(stream) for stream in streams] == [[1]]
    assert waits[:3] == [threading.current_thread().name] * 3
    assert release.is_set()


# --- through the client ---------------------------------------------------------------


class SlowSIS(LocalSIS):
    """Nested school collections and 20 ms per page, counting how many requests it
    serves at once."""

    def __init__(self, schools: int) -> None:
        self.collections = {}
        for s in range(schools):
            sid = f"s{s}"
            ref = {"school": {"sourcedId": sid}}
            self.collections[f"/schools/{sid}/classes"] = rows(f"{sid}-c", 7, **ref)
            self.collections[f"/schools/{sid}/enrollments"] = rows(f"{sid}-e", 45, **ref)
        super().__init__(_SlowHandler)


class _SlowHandler(QuietHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        server: SlowSIS = self.server
        with server.lock:
            server.now += 1
            server.max = max(server.max, server.now)
        time.sleep(0.02)
        with server.lock:  # before answering: the client cannot be sending its next request yet
            server.now -= 1
        parts = urlsplit(self.path)
        path = parts.path.removeprefix("/ims/oneroster/v1p1")
        params = {k: v[0] for k, v in parse_qs(parts.query).items()}
        if path not in server.collections:
            self.send_error(404)
            return
        everything = server.collections[path]
        limit, offset = int(params.get("limit", 100)), int(params.get("offset", 0))
        body = json.dumps({path.rsplit("/", 1)[1]: everything[offset : offset + limit]})
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("X-Total-Count", str(len(everything)))
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body.encode())


def rows(prefix: str, n: int, **extra) -> list[dict]:
    return [{"sourcedId": f"{prefix}{i:03d}", "status": "active", **extra} for i in range(n)]


@pytest.fixture
def slow_sis():
    server = SlowSIS(schools=6)
    yield server
    server.stop()


@pytest.mark.parametrize("concurrency", [1, 3])
def test_school_rosters_in_order_and_never_more_requests_than_concurrency(slow_sis, concurrency):
    settings = ConnectionSettings(
        endpoint_url=slow_sis.url, client_id="c", client_secret="secret-xyz", page_size=10,
        concurrency=concurrency, allow_private=True, oauth1_signature="HMAC-SHA256",
    )  # fmt: skip
    with (
        OneRosterClient(settings) as client,
        client.school_rosters((f"s{s}", None) for s in range(6)) as rosters,
    ):
        got = [[(type(r).__name__, r.sourced_id) for r in roster] for roster in rosters]
        for s, school in enumerate(got):
            assert school == [("Class", f"s{s}-c{i:03d}") for i in range(7)] + [
                ("Enrollment", f"s{s}-e{i:03d}") for i in range(45)
            ]
        assert client.records_read == 6 * 52 and client.pages_read == 6 * (1 + 5)
    assert slow_sis.max <= concurrency
    if concurrency > 1:
        assert slow_sis.max == concurrency  # the schools' requests did overlap, up to the cap
    assert not _readahead_threads()


def serve_schools(requests_mock, schools: int) -> None:
    for s in range(schools):
        sid, ref = f"s{s}", {"school": {"sourcedId": f"s{s}"}}
        requests_mock.get(
            f"{V11}/schools/{sid}/classes",
            json=Collection(rows(f"{sid}-c", 7, **ref), key="classes"),
        )
        requests_mock.get(
            f"{V11}/schools/{sid}/enrollments",
            json=Collection(rows(f"{sid}-e", 45, **ref), key="enrollments"),
        )


def test_school_rosters_a_failing_school_is_its_own(make_client, requests_mock):
    serve_schools(requests_mock, 3)
    requests_mock.get(f"{V11}/schools/s1/enrollments", [{"status_code": 500}] * 4)
    client = make_client(page_size=10, concurrency=4, version="v1p1", max_retries=2)
    outcome = {}
    with client.school_rosters([(f"s{s}", None) for s in range(3)]) as rosters:
        for s, roster in enumerate(rosters):
            kinds = []
            try:
                kinds.extend(type(r) for r in roster)
                outcome[s] = kinds.count(Enrollment)
            except OneRosterError as exc:
                assert exc.code is ErrorCode.SCHOOL_READ_FAILED and exc.school_id == "s1"
                assert exc.cause_code is ErrorCode.SERVER_ERROR
                outcome[s] = ("failed after", kinds.count(Class))
    assert outcome == {0: 45, 1: ("failed after", 7), 2: 45}
    assert not _readahead_threads()
