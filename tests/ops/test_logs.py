"""Structured logs: LOG_FORMAT=json writes one parseable JSON object per line through
the standard logging machinery, and lines written inside ``run_log_context`` carry the
run's ids (in this thread, and in pool threads given the context)."""

from __future__ import annotations

import contextvars
import io
import json
import logging
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest

from sisapp import create_app
from sisapp.logging_setup import (
    JsonFormatter,
    RunContextFilter,
    _OurHandler,
    configure,
    current_run_context,
    run_log_context,
)
from tests.helpers.app import test_config as _test_config
from tests.helpers.processes import output

log = logging.getLogger("sisapp.test.ops")


@pytest.fixture
def json_logs():
    """Route the root logger through the JSON handler into a buffer; lines() parses them."""
    root = logging.getLogger()
    level = root.level
    configure({"LOG_FORMAT": "json", "LOG_LEVEL": "DEBUG"})
    handler = next(h for h in root.handlers if isinstance(h, _OurHandler))
    buffer = io.StringIO()
    handler.setStream(buffer)

    def lines() -> list[dict]:
        text = buffer.getvalue()
        assert text.endswith("\n")
        return [json.loads(line) for line in text.splitlines()]

    yield lines
    configure({"LOG_FORMAT": "plain"})
    assert not any(isinstance(h, _OurHandler) for h in root.handlers)
    assert root.level == level


def test_a_line_is_one_json_object_with_time_level_logger_and_message(json_logs):
    log.warning("queue %s is %d deep", "sisapp-sync", 12)
    (line,) = json_logs()
    assert set(line) == {"time", "level", "logger", "message"}
    assert line["level"] == "WARNING" and line["logger"] == "sisapp.test.ops"
    assert line["message"] == "queue sisapp-sync is 12 deep"
    at = datetime.fromisoformat(line["time"])
    assert at.utcoffset().total_seconds() == 0
    assert abs((datetime.now(UTC) - at).total_seconds()) < 5


def test_lines_inside_a_run_carry_its_ids_and_lines_outside_do_not(json_logs):
    log.info("before")
    with run_log_context(run_id=41, integration_id=7, device_id=3):
        log.info("reading page %d", 2)
        with run_log_context(run_id=42, integration_id=8, device_id=3):
            log.info("nested")
        log.error("after nested")
    log.info("after")
    lines = json_logs()
    assert [line["message"] for line in lines] == [
        "before",
        "reading page 2",
        "nested",
        "after nested",
        "after",
    ]
    ids = [{k: line.get(k) for k in ("run_id", "integration_id", "device_id")} for line in lines]
    assert ids == [
        {"run_id": None, "integration_id": None, "device_id": None},
        {"run_id": 41, "integration_id": 7, "device_id": 3},
        {"run_id": 42, "integration_id": 8, "device_id": 3},
        {"run_id": 41, "integration_id": 7, "device_id": 3},
        {"run_id": None, "integration_id": None, "device_id": None},
    ]
    assert current_run_context() == {}


def test_the_tags_survive_an_exception_and_are_reset_after_it(json_logs):
    with pytest.raises(ZeroDivisionError), run_log_context(run_id=5, integration_id=1, device_id=2):
        try:
            raise ZeroDivisionError("page 3")
        except ZeroDivisionError:
            log.exception("sync run %s crashed", 5)
            raise
    log.info("next")
    crashed, after = json_logs()
    assert crashed["run_id"] == 5 and crashed["level"] == "ERROR"
    assert "ZeroDivisionError" in crashed["exc_info"] and "Traceback" in crashed["exc_info"]
    assert "run_id" not in after and current_run_context() == {}


def test_pool_threads_carry_the_tags_when_given_the_context(json_logs):
    with run_log_context(run_id=9, integration_id=4, device_id=1), ThreadPoolExecutor(2) as pool:
        for page in range(3):
            pool.submit(contextvars.copy_context().run, log.info, "page %d", page).result()
        pool.submit(log.info, "bare thread").result()
    lines = {line["message"]: line for line in json_logs()}
    assert all(lines[f"page {n}"]["run_id"] == 9 for n in range(3))
    assert "run_id" not in lines["bare thread"]  # threads start with an empty context


