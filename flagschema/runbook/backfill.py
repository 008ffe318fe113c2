"""Backfill: give the rows written before the expand their new shape.

:func:`backfill` walks the table in primary-key ranges of ``batch_size`` rows. Each range is
one short transaction that fills the rows of the range still lacking the new shape
(:func:`~flagschema.runbook.rows.unfilled_q`) and records how far it got in
:class:`~flagschema.models.BackfillProgress`, so no lock is held on the table as a whole, and a
run stopped at any point (Ctrl-C, a deploy, ``kill -9``) resumes after its last committed range
when started again: nothing is lost, nothing is filled twice.

The new shape is computed

* in SQL where the transition allows it (a rename: ``SET new = old``; a conversion, split or
  merge with a ``forward_sql`` for every new field: ``SET new = CAST(forward_sql AS new
  type)``), by one ``UPDATE`` per range that reads each row's old columns as they are when it
  writes: ``UPDATE t SET new = <expression of old> WHERE pk > a AND pk <= b AND new IS NULL
  AND ...``;
* otherwise by ``forward`` in Python: the range's unfilled rows are read with ``SELECT ... FOR
  UPDATE`` (PostgreSQL, MariaDB/MySQL; on SQLite the transaction holds the database's write lock
  from its first statement), converted, and written back by key, ``WHERE pk = %s AND new IS
  NULL``.

Either way the application may keep writing meanwhile: a row it writes through the ORM gets both
shapes, and the backfill never overwrites a new shape, nor computes one from old values that
changed since they were read.

>>> from flagschema.runbook.backfill import backfill
>>> report = backfill(registry["shop.Order.reference"])
>>> report.finished, report.written
(True, 1000000)
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, cast

from django.db import connections, transaction
from django.db.models import Count, F, Max, QuerySet
from django.db.models.sql import UpdateQuery
from django.utils import timezone

from flagschema.exceptions import ArgumentError, TransitionError
from flagschema.flags import reading
from flagschema.runbook.rows import unfilled_q
from flagschema.runbook.verify import expected_new, sql_comparable
from flagschema.transitions import Transition, registry

# Rows per range. An UPDATE of 2,500 rows commits in about 20 ms on the databases we
# test; with Python transforms each row is also read, converted and written by key, so their
# ranges are smaller.
DEFAULT_BATCH_SIZE = {"sql": 2_500, "python": 1_000}
# How many primary keys of rows whose ``forward`` raised a report names.
MAX_FAILED_PKS = 10

# The clock is a module attribute so that tests can replace it.
clock: Callable[[], float] = time.monotonic


@dataclass(frozen=True)
class BackfillStep:
    """How far a run is, after one committed range: for a progress bar."""

    done: int  # rows of the table covered by this run so far
    total: int  # rows this run covers (those after the resume point, counted at its start)
    written: int  # rows given their new shape by this run so far
    batches: int  # ranges committed by this run
    elapsed: float  # seconds since the run started
    batch_seconds: float  # the last range's transaction, from its first statement to commit


@dataclass
class BackfillReport:
    """What one :func:`backfill` run did.

    ``total`` rows were to be covered by this run (after ``resumed_from``, the last primary key
    of an earlier run that stopped); ``done`` were, in ``batches`` ranges, and ``written`` of
    them got their new shape (the others had it already). ``failed`` rows kept no new shape
    because ``forward`` raised for them (``failed_pks`` names some). ``max_batch_seconds`` is
    the longest range's transaction: no row lock is held longer. A dry run writes nothing:
    ``unfilled`` rows lack the new shape and ``statement`` is the SQL of one range.
    """

    label: str
    method: str  # "sql" or "python"
    batch_size: int
    total: int = 0
    done: int = 0
    written: int = 0
    batches: int = 0
    resumed_from: Any = None
    finished: bool = False
    dry_run: bool = False
    unfilled: int = 0
    failed: int = 0
    failed_pks: list[Any] = field(default_factory=list)
    seconds: float = 0.0
    max_batch_seconds: float = 0.0
    statement: str = ""

    @property
    def rows_per_second(self) -> float:
        return self.done / self.seconds if self.seconds > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "rows_per_second": round(self.rows_per_second, 1)}


def backfill(
    transition: Transition | str,
    *,
    using: str = "default",
    batch_size: int | None = None,
    sleep: float = 0.0,
    dry_run: bool = False,
    restart: bool = False,
    progress: Callable[[BackfillStep], Any] | None = None,
) -> BackfillReport:
    """Fill the new shape of the rows of *transition* (a transition or its label) that lack it.

    Ranges of *batch_size* rows (by default 2,500 with SQL, 1,000 with Python transforms), each
    its own transaction, *sleep* seconds apart. A run resumes after the last range an earlier,
    unfinished run committed; *restart* starts from the first row instead (a finished run is
    always followed by a full pass). *progress* is called after each committed range. With
    *dry_run* nothing is written: the report counts the rows without the new shape.

    Raises :class:`~flagschema.TransitionError` when a range fails (its rows are left as they
    were; the committed ranges are kept and a new run resumes there) or when another run of the
    same transition is working at the same time.
    """
    if isinstance(transition, str):
        transition = registry[transition]
    method = "sql" if sql_comparable(transition) else "python"
    size = DEFAULT_BATCH_SIZE[method] if batch_size is None else batch_size
    if size < 1:
        raise ArgumentError(f"backfill(batch_size={size!r}): a batch is at least one row.")
    if sleep < 0:
        raise ArgumentError(f"backfill(sleep={sleep!r}): give 0 or more seconds.")
    report = BackfillReport(transition.label, method, size, dry_run=dry_run)
    # The new fields name their own columns (their read side could be "old").
    with reading(transition, "new"):
        run = _Run(transition, using, report)
        if dry_run:
            run.dry_run()
        else:
            run.run(restart=restart, sleep=sleep, progress=progress)
    return report


class _Run:
    def __init__(self, transition: Transition, using: str, report: BackfillReport) -> None:
        self.transition = transition
        self.using = using
        self.report = report
        self.connection = connections[using]
        # A plain queryset: the managers' querysets would rewrite an update() of a transition's
        # fields into a write of both shapes.
        self.table: QuerySet[Any] = QuerySet(model=transition.model, using=using)
        # The primary key's columns: one, or those of a composite primary key (Django 5.2+),
        # whose ranges run over the tuple of its columns, in their order.
        self.key_columns = key_columns(transition.model)

    # --- the ranges --------------------------------------------------------------------------
    def _after(self, last: Any) -> QuerySet[Any]:
        if isinstance(last, list):  # a composite key, as its progress row stores it (JSON)
            last = tuple(last)
        return self.table if last is None else self.table.filter(pk__gt=last)

    def _next_range(self, last: Any) -> tuple[Any, int] | None:
        """(the range's last primary key, its row count) of the range after *last*."""
        size = self.report.batch_size
        ahead = self._after(last).order_by("pk").values_list("pk", flat=True)
        upper = list(ahead[size - 1 : size])
        if upper:
            return upper[0], size
        if self.key_columns[1:]:
            # A composite primary key (Django 5.2+): Max() and Count() take no tuple of
            # columns; the last key of what is left, in the same order as the ranges.
            rows = self._after(last).count()
            if not rows:
                return None
            top = self._after(last).order_by("-pk").values_list("pk", flat=True)[0]
            return top, rows
        rest = self._after(last).aggregate(rows=Count("pk"), top=Max("pk"))
        if not rest["rows"]:
            return None
        return rest["top"], rest["rows"]

    def _range(self, last: Any, upper: Any) -> QuerySet[Any]:
        return self._after(last).filter(pk__lte=upper).filter(unfilled_q(self.transition))

    # --- SQL ---------------------------------------------------------------------------------
    def _assignments(self) -> dict[str, Any]:
        return {f.attname: expected_new(self.transition, f) for f in self.transition.new_fields}

    def _fill_sql(self, rows: QuerySet[Any]) -> int:
        return rows.update(**self._assignments())

    # --- Python ------------------------------------------------------------------------------
    def _python_statement(self, rows: int = 1) -> str:
        """The UPDATE that writes *rows* rows' new shapes by key, only where it is missing.

        Parameters: each row's new values, then its key. One statement per row (drivers send
        them pipelined or in one call), except on MariaDB/MySQL, whose driver would make one
        round trip per statement: there the rows are one derived table joined by key."""
        quote = self.connection.ops.quote_name
        meta = self.transition.model._meta
        table = quote(meta.db_table)
        keys = [quote(c) for c in self.key_columns]
        columns = [quote(cast(str, f.column)) for f in self.transition.new_fields]
        if self.connection.vendor != "mysql":
            assignments = ", ".join(f"{c} = %s" for c in columns)
            still_unfilled = " AND ".join(f"{c} IS NULL" for c in columns)
            by_key = " AND ".join(f"{k} = %s" for k in keys)
            return f"UPDATE {table} SET {assignments} WHERE {by_key} AND {still_unfilled}"
        names = [quote(f"new_{i}") for i in range(len(columns))]
        key_names = (
            [quote("pk")] if len(keys) == 1 else [quote(f"pk_{i}") for i in range(len(keys))]
        )
        first = ", ".join(f"%s AS {n}" for n in [*names, *key_names])
        other = ", ".join(["%s"] * (len(columns) + len(keys)))
        values = " UNION ALL ".join([f"SELECT {first}", *[f"SELECT {other}"] * (rows - 1)])
        assignments = ", ".join(
            f"{table}.{c} = {quote('new')}.{n}" for c, n in zip(columns, names, strict=True)
        )
        still_unfilled = " AND ".join(f"{table}.{c} IS NULL" for c in columns)
        on = " AND ".join(
            f"{table}.{k} = {quote('new')}.{n}" for k, n in zip(keys, key_names, strict=True)
        )
        return (
            f"UPDATE {table} JOIN ({values}) AS {quote('new')} "
            f"ON {on} SET {assignments} WHERE {still_unfilled}"
        )

    def _fill_python(self, rows: QuerySet[Any]) -> int:
        transition, connection = self.transition, self.connection
        if connection.features.has_select_for_update:
            # Locked until the commit: the old values converted are the ones in the row when
            # the new shape is written (a writer waits for this short transaction).
            rows = rows.select_for_update()
        plain = [f.clone() for f in transition.new_fields]
        params = []
        for pk, *olds in rows.order_by("pk").values_list(
            "pk", *(f.attname for f in transition.old_fields)
        ):
            try:
                news = transition.to_new(tuple(olds))
                # A value the new field cannot store (the wrong type) fails its row too.
                values = [
                    f.get_db_prep_save(v, connection) for f, v in zip(plain, news, strict=True)
                ]
            except Exception:
                self.report.failed += 1
                if len(self.report.failed_pks) < MAX_FAILED_PKS:
                    self.report.failed_pks.append(pk)
                continue
            params.append((*values, *(pk if self.key_columns[1:] else (pk,))))
        if not params:
            return 0
        with connection.cursor() as cursor:
            if connection.vendor == "mysql":
                flat = [value for row in params for value in row]
                cursor.execute(self._python_statement(len(params)), flat)
            else:
                cursor.executemany(self._python_statement(), params)
            count = cursor.rowcount
        return count if count is not None and count >= 0 else len(params)

    # --- the run -----------------------------------------------------------------------------
    def dry_run(self) -> None:
        report = self.report
        report.unfilled = self.table.filter(unfilled_q(self.transition)).count()
        report.total = self.table.count()
        if report.method == "python":
            report.statement = self._python_statement()
            return
        query = cast(UpdateQuery, self._range(0, 0).query.chain(UpdateQuery))
        query.add_update_values(self._assignments())
        sql, _ = query.get_compiler(self.using).as_sql()
        report.statement = sql

    def run(
        self, *, restart: bool, sleep: float, progress: Callable[[BackfillStep], Any] | None
    ) -> None:
        report, label = self.report, self.transition.label
        state = _Progress.start(label, self.using, restart)
        last = report.resumed_from = state.last
        report.total = self._after(last).count()
        started = clock()
        while True:
            bounds = self._next_range(last)
            if bounds is None:
                break
            upper, count = bounds
            if sleep and report.batches:
                time.sleep(sleep)  # between ranges: not after the last one
            began = clock()
            try:
                with transaction.atomic(using=self.using):
                    # First: it serialises runs of one transition, and on SQLite it takes the
                    # write lock before the rows are read.
                    state.claim(upper, count)
                    rows = self._range(last, upper)
                    if report.method == "sql":
                        written = self._fill_sql(rows)
                    else:
                        written = self._fill_python(rows)
                    state.wrote(written)
            except TransitionError:
                raise
            except Exception as exc:  # the database's refusal, or a driver's (a value it
                # cannot adapt): the range is rolled back either way
                raise TransitionError(
                    f"Backfill of {label}: the range of primary keys after {last!r} up to "
                    f"{upper!r} failed ({type(exc).__name__}: {exc}); its rows are as they "
                    "were. The ranges before it are done; run the backfill again to resume."
                ) from exc
            took = clock() - began
            last = upper
            report.done += count
            report.written += written
            report.batches += 1
            report.max_batch_seconds = max(report.max_batch_seconds, took)
            report.seconds = clock() - started
            if progress is not None:
                progress(
                    BackfillStep(
                        done=report.done,
                        total=max(report.total, report.done),
                        written=report.written,
                        batches=report.batches,
                        elapsed=report.seconds,
                        batch_seconds=took,
                    )
                )
        state.finish()
        report.finished = True
        report.seconds = clock() - started


def key_columns(model: type[Any]) -> tuple[str, ...]:
    """The columns of *model*'s primary key, in its order (several for a composite primary
    key, Django 5.2+)."""
    meta = model._meta
    fields = getattr(meta, "pk_fields", None) or [meta.pk]
    return tuple(cast(str, f.column) for f in fields)


class _Progress:
    """The run's :class:`~flagschema.models.BackfillProgress` row, written in each range's
    transaction. Every write is conditional on the batch count this run last wrote: a second
    run of the same transition makes one of them stop instead of both moving the mark."""

    def __init__(self, row: Any, using: str) -> None:
        self.row = row
        self.using = using
        self.batches = row.batches

    @classmethod
    def start(cls, label: str, using: str, restart: bool) -> _Progress:
        from flagschema.models import BackfillProgress

        row, created = BackfillProgress.objects.using(using).get_or_create(label=label)
        if not created and (restart or row.finished is not None):
            now = timezone.now()
            row.last_pk = ""
            row.rows_done = row.rows_written = row.batches = 0
            row.started = row.updated = now
            row.finished = None
            row.save(using=using)
        return cls(row, using)

    @property
    def last(self) -> Any:
        return json.loads(self.row.last_pk) if self.row.last_pk else None

    def _mine(self) -> QuerySet[Any]:
        from flagschema.models import BackfillProgress

        return BackfillProgress.objects.using(self.using).filter(
            pk=self.row.pk, batches=self.batches
        )

    def claim(self, upper: Any, count: int) -> None:
        moved = self._mine().update(
            last_pk=json.dumps(upper, default=str),
            rows_done=F("rows_done") + count,
            batches=F("batches") + 1,
            updated=timezone.now(),
        )
        if not moved:
            raise TransitionError(
                f"Another backfill of {self.row.label} is running (its progress moved past "
                f"batch {self.batches}); this one stopped. Let that one finish, or stop it and "
                "run again to resume."
            )
        self.batches += 1

    def wrote(self, rows: int) -> None:
        if rows:
            self._mine().update(rows_written=F("rows_written") + rows)

    def finish(self) -> None:
        self._mine().update(finished=timezone.now(), updated=timezone.now())
