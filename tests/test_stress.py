"""Stress and faults: no write is lost or torn while writers write, the flag flips every few tens
of milliseconds, a backfill is killed and resumed and database connections are dropped
(issue 6, part 3).

On the test database, committed (as tests/test_backfill_processes.py does it), two transitions
run at once: ``rename.Customer.full_name`` (a rename) and ``convert.Product.price`` (integer
cents to a Decimal, with ``forward_sql`` and ``backward_sql``), their sync triggers installed by
the migration operation (``InstallSyncTriggers``) for the test and removed by migrating back
after it. ``ROWS`` rows of each table are written before the expand (old shape only). Then, at
the same time:

* writers (tests/stress_writers.py), each owning its keys: ORM writers and raw-SQL writers that
  name one shape only (the triggers fill the other), as threads of this process and as worker
  processes; each logs every write it saw committed (its key and value) as it acknowledges it;
* a flipper flips both waffle switches every 20-50 ms; every process reads the flag with
  ``FLAGSCHEMA_FLAG_TTL`` = ``TTL``, through the cache shared by every process (Redis, with
  ``FLAGSCHEMA_TEST_REDIS``) or, without one, from the database (waffle's cache is then a
  ``DummyCache`` in the workers), so that every writer sees the flips;
* ``flagschema backfill`` of the rename in its own process, SIGKILLed after ``KILL_AFTER``
  ranges and run again; then the backfill of the conversion, whose connection is killed from
  another connection while a range's transaction waits on a row lock this test holds
  (``pg_terminate_backend`` / MariaDB's ``KILL``), and which is run again;
* the connections of two writer processes (one ORM, one raw SQL) killed the same way while each
  is inside a transaction, ``KILLS`` times each; they reconnect and retry, as applications do.

When at least ``WRITES`` writes have been acknowledged and ``FLIPS`` flips made, and the
faults are done, everything stops. Then ``verify`` must be clean for both transitions, and a
row-by-row check against the logs must find every row holding, in both shapes, the last value
acknowledged for its key (the keys of each writer are its own, so the order of the writes to a
key is its writer's order): a row that holds neither is a lost write, a row whose shapes
disagree a torn one (counted with verify's and the writers' own read-back mismatches as
mismatches). One line per database prints the figures, and the test fails on any mismatch or
lost write.

The sizes are the acceptance's (10,000 writes, 200 flips); ``FLAGSCHEMA_TEST_STRESS_WRITES``
and ``FLAGSCHEMA_TEST_STRESS_FLIPS`` change them. The suite runs on PostgreSQL and MariaDB; on
SQLite it is skipped (``require_server`` says why).
"""

from __future__ import annotations

import json
import os
import queue
import random
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from contextlib import ExitStack
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.db import connection, transaction
from waffle.models import Switch

import flagschema
from flagschema.models import BackfillProgress, FlipEvent
from flagschema.runbook.verify import VerifyReport, verify
from flagschema.triggers import triggers_installed
from tests import test_backfill_processes as backfill_processes
from tests.apps.convert.models import Product
from tests.apps.rename.models import Customer
from tests.helpers import all_rows
from tests.stress_writers import (
    CUSTOMER,
    FLAGS,
    LABELS,
    ORM_OPS,
    PRODUCT,
    RAW_OPS,
    Writer,
    as_value,
    to_old,
)
from tests.test_backfill_processes import generate, same, start_backfill, text, wait_for
from tests.test_multiprocess import Worker
from tests.test_triggers import synced

pytestmark = [pytest.mark.stress, pytest.mark.django_db(transaction=True)]

# The test database as another process opens it.
shared_database = backfill_processes.shared_database

WRITES = int(os.environ.get("FLAGSCHEMA_TEST_STRESS_WRITES", "10000"))
FLIPS = int(os.environ.get("FLAGSCHEMA_TEST_STRESS_FLIPS", "200"))
ROWS = 12_000  # rows of each table written before the expand, for the backfills
BATCH = 400  # the backfills' ranges
SLEEP = 0.03  # between two ranges: the backfills run while the writers write
KILL_AFTER = 5  # committed ranges of the rename's backfill before its SIGKILL
AHEAD = 4  # ranges between the conversion's backfill and the row locked in its way
KILLS = 2  # connections killed mid-transaction, per victim writer
# Seconds between two looks at a victim's connection: MariaDB's INNODB_TRX is refreshed only
# when it has not been read for 0.1 s.
KILL_POLL = {"postgresql": 0.002, "mysql": 0.15}
TTL = 0.01  # FLAGSCHEMA_FLAG_TTL in every process
FLIP_EVERY = (0.02, 0.05)  # seconds between two flips
TIMEOUT = 240.0

