"""What the benchmark scripts share: settings, the alternating rounds and the printed table.

A script defines its operations in a ``run(bench)`` function and hands it to :func:`main`,
which creates the test database (by the test suite's variables, README "Databases"), runs it,
drops the database and prints the table of medians and ratios. Every operation is timed for
three variants of the same model: ``plain`` (plain Django before the change), ``flag``
(flagschema) and ``hand`` (the same expand written plainly, both columns by hand).
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from typing import Any

import django
from django.conf import settings

VARIANTS = ("plain", "flag", "hand")


def configure() -> None:
    os.environ.setdefault("FLAGSCHEMA_TEST_DB_NAME", "flagschema_bench")
    from tests import settings as test_settings

    databases = test_settings.DATABASES
    if test_settings.VENDOR == "sqlite":
        databases = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}
    settings.configure(
        DATABASES=databases,
        CACHES={"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}},
        INSTALLED_APPS=[
            "django.contrib.auth",
            "django.contrib.contenttypes",
            "waffle",
            "flagschema",
            "benchmarks",
        ],
        DEFAULT_AUTO_FIELD="django.db.models.AutoField",
        USE_TZ=True,
    )
    django.setup()


@contextmanager
def plain_django() -> Iterator[None]:
    """Run Django without flagschema's execute wrapper (the models are untouched)."""
    from django.db import connection

    from flagschema.flags import end_statement

    wrappers = connection.execute_wrappers
    connection.execute_wrappers = [w for w in wrappers if w is not end_statement]
    try:
        yield
    finally:
        connection.execute_wrappers = wrappers


@dataclass
class Row:
    label: str
    kind: str  # "write", "read" or "info"
    plain: float
    flag: float
    hand: float
    target: float | None


class Bench:
    """Times operations in alternating rounds; ``targets`` maps a kind to its ratio target."""

    def __init__(self, rounds: int, targets: dict[str, float]) -> None:
        self.rounds = rounds
        self.targets = targets
        self.rows: list[Row] = []
        self.flag_statements = 0

    def _count(self, execute: Callable[..., Any], sql: str, *args: Any) -> Any:
        self.flag_statements += 1
        return execute(sql, *args)

    def compare(
        self,
        label: str,
        kind: str,
        plain: Callable[[], Any],
        flag: Callable[[], Any],
        hand: Callable[[], Any],
        setup: Callable[[str], Any] | None = None,
    ) -> None:
        from django.db import connection

        times: dict[str, list[float]] = {"plain": [], "flag": [], "hand": []}
        runs = {"plain": plain, "flag": flag, "hand": hand}
        order = list(VARIANTS)
        for i in range(self.rounds):
            for name in order[i % 3 :] + order[: i % 3]:  # rotate who goes first
                if setup:
                    setup(name)
                wrapper = (
                    connection.execute_wrapper(self._count) if name == "flag" else plain_django()
                )
                with wrapper if name != "flag" or kind == "read" else nullcontext():
                    gc.collect()
                    gc.disable()  # as timeit does: a collection would land in one run only
                    try:
                        start = time.perf_counter()
                        runs[name]()
                        times[name].append(time.perf_counter() - start)
                    finally:
                        gc.enable()
        median = {name: statistics.median(found) for name, found in times.items()}
        row = Row(
            label,
            kind,
            plain=median["plain"],
            flag=median["flag"],
            hand=median["hand"],
            target=self.targets.get(kind),
        )
        self.rows.append(row)
        print(
            f"  {label}: plain {row.plain * 1000:.2f} ms, flagschema {row.flag * 1000:.2f} ms, "
            f"hand-written {row.hand * 1000:.2f} ms",
            file=sys.stderr,
        )


def compact(*models: Any) -> None:
    """Rewrite the tables of *models* without the dead rows the write rounds left behind.

    PostgreSQL keeps deleted and updated rows in the table until a vacuum, so after the write
    rounds a table scan would read several times the live rows, more or fewer by table as
    autovacuum happened to pass. Reads then start from the same state for every table.
    """
    from django.db import connection

    with connection.cursor() as cursor:
        for model in models:
            table = connection.ops.quote_name(model._meta.db_table)
            if connection.vendor == "postgresql":
                cursor.execute(f"VACUUM FULL ANALYZE {table}")
            elif connection.vendor == "mysql":
                cursor.execute(f"OPTIMIZE TABLE {table}")
                cursor.fetchall()
        if connection.vendor == "sqlite":
            cursor.execute("VACUUM")


def set_switch(flag: str, active: bool) -> None:
    """Flip the waffle switch *flag* and make this process see it at once."""
    from django.core.cache import cache
    from waffle.models import Switch

    from flagschema.flags import cache as flag_cache

    Switch.objects.update_or_create(name=flag, defaults={"active": active})
    cache.clear()
    flag_cache.forget(flag)


def main(
    doc: str | None,
    run: Callable[[Bench], tuple[int, int]],
    *,
    rows: int,
    targets: dict[str, float],
    before: str,
) -> int:
    """Parse ``--rounds``, run *run* on a fresh test database and print the table.

    *run* returns (flag backend calls, flagschema statements) of its read rounds; *before*
    names the change in the headings ("the rename": "plain, before the rename").
    """
    parser = argparse.ArgumentParser(description=(doc or "").split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=15, help="rounds per operation (median)")
    args = parser.parse_args()
    configure()

    from django.db import connection
    from django.test.utils import get_runner

    from flagschema.conf import get_setting

    bench = Bench(args.rounds, targets)
    runner = get_runner(settings)(verbosity=0, interactive=False)
    old_config = runner.setup_databases()
    try:
        calls, statements = run(bench)
        version = ".".join(map(str, connection.get_database_version()))
        vendor = f"{connection.display_name} {version}"
    finally:
        runner.teardown_databases(old_config)

    print(
        f"Django {django.get_version()}, {vendor}, Python {sys.version.split()[0]}; "
        f"{rows:,} rows, median of {args.rounds} rounds\n"
    )
    print(
        f"| operation | plain, before {before} | plain, both columns | flagschema "
        "| ratio to before | ratio to both columns | target |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    over: dict[str, list[str]] = {"plain": [], "hand": []}

    def ratio(row: Row, baseline: str) -> str:
        value = row.flag / getattr(row, baseline)
        if row.target is not None and value >= row.target:
            over[baseline].append(row.label)
            return f"{value:.2f} (over)"
        return f"{value:.2f}"

    for row in bench.rows:
        print(
            f"| {row.label} | {row.plain * 1000:.2f} ms | {row.hand * 1000:.2f} ms "
            f"| {row.flag * 1000:.2f} ms | {ratio(row, 'plain')} | {ratio(row, 'hand')} "
            f"| {f'< {row.target:.2f}' if row.target else '-'} |"
        )
    ttl = get_setting("FLAG_TTL")
    print(
        f"\nFlag backend calls (each at most one cache round trip) in the read rounds: {calls} "
        f"for {statements:,} flagschema statements = {calls / statements * 1000:.2f} per 1,000 "
        f"queries (FLAGSCHEMA_FLAG_TTL = {ttl} s)."
    )
    for baseline, title in (("hand", "both columns"), ("plain", f"before {before}")):
        print(
            f"Against plain Django, {title}: "
            + (
                f"over target: {', '.join(over[baseline])}."
                if over[baseline]
                else "all in target."
            )
        )
    return 0
