"""Write overhead of the sync triggers: the same writes with and without them, in one run.

    .venv/bin/python benchmarks/bench_triggers.py            # SQLite in memory
    FLAGSCHEMA_TEST_DB=postgresql .venv/bin/python benchmarks/bench_triggers.py  # or mariadb

The database is chosen by the test suite's variables (README, "Databases"); a test database is
created by migrations and dropped at the end. Two transitions of the benchmarks' models, each
table holding ``10 x --rows`` rows:

* **a rename**, ``FlagCustomer.full_name = RenamedField(..., old_name="name")`` (both columns
  indexed): the triggers copy one column to the other;
* **a conversion**, ``FlagProduct.price = ConvertedField(DecimalField(...), old=IntegerField(
  db_column="price_cents"), forward_sql=F("price_cents") / 100.0, backward_sql=Cast(Round(
  F("price") * 100), IntegerField()))``: the triggers compute one from the other in SQL.

Each write runs in ``--rounds`` rounds that alternate "without triggers" and "with triggers"
(installed by :class:`flagschema.operations.InstallSyncTriggers` and removed by migrating it
back, between the timed runs). The writes:

* through the ORM, which writes both columns itself (the triggers must let it through):
  ``create()`` and ``save()`` one row at a time, ``bulk_create()``, ``QuerySet.update()``;
* by raw SQL, the writes the triggers exist for: an ``INSERT`` of the old column only, one row
  per statement (the previous release after a code rollback), and an ``UPDATE`` of the old
  column, or of the new one, over the table. Without triggers these write one column and leave
  the other stale; with them both are written.

Each timed run is one transaction, so that a commit per statement (an fsync each) does not
hide the triggers' cost in the disk's, and on PostgreSQL starts from a vacuumed table. The
table shows the medians, the ratio of "with" to "without", and what the triggers add to each
row written.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import configure


@dataclass
class Row:
    label: str
    rows: int  # rows the write writes
    without: float
    with_: float

    @property
    def per_row(self) -> float:
        """Microseconds the triggers add to each row written."""
        return (self.with_ - self.without) / self.rows * 1e6

    @property
    def ratio(self) -> float:
        return self.with_ / self.without


class Triggers:
    """Installs and removes one transition's sync triggers, as its migration would."""

    def __init__(self, model_name: str, name: str) -> None:
        from django.apps import apps
        from django.db.migrations.state import ProjectState

        from flagschema.operations import InstallSyncTriggers

        self.operation = InstallSyncTriggers(model_name, name)
        self.state = ProjectState.from_apps(apps)
        self.on = False

    def set(self, on: bool) -> None:
        from django.db import connection

        if on == self.on:
            return
        with connection.schema_editor() as editor:
            if on:
                self.operation.database_forwards("benchmarks", editor, self.state, self.state)
            else:
                self.operation.database_backwards("benchmarks", editor, self.state, self.state)
        self.on = on


def compare(
    rows: list[Row],
    triggers: Triggers,
    case: Case,
    label: str,
    count: int,
    run: Callable[[], Any],
    rounds: int,
    setup: Callable[[], Any] | None = None,
) -> None:
    from django.db import transaction

    times: dict[bool, list[float]] = {False: [], True: []}
    for i in range(rounds):
        for on in (False, True) if i % 2 == 0 else (True, False):  # who goes first alternates
            triggers.set(on)
            if setup is not None:
                setup()
            case.settle()
            gc.collect()
            gc.disable()  # as timeit does: a collection would land in one run only
            try:
                # One transaction: a commit per statement (an fsync each) would hide the
                # triggers' own cost in the disk's.
                with transaction.atomic():
                    start = time.perf_counter()
                    run()
                    times[on].append(time.perf_counter() - start)
            finally:
                gc.enable()
    row = Row(label, count, statistics.median(times[False]), statistics.median(times[True]))
    rows.append(row)
    print(
        f"  {label}: without {row.without * 1000:.2f} ms, with {row.with_ * 1000:.2f} ms "
        f"({row.ratio:.2f})",
        file=sys.stderr,
    )