# name, kind, thread or process, most writes per transaction, pause between two writes of a
# transaction (the victims of the connection kills: their transactions stay open a little).
WRITERS = [
    ("orm-t0", "orm", "thread", 3, 0.0),
    ("orm-t1", "orm", "thread", 1, 0.0),
    ("raw-t0", "raw", "thread", 2, 0.0),
    ("orm-p0", "orm", "process", 4, 0.005),
    ("orm-p1", "orm", "process", 2, 0.0),
    ("raw-p0", "raw", "process", 3, 0.005),
]
VICTIMS = ("orm-p0", "raw-p0")
# Keys are owned by primary key modulo SLOTS; the last slot's rows are no writer's (the
# conversion's backfill meets the row lock on one of them).
SLOTS = len(WRITERS) + 1
RESERVED = SLOTS - 1


def require_server() -> None:
    """The suite runs on PostgreSQL and MariaDB, as the issue asks; on SQLite it is skipped
    (under CI=true too: a decision, not a missing piece). A file-based SQLite database takes
    one writer at a time, and a transaction that reads before it writes fails at once with
    "database is locked" when another committed since its read (SQLITE_BUSY_SNAPSHOT: the busy
    timeout does not apply): the writers and the flipper would test SQLite's locking, and
    need ``transaction_mode="IMMEDIATE"`` (Django 5.1+, not 4.2) to run at all; and an embedded
    database has no connection for another one to drop."""
    if connection.vendor not in ("postgresql", "mysql"):
        pytest.skip(
            "the stress suite runs on PostgreSQL and MariaDB (not SQLite: one writer at a "
            "time, no connection to drop): FLAGSCHEMA_TEST_DB=postgresql python -m pytest "
            "-m stress"
        )


