"""Cost of a RenamedField against plain Django, measured in one run on one database.

    .venv/bin/python benchmarks/bench_rename.py            # SQLite in memory
    FLAGSCHEMA_TEST_DB=postgresql .venv/bin/python benchmarks/bench_rename.py

The database is chosen by the test suite's variables (README, "Databases"); a test database is
created by migrations and dropped at the end. Three tables hold the same 10,000 rows:

* ``FlagCustomer``: ``full_name = RenamedField(..., old_name="name")``, its flag a real waffle
  switch read through flagschema's in-process cache;
* ``HandWrittenCustomer``: the same model written plainly in Django: both columns as plain
  fields, the code writing both and choosing the column to read (what flagschema automates);
* ``PlainCustomer``: plain Django before the rename, one ``name`` column. Against it the ratio
  also counts what the database spends on the second column, which any expand pays.

Every operation runs in rounds that alternate the three; the table shows medians and the ratios
of flagschema to each. The plain rounds run without flagschema's statement-boundary execute
wrapper, so they measure Django alone. Targets (issue 2): reads below 1.10, writes below 1.25,
and no cache round trip per query.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import Bench, main, set_switch

ROWS = 10_000
PAGE = 1_000
LOOKUPS = 200
READ_TARGET = 1.10
WRITE_TARGET = 1.25


def run(bench: Bench) -> tuple[int, int]:
    """Run every operation; return (flag backend calls, statements) of the read rounds."""
    from benchmarks.models import FlagCustomer, HandWrittenCustomer, PlainCustomer
    from flagschema.flags import cache as flag_cache

    models: dict[str, Any] = {
        "plain": PlainCustomer,
        "flag": FlagCustomer,
        "hand": HandWrittenCustomer,
    }
    names = [f"customer-{i:05d}" for i in range(ROWS)]

    def fill(which: str) -> None:
        model = models[which]
        model.objects.all().delete()
        if which == "plain":
            model.objects.bulk_create(model(name=n) for n in names)
        elif which == "flag":
            model.objects.bulk_create(model(full_name=n) for n in names)
        else:
            model.objects.bulk_create(model(name=n, full_name=n) for n in names)

    print("writes", file=sys.stderr)
    bench.compare(
        f"bulk_create() {ROWS:,} rows",
        "write",
        lambda: PlainCustomer.objects.bulk_create(PlainCustomer(name=n) for n in names),
        lambda: FlagCustomer.objects.bulk_create(FlagCustomer(full_name=n) for n in names),
        lambda: HandWrittenCustomer.objects.bulk_create(
            HandWrittenCustomer(name=n, full_name=n) for n in names
        ),
        setup=lambda which: models[which].objects.all().delete(),
    )
    for which in models:
        fill(which)
    loaded = {w: list(m.objects.order_by("pk")[:PAGE]) for w, m in models.items()}
    counter = iter(range(10**9))

    def save_each(which: str) -> None:
        for obj in loaded[which]:
            value = f"s{next(counter)}"
            if which == "plain":
                obj.name = value
            elif which == "flag":
                obj.full_name = value
            else:
                obj.name = obj.full_name = value
            obj.save()

    bench.compare(
        f"save() of a loaded row x {PAGE:,}",
        "write",
        lambda: save_each("plain"),
        lambda: save_each("flag"),
        lambda: save_each("hand"),
    )
    first = {w: (objs[0].pk, objs[-1].pk) for w, objs in loaded.items()}
    bench.compare(
        f"QuerySet.update() of {PAGE:,} rows",
        "write",
        lambda: PlainCustomer.objects.filter(pk__range=first["plain"]).update(
            name=f"u{next(counter)}"
        ),
        lambda: FlagCustomer.objects.filter(pk__range=first["flag"]).update(
            full_name=f"u{next(counter)}"
        ),
        lambda: HandWrittenCustomer.objects.filter(pk__range=first["hand"]).update(
            name=(v := f"u{next(counter)}"), full_name=v
        ),
    )
    for which in models:
        fill(which)

    calls_before = flag_cache.backend_calls
    bench.flag_statements = 0
    for side in ("old", "new"):
        set_switch("bench.full_name", side == "new")
        print(f"reads, read side {side}", file=sys.stderr)
        read_rounds(bench, side, models, names)
    return flag_cache.backend_calls - calls_before, bench.flag_statements


def read_rounds(bench: Bench, side: str, models: dict[str, Any], names: list[str]) -> None:
    plain_model, flag_model, hand_model = models["plain"], models["flag"], models["hand"]
    hand_field = "full_name" if side == "new" else "name"
    prefix = "customer-03"  # 1,000 of the 10,000 rows

    def fetch(which: str) -> list[Any]:
        field = {"plain": "name", "flag": "full_name", "hand": hand_field}[which]
        return list(models[which].objects.filter(**{f"{field}__startswith": prefix}))

    bench.compare(
        f"filter + fetch {PAGE:,} rows ({side})",
        "read",
        lambda: fetch("plain"),
        lambda: fetch("flag"),
        lambda: fetch("hand"),
    )
    bench.compare(
        f"get() by name x {LOOKUPS} ({side})",
        "read",
        lambda: [plain_model.objects.get(name=n) for n in names[:LOOKUPS]],
        lambda: [flag_model.objects.get(full_name=n) for n in names[:LOOKUPS]],
        lambda: [hand_model.objects.get(**{hand_field: n}) for n in names[:LOOKUPS]],
    )
    bench.compare(
        f"values() of {PAGE:,} rows ({side})",
        "read",
        lambda: list(plain_model.objects.filter(name__startswith=prefix).values("name")),
        lambda: list(flag_model.objects.filter(full_name__startswith=prefix).values("full_name")),
        lambda: list(
            hand_model.objects.filter(**{f"{hand_field}__startswith": prefix}).values(hand_field)
        ),
    )
    # Attribute reads are fast: 20 passes over the 1,000 rows make them measurable.
    rows = {w: fetch(w) * 20 for w in models}
    bench.compare(
        f"attribute access x {20 * PAGE:,} ({side})",
        "read",
        lambda: [c.name for c in rows["plain"]],
        lambda: [c.full_name for c in rows["flag"]],
        lambda: [getattr(c, hand_field) for c in rows["hand"]],
    )
    bench.compare(
        f"old-name alias access x {20 * PAGE:,} ({side})",
        "info",
        lambda: [c.name for c in rows["plain"]],
        lambda: [c.name for c in rows["flag"]],
        lambda: [getattr(c, hand_field) for c in rows["hand"]],
    )


if __name__ == "__main__":
    sys.exit(
        main(
            __doc__,
            run,
            rows=ROWS,
            targets={"write": WRITE_TARGET, "read": READ_TARGET},
            before="the rename",
        )
    )