class Case:
    """One transition's writes; the subclasses say what each write is."""

    title = ""
    model_name = ""
    field = ""

    def __init__(self, rows: int) -> None:
        from django.db import connection

        from benchmarks import models

        self.n = rows
        self.model: Any = getattr(models, self.model_class)
        self.table = connection.ops.quote_name(self.model._meta.db_table)
        self.tick = 0  # each run writes other values than the last

    model_class = ""

    def q(self, name: str) -> str:
        from django.db import connection

        return connection.ops.quote_name(name)

    def concat(self, *parts: str) -> str:
        from django.db import connection

        if connection.vendor == "mysql":
            return f"CONCAT({', '.join(parts)})"
        return " || ".join(parts)

    def fill(self) -> None:
        self.model.objects.all().delete()
        self.model.objects.bulk_create(self.make(i) for i in range(10 * self.n))
        self.top = self.model.objects.order_by("-pk").values_list("pk", flat=True)[0]
        self.loaded = list(self.model.objects.order_by("pk")[: self.n])

    def settle(self) -> None:
        """Start each timed run from a table without dead rows: on PostgreSQL the earlier
        rounds' updates leave them, and autovacuum would clear them at random moments."""
        from django.db import connection

        if connection.vendor == "postgresql":
            self.raw(f"VACUUM {self.table}")

    def drop_new_rows(self) -> None:
        self.model.objects.filter(pk__gt=self.top).delete()

    def raw(self, sql: str, params: Any = None) -> None:
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute(sql, params)

    def make(self, i: int) -> Any:
        raise NotImplementedError

    def writes(self) -> list[tuple[str, int, Callable[[], Any], Callable[[], Any] | None]]:
        """(label, rows written, run, setup) of each write."""
        n, bulk = f"{self.n:,}", f"{10 * self.n:,}"

        def create() -> None:
            for i in range(self.n):
                self.model.objects.create(**self.values(i))

        def save() -> None:
            self.tick += 1
            for i, obj in enumerate(self.loaded):
                for name, value in self.values(i + self.tick).items():
                    setattr(obj, name, value)
                obj.save()

        def bulk_create() -> None:
            self.model.objects.bulk_create(self.make(i) for i in range(10 * self.n))

        def update() -> None:
            self.tick += 1
            self.model.objects.filter(pk__lte=self.top).update(**self.update_values())

        def raw_insert() -> None:
            sql, values = self.raw_insert()
            from django.db import connection

            with connection.cursor() as cursor:
                for i in range(self.n):
                    cursor.execute(sql, values(i))

        def raw_update(column: str) -> Callable[[], None]:
            def run() -> None:
                self.tick += 1
                self.raw(*self.raw_update(column))

            return run

        old, new = self.columns
        one, ten = self.n, 10 * self.n
        return [
            (f"ORM create() x {n}", one, create, self.drop_new_rows),
            (f"ORM save() of a loaded row x {n}", one, save, None),
            (f"ORM bulk_create() {bulk} rows", ten, bulk_create, self.drop_new_rows),
            (f"ORM QuerySet.update() of {bulk} rows", ten, update, None),
            (f"raw INSERT of {old} only x {n}", one, raw_insert, self.drop_new_rows),
            (f"raw UPDATE of {old} only, {bulk} rows", ten, raw_update(old), None),
            (f"raw UPDATE of {new} only, {bulk} rows", ten, raw_update(new), None),
        ]

    columns: tuple[str, str] = ("", "")

    def values(self, i: int) -> dict[str, Any]:
        raise NotImplementedError

    def update_values(self) -> dict[str, Any]:
        raise NotImplementedError

    def raw_insert(self) -> tuple[str, Callable[[int], list[Any]]]:
        raise NotImplementedError

    def raw_update(self, column: str) -> tuple[str, list[Any]]:
        raise NotImplementedError

    def check(self) -> None:
        """With the triggers installed, a raw INSERT of the old column fills the new one: what
        is timed is working triggers."""
        sql, values = self.raw_insert()
        self.raw(sql, values(7))
        old, new = self.columns
        last = self.model.objects.order_by("-pk").values_list("pk", flat=True)[0]
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT {self.q(old)}, {self.q(new)} FROM {self.table} WHERE {self.q('id')} = %s",
                [last],
            )
            found = cursor.fetchone()
        assert found is not None and found[1] is not None, (self.title, found)
        self.drop_new_rows()