def test_no_write_is_lost_or_torn_under_writers_flips_and_faults(
    shared_database: str, tmp_path: Path, settings: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    require_server()
    settings.FLAGSCHEMA_FLAG_TTL = TTL
    started = time.monotonic()
    prefill()
    expected = {
        **{(CUSTOMER, pk): name for pk, name in all_rows(Customer, "name")},
        **{
            (PRODUCT, pk): as_value(PRODUCT, Decimal(cents) / 100)
            for pk, cents in all_rows(Product, "price_cents")
        },
    }
    for flag in FLAGS.values():
        Switch.objects.create(name=flag, active=False)

    with ExitStack() as stack:
        for label in LABELS.values():
            stack.enter_context(synced(label))
            assert triggers_installed(flagschema.registry[label])
        prefilled = {m: max(pk for model, pk in expected if model == m) for m in LABELS}
        run = Run(shared_database, tmp_path, prefilled)
        try:
            run.start()
            run.wait()
        except BaseException:
            run.stop(quiet=True)  # the first failure is the one to report
            raise
        run.stop()
    assert not any(triggers_installed(flagschema.registry[label]) for label in LABELS.values())

    run.check_faults()
    reports = {model: verify(label) for model, label in LABELS.items()}
    lost, torn, unexpected = check_rows(expected, run.logs())
    figures = run.figures(reports, lost, torn, unexpected, time.monotonic() - started)
    with capsys.disabled():
        print(f"\n[stress, {database_name()}] {figures}", flush=True)

    assert run.acks() >= WRITES and run.flips >= FLIPS, figures
    assert all(r.clean for r in reports.values()), reports
    assert not run.read_mismatches(), run.read_mismatches()[:10]
    assert not lost, f"{len(lost)} lost writes, e.g.:\n" + "\n".join(lost[:10])
    assert not torn, f"{len(torn)} torn writes, e.g.:\n" + "\n".join(torn[:10])
    assert not unexpected, f"{len(unexpected)} rows nobody wrote, e.g. {unexpected[:10]}"
    for label in LABELS.values():
        recorded = FlipEvent.objects.filter(label=label, source="waffle").count()
        assert recorded == run.flips, f"{label}: {run.flips} flips made, {recorded} recorded"
    # Every write path ran (those that need a key the writer wrote, too).
    ran = {op for done in run.done.values() for op in done["ops"]}
    assert not (set(ORM_OPS) | set(RAW_OPS)) - ran, sorted((set(ORM_OPS) | set(RAW_OPS)) - ran)
    for name, changes in run.side_changes().items():
        # Every writer, thread or process, saw the flag change under it many times.
        assert all(changes.get(f, 0) >= 10 for f in FLAGS.values()), (name, changes)


# --- the tables before the expand ------------------------------------------------------------


def prefill() -> None:
    """``ROWS`` rows in each table with the old shape only, as written before the expand."""
    generate(
        "rename_customer",
        {"name": text("customer-"), "email": same("''"), "vip": same("0 = 1")},
        ROWS,
    )
    generate("convert_product", {"sku": text("p"), "price_cents": same("g * 7")}, ROWS)


def database_name() -> str:
    if connection.vendor == "mysql":
        return "mariadb" if connection.mysql_is_mariadb else "mysql"
    return connection.vendor


# --- the run ---------------------------------------------------------------------------------


class Run:
    """The writers, the flipper and the faults, and what they report."""

    def __init__(self, database: str, tmp_path: Path, prefilled: dict[str, int]) -> None:
        self.database = database
        self.prefilled = prefilled
        self.tmp = tmp_path
        self.events: queue.Queue = queue.Queue()
        self.stopping = threading.Event()
        self.threads: list[threading.Thread] = []
        self.errors: list[tuple[str, BaseException]] = []
        self.writers: dict[str, Writer] = {}  # the threads'
        self.workers: dict[str, Worker] = {}  # the processes'
        self.progress: dict[str, int] = {}  # acknowledged writes of each process
        self.connections: dict[str, Any] = {}  # the server's id of each writer's connection
        self.dropped: dict[str, list[dict[str, Any]]] = {name: [] for name, *_ in WRITERS}
        self.done: dict[str, dict[str, Any]] = {}
        self.flips = 0
        self.killed: list[tuple[str, Any]] = []  # (writer, connection id) killed
        self.faults: dict[str, Any] = {}
        self.faults_done = threading.Event()
        self.kills_done = threading.Event()

    # --- starting ---------------------------------------------------------------------------
    def config(self, slot: int, name: str, kind: str, batch: int, pause: float) -> dict[str, Any]:
        return {
            "name": name,
            "kind": kind,
            "slot": slot,
            "slots": SLOTS,
            "prefilled": self.prefilled,
            "seed": slot + 1,
            "batch": batch,
            "pause": pause,
            "log": str(self.tmp / f"acks-{name}.jsonl"),
            "value_base": (slot + 1) * 10_000_000,
            "lifetime": TIMEOUT,
            # The worker processes (tests/worker.py's _setup):
            "caches": _worker_caches(),
            "database_name": self.database,
            "ttl": TTL,
        }

    def start(self) -> None:
        for slot, (name, kind, where, batch, pause) in enumerate(WRITERS):
            config = self.config(slot, name, kind, batch, pause)
            if where == "thread":
                writer = Writer(config, self._emit)
                self.writers[name] = writer
                self._thread(name, self._write, writer)
            else:
                self.workers[name] = Worker(
                    slot,
                    config,
                    self.tmp / f"{name}.log",
                    self.events,
                    module="tests.stress_writers",
                )
        self._thread("flipper", self._flip)
        # The faults start once every writer writes.
        self._collect(lambda: len(self.connections) == len(WRITERS) and self.acks() > 0)
        self._thread("backfill faults", self._backfill_faults)
        self._thread("connection kills", self._kill_writer_connections)

    def _thread(self, name: str, target: Callable[..., None], *args: Any) -> None:
        def run() -> None:
            try:
                target(*args)
            except BaseException as exc:  # reported by wait(), in the test's thread
                self.errors.append((name, exc))
            finally:
                connection.close()  # each thread has its own

        thread = threading.Thread(target=run, name=name, daemon=True)
        self.threads.append(thread)
        thread.start()

    def _emit(self, **event: Any) -> None:
        self.events.put((event["writer"], event))

    def _write(self, writer: Writer) -> None:
        try:
            writer.run(self.stopping, time.monotonic() + TIMEOUT)
        finally:
            writer.close()
        self._emit(event="done", writer=writer.name, **writer.figures.__dict__)

    # --- waiting ----------------------------------------------------------------------------
    def acks(self) -> int:
        threads = sum(w.figures.acks for w in self.writers.values())
        return threads + sum(self.progress.get(name, 0) for name in self.workers)

    def finished(self) -> bool:
        return (
            self.acks() >= WRITES
            and self.flips >= FLIPS
            and self.faults_done.is_set()
            and self.kills_done.is_set()
        )

    def wait(self) -> None:
        self._collect(self.finished)

    def _collect(self, done: Callable[[], bool], timeout: float = TIMEOUT) -> None:
        """Take the writers' events until ``done()``; fail on a thread's error, a process that
        exits, or the timeout."""
        deadline = time.monotonic() + timeout
        while not done():
            if self.errors:
                name, exc = self.errors[0]
                raise AssertionError(f"{name} failed: {exc!r}\n{self.diagnostics()}") from exc
            if time.monotonic() > deadline:
                pytest.fail(f"not done within {timeout} s.\n{self.diagnostics()}", pytrace=False)
            self._take(0.05)

    def _take(self, timeout: float) -> None:
        try:
            source, event = self.events.get(timeout=timeout)
        except queue.Empty:
            return
        name = source if isinstance(source, str) else WRITERS[source][0]
        if event is None:  # a process exited
            worker = self.workers[name]
            worker.exited = True
            if not self.stopping.is_set() or name not in self.done:
                worker.process.wait(timeout=10)
                pytest.fail(
                    f"writer {name} exited (status {worker.process.returncode}):\n"
                    f"{worker.stderr()}",
                    pytrace=False,
                )
            return
        kind = event.get("event")
        if kind == "connected":
            self.connections[name] = event["id"]
        elif kind == "progress" and name in self.workers:
            self.progress[name] = event["acks"]
        elif kind == "dropped":
            self.dropped[name].append(event)
        elif kind == "done":
            self.done[name] = event
            if name in self.workers:
                self.progress[name] = event["acks"]

    def stop(self, quiet: bool = False) -> None:
        """Stop the writers and the flipper; wait for their last figures (*quiet*: after a
        failure, only stop them)."""
        self.stopping.set()
        for worker in self.workers.values():
            worker.stop()
        try:
            self._collect(
                lambda: (
                    len(self.done) == len(self.writers) + len(self.workers)
                    and all(w.exited for w in self.workers.values())
                ),
                timeout=30,
            )
        except BaseException:
            if not quiet:
                raise
        finally:
            for worker in self.workers.values():
                worker.kill()
            for thread in self.threads:
                thread.join(timeout=30)

    def diagnostics(self) -> str:
        lines = [
            f"acks {self.acks()}, flips {self.flips}, faults {self.faults}",
            f"killed: {self.killed[:20]}, connections now: {self.connections}",
            *(f"{name} dropped {len(d)}, last: {d[-3:]}" for name, d in self.dropped.items()),
        ]
        for name, worker in self.workers.items():
            lines.append(f"{name} stderr: {worker.stderr()[-1500:]!r}")
        for name, exc in self.errors:
            lines.append(f"{name}: {exc!r}")
        return "\n".join(lines)

    # --- the flipper ------------------------------------------------------------------------
    def _flip(self) -> None:
        """Flip both switches every 20-50 ms, as an operator does in waffle (a save, whose
        commit makes waffle drop its cached copy; flagschema records the flip)."""
        rng = random.Random(6)
        switches = list(Switch.objects.filter(name__in=FLAGS.values()))
        while not self.stopping.wait(rng.uniform(*FLIP_EVERY)):
            with transaction.atomic():
                for switch in switches:
                    switch.active = not switch.active
                    switch.save()
            self.flips += 1

    # --- the backfills' faults --------------------------------------------------------------
    def _backfill_faults(self) -> None:
        try:
            self._backfill_killed(CUSTOMER)
            self._backfill_connection_dropped()
            for key in (f"{CUSTOMER} resumed", f"{PRODUCT} resumed"):
                process, log = self.faults.pop(f"{key} process")
                out, _ = process.communicate(timeout=TIMEOUT)
                assert process.returncode == 0, log.read_text()[-3000:]
                self.faults[key] = json.loads(out)
        finally:
            self.faults_done.set()

    def _backfill(self, label: str, log: str, *args: str) -> tuple[subprocess.Popen[str], Path]:
        path = self.tmp / log
        options = ("--batch-size", str(BATCH), "--sleep", str(SLEEP))
        return start_backfill(self.database, path, label, *options, *args), path

    def _backfill_killed(self, model: str) -> None:
        """The backfill of *model*'s transition, SIGKILLed after some ranges, then run
        again."""
        label = LABELS[model]
        progress = BackfillProgress.objects.filter(label=label)
        process, log = self._backfill(label, f"backfill-{model}.log")
        wait_for(
            lambda: progress.filter(batches__gte=KILL_AFTER).exists(),
            process,
            log,
            f"{KILL_AFTER} committed ranges",
        )
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=TIMEOUT)
        killed = progress.get()
        self.faults[f"{model} killed"] = {
            "returncode": process.returncode,
            "batches": killed.batches,
            "last_pk": killed.last_pk,
            "finished": killed.finished,
        }
        self.faults[f"{model} resumed process"] = self._backfill(
            label, f"backfill-{model}-resumed.log", "--json"
        )

    def _backfill_connection_dropped(self) -> None:
        """The conversion's backfill, its connection killed while a range's transaction waits
        for a row this thread has locked; then run again."""
        label = LABELS[PRODUCT]
        progress = BackfillProgress.objects.filter(label=label)
        process, log = self._backfill(label, f"backfill-{PRODUCT}.log")
        wait_for(lambda: progress.filter(batches__gte=1).exists(), process, log, "a first range")
        with transaction.atomic():
            last = json.loads(progress.get().last_pk)
            locked = lock_unfilled_row_after(last + AHEAD * BATCH)
            backend = wait_for_blocked(process, log)
            held = progress.get()  # what had committed when the range began
            kill_connection(backend)
        process.wait(timeout=TIMEOUT)
        after = progress.get()
        self.faults[f"{PRODUCT} dropped"] = {
            "returncode": process.returncode,
            "stderr": log.read_text()[-2000:],
            "locked": locked,
            "before": (held.batches, held.last_pk),
            "after": (after.batches, after.last_pk),
        }
        self.faults[f"{PRODUCT} resumed process"] = self._backfill(
            label, f"backfill-{PRODUCT}-resumed.log", "--json"
        )

    def check_faults(self) -> None:
        faults = self.faults
        killed = faults[f"{CUSTOMER} killed"]
        assert killed["returncode"] == -signal.SIGKILL, faults
        assert killed["finished"] is None and killed["batches"] >= KILL_AFTER, faults
        resumed = faults[f"{CUSTOMER} resumed"]
        # It resumed after the last range the killed run committed, and finished.
        assert resumed["resumed_from"] == json.loads(killed["last_pk"]), faults
        assert resumed["finished"] is True, faults

        dropped = faults[f"{PRODUCT} dropped"]
        assert dropped["returncode"] == 1, dropped
        # The range waiting on the lock failed and was rolled back with its progress: the
        # next run starts from the range before it.
        assert "failed (" in dropped["stderr"], dropped
        assert "its rows are as they were" in dropped["stderr"], dropped
        assert dropped["after"] == dropped["before"], dropped
        assert json.loads(dropped["after"][1]) < dropped["locked"], dropped
        resumed = faults[f"{PRODUCT} resumed"]
        assert resumed["resumed_from"] == json.loads(dropped["after"][1]), faults
        assert resumed["finished"] is True, faults

        for name in VICTIMS:
            assert self.lost_mid_transaction(name) >= KILLS, (name, self.dropped[name])
        assert len(self.killed) >= KILLS * len(VICTIMS), self.killed

    # --- the writers' connections -----------------------------------------------------------
    def lost_mid_transaction(self, name: str) -> int:
        """Transactions of writer *name* that failed because its connection was lost after
        their first statement."""
        return sum(1 for e in self.dropped[name] if e["connection_lost"] and e["mid_transaction"])

    def _kill_writer_connections(self) -> None:
        """Kill each victim's connection while it is inside a transaction, until it has lost
        ``KILLS`` transactions that way (a kill can land just after a commit: then the
        next transaction fails at its first statement, which counts as a drop, not as one
        mid-transaction)."""
        try:
            for name in VICTIMS:
                deadline = time.monotonic() + 60
                while True:
                    if self.lost_mid_transaction(name) >= KILLS:
                        break
                    assert time.monotonic() < deadline, (name, self.dropped[name], self.killed)
                    backend = self.connections.get(name)
                    if backend is None or (name, backend) in self.killed:
                        time.sleep(0.005)  # not connected again yet
                        continue
                    if kill_connection(backend, only_in_transaction=True):
                        self.killed.append((name, backend))
                    else:
                        time.sleep(KILL_POLL[connection.vendor])
        finally:
            self.kills_done.set()

    # --- figures ----------------------------------------------------------------------------
    def logs(self) -> list[tuple[str, list[list[Any]]]]:
        """Each writer's acknowledged writes, in its order."""
        out = []
        for name, *_ in WRITERS:
            path = self.tmp / f"acks-{name}.jsonl"
            out.append((name, [json.loads(line) for line in path.read_text().splitlines()]))
        return out

    def read_mismatches(self) -> list[str]:
        return [
            f"{name}: {m}"
            for name, done in self.done.items()
            for m in (*done["read_mismatches"], *done["cas_misses"])
        ]

    def side_changes(self) -> dict[str, dict[str, int]]:
        return {name: done["side_changes"] for name, done in self.done.items()}

    def figures(
        self,
        reports: dict[str, VerifyReport],
        lost: list[str],
        torn: list[str],
        unexpected: list[Any],
        seconds: float,
    ) -> str:
        acks = {name: done["acks"] for name, done in self.done.items()}
        orm = sum(n for name, n in acks.items() if name.startswith("orm"))
        raw = sum(n for name, n in acks.items() if name.startswith("raw"))
        reads = sum(done["reads"] for done in self.done.values())
        drops = sum(len(d) for d in self.dropped.values())
        inside = sum(self.lost_mid_transaction(name) for name in self.dropped)
        mismatches = (
            sum(r.mismatched + r.unfilled for r in reports.values())
            + len(self.read_mismatches())
            + len(torn)
            + len(unexpected)
        )
        threads = sum(1 for w in WRITERS if w[2] == "thread")
        return (
            f"writes acknowledged {sum(acks.values()):,} ({orm:,} ORM, {raw:,} raw SQL with "
            f"triggers; {threads} threads, {len(WRITERS) - threads} processes), "
            f"flips made {self.flips} per transition, "
            f"reads of own writes {reads:,}, "
            f"connections killed {len(self.killed)} ({inside} writers' transactions lost and "
            f"retried, {drops} failed transactions in all), "
            f"backfill SIGKILLed after {self.faults['customer killed']['batches']} ranges and "
            f"resumed, backfill connection killed mid-range and resumed, "
            f"verify {'clean' if all(r.clean for r in reports.values()) else 'NOT CLEAN'} "
            f"({' + '.join(f'{r.checked:,}' for r in reports.values())} rows), "
            f"mismatches found {mismatches}, lost writes {len(lost)}, {seconds:.1f} s"
        )


