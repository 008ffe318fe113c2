"""A flip made in one process reaches every other process within FLAGSCHEMA_FLAG_TTL + 1 s.

Worker processes (tests/worker.py) read one row in a loop, with the flag TTL set to
``TTL`` seconds, while this process flips the waffle switch the way an operator does (save and
commit; waffle deletes its cached copy on commit). The shared state is the test database and
the cache, so the test needs a cache shared between processes: it runs when
``FLAGSCHEMA_TEST_REDIS`` is set (tests/settings.py then uses Django's RedisCache), is skipped
otherwise, and fails when ``CI=true`` so that CI never skips it silently.

The in-memory SQLite test database is invisible to other processes: for the duration of the
test it is copied to a file, which this process and the workers then use.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TextIO

import pytest
from django.conf import settings
from django.db import connection, transaction
from waffle.models import Switch

from tests.apps.rename.models import Customer
from tests.helpers import put

FLAG = "customers.full_name"
OLD = "Ada (name column)"
NEW = "Ada (full_name column)"
WORKERS = 4
TTL = 0.5  # FLAGSCHEMA_FLAG_TTL in the workers
LIMIT = TTL + 1.0  # a flip must reach every worker within this many seconds
POLL = 0.01  # seconds between two reads in a worker
READY_TIMEOUT = 15.0  # for the workers to start (django.setup()) and read the old value
STOP_TIMEOUT = 5.0
ROOT = Path(__file__).resolve().parent.parent
# Read at import: inside override_settings() (pytest-django's settings fixture) it is None.
SETTINGS_MODULE = settings.SETTINGS_MODULE
RUN_WITH_REDIS = (
    "FLAGSCHEMA_TEST_REDIS=redis://127.0.0.1:6379/15 python -m pytest tests/test_multiprocess.py"
)


def require_shared_cache() -> dict[str, Any]:
    """The CACHES setting, which must be shared between processes (Redis).

    Called in the test rather than as a fixture, so that under CI=true its absence is reported
    as a failure of the test (not an error in a fixture).
    """
    if not os.environ.get("FLAGSCHEMA_TEST_REDIS"):
        message = (
            "the multi-process test needs a cache shared between processes; "
            f"run it with Redis: {RUN_WITH_REDIS}"
        )
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true and FLAGSCHEMA_TEST_REDIS is not set: {message}", pytrace=False)
        pytest.skip(message)
    backend = settings.CACHES["default"]["BACKEND"]
    assert backend.endswith("RedisCache"), f"FLAGSCHEMA_TEST_REDIS is set, the cache is {backend}"
    return settings.CACHES


@pytest.fixture
def worker_database(tmp_path: Path) -> Iterator[str]:
    """The name of the test database for the workers to open.

    An in-memory SQLite database exists only in this process, so it is copied to a file (in WAL
    mode, so that readers and the writer do not block each other) and this process's
    connection is pointed at the file until the end of the test.
    """
    if connection.vendor != "sqlite" or not connection.is_in_memory_db():
        yield connection.settings_dict["NAME"]
        return
    path = tmp_path / "multiprocess.sqlite3"
    connection.ensure_connection()
    target = sqlite3.connect(path)
    try:
        connection.connection.backup(target)
        target.execute("PRAGMA journal_mode=WAL")
    finally:
        target.close()
    memory_name, memory_connection = connection.settings_dict["NAME"], connection.connection
    connection.connection = None
    connection.settings_dict["NAME"] = str(path)
    try:
        yield str(path)
    finally:
        connection.close()
        connection.settings_dict["NAME"] = memory_name
        connection.connection = memory_connection


class Worker:
    """A worker process (``python -m MODULE CONFIG_JSON``, tests/worker.py by default) whose
    JSON lines on stdout are put on *events* as ``(index, event)``, then ``(index, None)``
    when it exits."""

    def __init__(
        self,
        index: int,
        config: dict[str, Any],
        log: Path,
        events: queue.Queue,
        module: str = "tests.worker",
    ):
        self.index = index
        self.log_path = log
        self.events: list[dict[str, Any]] = []
        self.exited = False
        self._log: TextIO = log.open("w")
        env = {**os.environ, "DJANGO_SETTINGS_MODULE": SETTINGS_MODULE}
        self.process = subprocess.Popen(
            [sys.executable, "-m", module, json.dumps(config)],
            cwd=ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
        )
        threading.Thread(target=self._read, args=(events,), daemon=True).start()

    def _read(self, events: queue.Queue) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            try:
                event = json.loads(line)
            except ValueError:
                event = {"event": "output", "line": line.rstrip("\n")}
            events.put((self.index, event))
        events.put((self.index, None))

    def reads(self) -> list[dict[str, Any]]:
        return [e for e in self.events if e["event"] == "read"]

    def delay(self, value: str, since: float) -> float | None:
        """Seconds from *since* to this worker's first read of *value* after *since*."""
        for event in self.reads():
            if event["t"] >= since and event["value"] == value:
                return event["t"] - since
        return None

    def stderr(self) -> str:
        self._log.flush()
        return self.log_path.read_text()[-3000:]

    def stop(self) -> None:
        """Ask the worker to stop (close its stdin); it is killed if it has not stopped later."""
        if self.process.stdin is not None and not self.process.stdin.closed:
            with contextlib.suppress(OSError):  # a worker that already exited
                self.process.stdin.close()

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=STOP_TIMEOUT)
        self._log.close()