class Rename(Case):
    title = "rename"
    model_class = "FlagCustomer"
    model_name = "flagcustomer"
    field = "full_name"
    columns = ("name", "full_name")

    def make(self, i: int) -> Any:
        return self.model(full_name=f"customer-{i}")

    def values(self, i: int) -> dict[str, Any]:
        return {"full_name": f"customer-{self.tick}-{i}"}

    def update_values(self) -> dict[str, Any]:
        return {"full_name": f"everyone-{self.tick}"}

    def raw_insert(self) -> tuple[str, Callable[[int], list[Any]]]:
        sql = f"INSERT INTO {self.table} ({self.q('name')}, {self.q('email')}) VALUES (%s, '')"
        return sql, lambda i: [f"old-release-{i}"]

    def raw_update(self, column: str) -> tuple[str, list[Any]]:
        value = self.concat("%s", f"CAST({self.q('id')} AS CHAR(10))")
        return (
            f"UPDATE {self.table} SET {self.q(column)} = {value} WHERE {self.q('id')} <= %s",
            [f"raw-{self.tick}-", self.top],
        )


class Conversion(Case):
    title = "conversion"
    model_class = "FlagProduct"
    model_name = "flagproduct"
    field = "price"
    columns = ("price_cents", "price")

    def make(self, i: int) -> Any:
        return self.model(sku="p", price=Decimal(i) / 100)

    def values(self, i: int) -> dict[str, Any]:
        return {"price": Decimal(i + self.tick) / 100}

    def update_values(self) -> dict[str, Any]:
        from django.db.models import F

        return {"price": F("price") + 1}

    def raw_insert(self) -> tuple[str, Callable[[int], list[Any]]]:
        sql = (
            f"INSERT INTO {self.table} ({self.q('sku')}, {self.q('price_cents')}) "
            "VALUES ('old', %s)"
        )
        return sql, lambda i: [i]

    def raw_update(self, column: str) -> tuple[str, list[Any]]:
        step = "1" if column == "price_cents" else "0.01"
        q = self.q(column)
        return (
            f"UPDATE {self.table} SET {q} = {q} + {step} WHERE {self.q('id')} <= %s",
            [self.top],
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument(
        "--rows", type=int, default=1_000, help="rows per one-row-a-statement write (x10 in all)"
    )
    parser.add_argument("--rounds", type=int, default=15, help="rounds per write (median)")
    args = parser.parse_args()
    configure()

    import django
    from django.conf import settings
    from django.db import connection
    from django.test.utils import get_runner

    runner = get_runner(settings)(verbosity=0, interactive=False)
    old_config = runner.setup_databases()
    found: list[tuple[Case, list[Row]]] = []
    try:
        for case in (Rename(args.rows), Conversion(args.rows)):
            print(case.title, file=sys.stderr)
            triggers = Triggers(case.model_name, case.field)
            case.fill()
            triggers.set(True)
            case.check()
            rows: list[Row] = []
            for label, count, run, setup in case.writes():
                compare(rows, triggers, case, label, count, run, args.rounds, setup)
            triggers.set(False)
            found.append((case, rows))
        version = ".".join(map(str, connection.get_database_version()))
        vendor = f"{connection.display_name} {version}"
    finally:
        runner.teardown_databases(old_config)

    print(
        f"Django {django.get_version()}, {vendor}, Python {sys.version.split()[0]}; "
        f"{10 * args.rows:,} rows, median of {args.rounds} rounds\n"
    )
    print("| transition | write | without triggers | with triggers | ratio | per row |")
    print("|---|---|---:|---:|---:|---:|")
    for case, rows in found:
        for row in rows:
            print(
                f"| {case.title} | {row.label} | {row.without * 1000:.2f} ms "
                f"| {row.with_ * 1000:.2f} ms | {row.ratio:.2f} | {row.per_row:+.1f} µs |"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