def _worker_caches() -> dict[str, Any]:
    """The workers' CACHES: this process's when it is shared (Redis: the same keys), else a
    DummyCache, so that waffle reads the switches from the database."""
    if os.environ.get("FLAGSCHEMA_TEST_REDIS"):
        return settings.CACHES
    return {"default": {"BACKEND": "django.core.cache.backends.dummy.DummyCache"}}


# --- faults, from another connection ---------------------------------------------------------


def lock_unfilled_row_after(pk: int) -> int:
    """Lock (``FOR UPDATE``, until the transaction ends) the first product after *pk* that no
    writer owns and that has no new shape yet: the backfill's range reaching it waits."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id FROM convert_product WHERE id > %s AND price IS NULL AND id %% %s = %s "
            "ORDER BY id LIMIT 1 FOR UPDATE",
            [pk, SLOTS, RESERVED],
        )
        row = cursor.fetchone()
    assert row is not None, f"no unfilled product after {pk}"
    return int(row[0])


def wait_for_blocked(process: subprocess.Popen[str], log: Path) -> Any:
    """The server's id of the backfill's connection, once its range waits for the row this
    connection locked.

    On MariaDB the backfill's statement is found in the process list, running for over a
    second (a range takes tens of milliseconds): InnoDB's lock tables in information_schema
    are a cache refreshed only when it has not been read for 0.1 s, which the connection
    kills' polling would keep stale."""
    if connection.vendor == "postgresql":
        sql = (
            "SELECT pid FROM pg_stat_activity WHERE pg_backend_pid() = ANY(pg_blocking_pids(pid))"
        )
        params: list[Any] = []
    else:
        sql = (
            "SELECT ID FROM information_schema.PROCESSLIST WHERE DB = DATABASE() "
            "AND ID <> CONNECTION_ID() AND INFO LIKE %s AND TIME_MS > 1000"
        )
        params = ["UPDATE `convert_product` SET%`price_cents` IS NOT NULL%"]
    found: list[Any] = []

    def blocked() -> bool:
        time.sleep(0.05)
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            found[:] = [row[0] for row in cursor.fetchall()]
        return bool(found)

    wait_for(blocked, process, log, "a range waiting for the locked row")
    assert len(found) == 1, f"connections waiting for the lock: {found}"
    return found[0]