class Pool:
    def __init__(self, count: int, config: dict[str, Any], logs: Path) -> None:
        self.queue: queue.Queue = queue.Queue()
        self.stopping = False
        self.workers: list[Worker] = []
        try:
            for index in range(count):
                log = logs / f"worker-{index}.log"
                self.workers.append(Worker(index, config, log, self.queue))
        except BaseException:
            self.stop()
            raise

    def collect(self, done: Callable[[], bool], deadline: float) -> bool:
        """Take the workers' events until ``done()`` or the deadline (then return False)."""
        while not done():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            try:
                index, event = self.queue.get(timeout=min(remaining, 0.1))
            except queue.Empty:
                continue
            worker = self.workers[index]
            if event is not None:
                worker.events.append(event)
                continue
            worker.exited = True
            if not self.stopping:
                worker.process.wait(timeout=STOP_TIMEOUT)
                pytest.fail(
                    f"worker {index} exited early (status {worker.process.returncode}):\n"
                    f"{worker.stderr()}",
                    pytrace=False,
                )
        return True

    def stop(self) -> None:
        """Stop every worker: close their stdin, wait a bounded time, then kill what is left."""
        self.stopping = True
        for worker in self.workers:
            worker.stop()
        try:
            self.collect(
                lambda: all(w.exited for w in self.workers), time.monotonic() + STOP_TIMEOUT
            )
        finally:
            for worker in self.workers:
                worker.kill()

    def diagnostics(self) -> str:
        return "\n".join(
            f"worker {w.index}: events {w.events}\n  stderr: {w.stderr()!r}" for w in self.workers
        )


def flip(switch: Switch, active: bool) -> float:
    """Flip *switch* as an operator does; return the time the flip started.

    The switch is saved in a transaction; on commit waffle deletes its cached copy from the
    shared cache. The returned time is taken before the save, so the delays measured from it
    include the commit and waffle's cache invalidation.
    """
    started = time.monotonic()
    with transaction.atomic():
        switch.active = active
        switch.save()
    return started


def report(capsys: pytest.CaptureFixture[str], line: str) -> None:
    """Print *line* past pytest's capture, so that the delays show in every run's output."""
    with capsys.disabled():
        print(f"\n[multiprocess, {connection.vendor}] {line}", flush=True)


def measure(
    pool: Pool, value: str, since: float, direction: str, capsys: pytest.CaptureFixture[str]
) -> None:
    pool.collect(
        lambda: all(w.delay(value, since) is not None for w in pool.workers),
        since + LIMIT + 2.0,
    )
    delays = [w.delay(value, since) for w in pool.workers]
    shown = ", ".join("not seen" if d is None else f"{d:.3f}" for d in delays)
    report(
        capsys,
        f"{FLAG} {direction}: delays per worker [{shown}] s "
        f"(TTL {TTL} s, limit {LIMIT} s, {len(delays)} workers)",
    )
    late = [i for i, d in enumerate(delays) if d is None or d > LIMIT]
    assert not late, (
        f"{direction}: workers {late} did not read {value!r} within {LIMIT} s of the flip "
        f"(delays {delays}).\n{pool.diagnostics()}"
    )


@pytest.mark.multiprocess
@pytest.mark.django_db(transaction=True)
def test_a_flip_reaches_every_process_within_the_ttl(
    worker_database: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    shared_cache = require_shared_cache()
    # Committed data (transaction=True): the row holds a different value in each column, and
    # the switch exists, inactive, before any worker reads it.
    ada = Customer.objects.create(full_name="x")
    put(Customer, ada.pk, name=OLD, full_name=NEW)
    switch = Switch.objects.create(name=FLAG, active=False)

    config = {
        "caches": shared_cache,  # with this process's KEY_PREFIX: the same waffle keys
        "database_name": worker_database,
        "ttl": TTL,
        "pk": ada.pk,
        "interval": POLL,
        "expected": [OLD, NEW],
        "lifetime": 60.0,
    }
    pool = Pool(WORKERS, config, tmp_path)
    try:
        # Startup does not count: every worker has started and read the old value.
        ready = pool.collect(
            lambda: all(w.reads() for w in pool.workers), time.monotonic() + READY_TIMEOUT
        )
        assert ready, f"workers not ready within {READY_TIMEOUT} s.\n{pool.diagnostics()}"
        assert all(w.reads()[0]["value"] == OLD for w in pool.workers), pool.diagnostics()

        flipped = flip(switch, True)
        measure(pool, NEW, flipped, "old -> new", capsys)

        rolled_back = flip(switch, False)
        measure(pool, OLD, rolled_back, "new -> old (rollback)", capsys)
    finally:
        pool.stop()

    for worker in pool.workers:
        values = [(e["value"], e["t"]) for e in worker.reads()]
        unexpected = [v for v, _ in values if v not in (OLD, NEW)]
        assert not unexpected, f"worker {worker.index} read {unexpected}, in neither column"
        done = [e for e in worker.events if e["event"] == "done"]
        assert done, f"worker {worker.index} did not finish.\n{pool.diagnostics()}"
        assert done[0]["unexpected"] == 0, pool.diagnostics()
        # One change per flip and no flapping: old before the flip, new until the rollback,
        # old after it.
        assert [v for v, _ in values] == [OLD, NEW, OLD], pool.diagnostics()
        times = [t for _, t in values]
        assert times[0] < flipped <= times[1] < rolled_back <= times[2], pool.diagnostics()
    report(
        capsys,
        "reads per worker: " + ", ".join(str(w.events[-1]["reads"]) for w in pool.workers),
    )