class _Capture(logging.Handler):
    """Keeps (thread name, logger, run_id) of each record, tagged as the JSON handler does."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.seen: list[tuple[str, str, int | None]] = []
        self.addFilter(RunContextFilter())

    def emit(self, record: logging.LogRecord) -> None:
        self.seen.append((record.threadName, record.name, getattr(record, "run_id", None)))


@pytest.fixture
def capture():
    handler = _Capture()
    logging.getLogger().addHandler(handler)
    yield handler
    logging.getLogger().removeHandler(handler)


def test_lines_from_the_page_reading_threads_carry_the_run_id(json_logs, capture):
    """A paged read fetches pages in a pool (sisapp/oneroster/paging.py): the HTTP
    library's lines from those threads carry the run's ids."""
    from tests.oneroster.test_in_flight_limit import CountingSIS, client_for

    sis = CountingSIS(records=200, delay=0.005)
    try:
        with (
            run_log_context(run_id=77, integration_id=5, device_id=2),
            client_for(sis, 4) as client,
        ):
            assert len(list(client.users())) == 200
    finally:
        sis.stop()

    pool = [
        (thread, run_id)
        for thread, _logger, run_id in capture.seen
        if thread.startswith("oneroster_")
    ]
    assert len(pool) >= 5, capture.seen  # most of the 20 pages were read in the pool
    assert {run_id for _thread, run_id in pool} == {77}
    http = [line for line in json_logs() if line["logger"].startswith("urllib3")]
    assert len(http) >= 20
    assert all(
        (line["run_id"], line["integration_id"], line["device_id"]) == (77, 5, 2) for line in http
    )


def test_lines_from_read_ahead_threads_carry_the_run_id(json_logs, capture):
    from sisapp.oneroster.readahead import ReadAhead

    def school(n: int):
        def read():
            log.info("reading school %d", n)
            yield n

        return read

    with run_log_context(run_id=78), ReadAhead([school(n) for n in range(4)], ahead=2) as ahead:
        assert [list(stream) for stream in ahead] == [[0], [1], [2], [3]]

    threads = {thread for thread, logger, _ in capture.seen if logger == log.name}
    assert any(t.startswith("oneroster-readahead") for t in threads), threads
    lines = [line for line in json_logs() if line["message"].startswith("reading school")]
    assert len(lines) == 4 and all(line["run_id"] == 78 for line in lines)


def test_plain_format_leaves_the_root_logger_alone():
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    configure({"LOG_FORMAT": "plain"})
    configure({})
    assert root.handlers == handlers and root.level == level
    with pytest.raises(ValueError):
        configure({"LOG_FORMAT": "xml"})


def test_create_app_twice_installs_one_json_handler(tmp_path, monkeypatch):
    monkeypatch.setenv("SISAPP_LOG_FORMAT", "json")
    root = logging.getLogger()
    level = root.level
    try:
        for _ in range(2):
            app = create_app(_test_config(f"sqlite:///{tmp_path / 'x.db'}"))
        assert app.config["LOG_FORMAT"] == "json"
        ours = [h for h in root.handlers if isinstance(h, _OurHandler)]
        assert len(ours) == 1 and isinstance(ours[0].formatter, JsonFormatter)
        assert any(isinstance(f, RunContextFilter) for f in ours[0].filters)
        assert root.level == logging.INFO
    finally:
        configure({"LOG_FORMAT": "plain"})
    assert root.level == level


def test_a_worker_writes_json_lines(app, processes):
    proc = processes.worker(SISAPP_LOG_FORMAT="json")
    proc.wait(60)
    text = output(proc)
    assert proc.returncode == 0, text
    lines = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    assert any(line["logger"] == "rq.worker" and "quitting" in line["message"] for line in lines), (
        text
    )
    others = [line for line in text.splitlines() if line.strip() and not line.startswith("{")]
    assert not others, others  # RQ's own handler stays out: every line is JSON


def test_the_scheduler_writes_json_lines(app, processes):
    proc = processes.flask("scheduler", "--burst", SISAPP_LOG_FORMAT="json")
    proc.wait(60)
    text = output(proc)
    assert proc.returncode == 0, text
    lines = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    loggers = {line["logger"] for line in lines}
    assert "rq_scheduler.scheduler" in loggers, text
    assert all(line["level"] in ("INFO", "WARNING") for line in lines), text


def _every_line_parses(text: str) -> list[dict]:
    lines = [line for line in text.splitlines() if line.strip()]
    assert lines, text
    return [json.loads(line) for line in lines]  # raises on any line that is not JSON


def test_the_worker_says_what_its_start_up_sweep_did_in_json(app, processes, device):
    """A run the start-up sweep ends is said as a JSON line, not a bare echo."""
    from datetime import timedelta

    from sisapp.extensions import db
    from sisapp.models import SyncRun, SyncStatus, SyncTrigger
    from sisapp.models.types import utcnow
    from tests.helpers.integrations import make_integration

    integration = make_integration(device)
    run = SyncRun(
        integration_id=integration.id,
        device_id=device.id,
        trigger=SyncTrigger.MANUAL,
        status=SyncStatus.QUEUED,
        queued_at=utcnow() - timedelta(hours=1),
        job_id="sisapp-no-such-job",
    )
    db.session.add(run)
    db.session.commit()

    proc = processes.worker(SISAPP_LOG_FORMAT="json")
    proc.wait(60)
    text = output(proc)
    assert proc.returncode == 0, text
    lines = _every_line_parses(text)
    said = [line for line in lines if line["logger"] == "sisapp.cli.jobs"]
    assert [line["message"] for line in said] == [f"Ended dead run {run.id} (JB303)"]
    assert said[0]["level"] == "INFO"


def test_every_line_of_the_scheduler_parses_in_json(app, processes):
    proc = processes.flask("scheduler", "--burst", SISAPP_LOG_FORMAT="json")
    proc.wait(60)
    text = output(proc)
    assert proc.returncode == 0, text
    lines = _every_line_parses(text)
    assert any(
        line["logger"] == "sisapp.cli.jobs" and line["message"].startswith("Scheduler on queue")
        for line in lines
    ), text


def test_the_plain_scheduler_still_prints_its_first_line(app, processes):
    proc = processes.flask("scheduler", "--burst")
    proc.wait(60)
    text = output(proc)
    assert proc.returncode == 0, text
    assert "Scheduler on queue" in text and '"logger"' not in text