def kill_connection(backend: Any, only_in_transaction: bool = False) -> bool:
    """Kill the server connection *backend* (``pg_terminate_backend``, MariaDB's ``KILL``);
    with *only_in_transaction*, only while it is idle inside a transaction (between two
    statements of it). Returns whether it was killed."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            state = " AND state = 'idle in transaction'" if only_in_transaction else ""
            cursor.execute(
                f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid = %s{state}",
                [backend],
            )
            return any(row[0] for row in cursor.fetchall())
        if only_in_transaction:
            # Idle (Sleep) with an InnoDB transaction open. INNODB_TRX is a cache refreshed
            # when it has not been read for 0.1 s: the caller polls it less often than that.
            cursor.execute(
                "SELECT p.ID FROM information_schema.PROCESSLIST p "
                "JOIN information_schema.INNODB_TRX t ON t.trx_mysql_thread_id = p.ID "
                "WHERE p.ID = %s AND p.COMMAND = 'Sleep'",
                [backend],
            )
            if cursor.fetchone() is None:
                return False
        cursor.execute("KILL %s", [int(backend)])
        return True


# --- row by row --------------------------------------------------------------------------------


def check_rows(
    expected: dict[tuple[str, int], str | None], logs: list[tuple[str, list[list[Any]]]]
) -> tuple[list[str], list[str], list[tuple[str, Any]]]:
    """Compare every row with the last write acknowledged for its key (or its value from before
    the expand): (lost writes, torn writes, rows nobody wrote)."""
    expected = dict(expected)
    history: dict[tuple[str, int], list[tuple[str, str, str | None]]] = {}
    owner: dict[tuple[str, int], str] = {}
    for name, acks in logs:
        for model, pk, value, op in acks:
            key = (model, pk)
            # Each key is one writer's: its writes are in its log's order.
            assert owner.setdefault(key, name) == name, (key, owner[key], name)
            expected[key] = value
            history.setdefault(key, []).append((name, op, value))
    stored = {
        CUSTOMER: {pk: (old, new) for pk, old, new in all_rows(Customer, "name", "full_name")},
        PRODUCT: {pk: (old, new) for pk, old, new in all_rows(Product, "price_cents", "price")},
    }
    lost, torn = [], []
    for (model, pk), value in expected.items():
        row = stored[model].pop(pk, None)
        where = f"{model} pk {pk}: last writes {history.get((model, pk), [])[-3:]}"
        if value is None:
            if row is not None:
                lost.append(f"{where}; deleted, but the row holds {row!r}")
            continue
        if row is None:
            lost.append(f"{where}; the row is gone")
            continue
        old_ok = row[0] == to_old(model, value)
        new_ok = as_value(model, row[1]) == value
        if not (old_ok and new_ok):
            (torn if old_ok or new_ok else lost).append(f"{where}; the row holds {row!r}")
    unexpected = [(model, pk) for model, rows in stored.items() for pk in rows]
    return lost, torn, unexpected
