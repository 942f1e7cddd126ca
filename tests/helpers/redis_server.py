"""A redis-server of a test's own, to stop and restart without touching the shared one."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time

from redis import Redis
from redis.exceptions import RedisError


class RedisServer:
    """A throw-away redis-server on a free port, in its own process group."""

    def __init__(self, directory):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.directory = directory
        self.proc: subprocess.Popen | None = None
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--daemonize",
                "no",
                "--dir",
                str(self.directory),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        client = Redis.from_url(self.url)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except RedisError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
            finally:
                client.close()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)  # no shutdown save: the data is gone
            self.proc.wait(10)
        self.proc = None

    def restart(self, down_for: float = 0.0, while_down=None) -> None:
        self.stop()
        if while_down is not None:
            while_down()
        time.sleep(down_for)
        self.start()
