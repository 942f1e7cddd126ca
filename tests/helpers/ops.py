"""What the health and metrics tests share: a token, a fake worker, network faults."""

from __future__ import annotations

import contextlib
import select
import socket
import threading
import uuid
from datetime import UTC, datetime, timedelta

from redis import Redis
from rq import Queue, Worker

TOKEN = "metrics-token-7Hq2-never-logged"


def register_worker(app, heartbeat_age: float = 0.0) -> Worker:
    """An RQ worker registered on the app's queue, as `flask worker` registers itself,
    with its last heartbeat ``heartbeat_age`` seconds ago."""
    connection = Redis.from_url(app.config["REDIS_URL"])
    queue = Queue(app.config["RQ_QUEUE"], connection=connection)
    worker = Worker([queue], connection=connection, name=f"ops-test-{uuid.uuid4().hex[:8]}")
    worker.register_birth()
    if heartbeat_age:
        beat = datetime.now(UTC) - timedelta(seconds=heartbeat_age)
        connection.hset(worker.key, "last_heartbeat", beat.strftime("%Y-%m-%dT%H:%M:%S.%fZ"))
    return worker


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Forwarder:
    """A TCP forwarder on a fixed local port to ``target``; stop() closes the listener and
    every open connection (the database has gone), start() listens again (it is back)."""

    def __init__(self, target: tuple[str, int]):
        self.target = target
        self.port = free_port()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._sockets: list[socket.socket] = []

    def start(self) -> Forwarder:
        self._stop.clear()
        listener = socket.create_server(("127.0.0.1", self.port), reuse_port=True)
        listener.settimeout(0.1)
        self._sockets.append(listener)
        self._spawn(self._accept, listener)
        return self

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(5)
        for sock in self._sockets:
            with contextlib.suppress(OSError):
                sock.close()
        self._threads, self._sockets = [], []

    def _spawn(self, fn, *args) -> None:
        thread = threading.Thread(target=fn, args=args, daemon=True)
        self._threads.append(thread)
        thread.start()

    def _accept(self, listener: socket.socket) -> None:
        while not self._stop.is_set():
            try:
                client, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            self._sockets += [client, upstream]
            self._spawn(self._pipe, client, upstream)

    def _pipe(self, a: socket.socket, b: socket.socket) -> None:
        peers = {a: b, b: a}
        while not self._stop.is_set():
            try:
                ready, _, _ = select.select([a, b], [], [], 0.1)
                for sock in ready:
                    data = sock.recv(65536)
                    if not data:
                        return
                    peers[sock].sendall(data)
            except OSError:
                return


class BlackHole:
    """A port that accepts connections and never answers (a firewall dropping replies)."""

    def __init__(self):
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]

    def close(self) -> None:
        self.listener.close()
