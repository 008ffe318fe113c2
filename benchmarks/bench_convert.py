"""Cost of a ConvertedField against plain Django, measured in one run on one database.

    .venv/bin/python benchmarks/bench_convert.py            # SQLite in memory
    FLAGSCHEMA_TEST_DB=postgresql .venv/bin/python benchmarks/bench_convert.py

The database is chosen by the test suite's variables (README, "Databases"); a test database is
created by migrations and dropped at the end. The tables hold the same 10,000 products, whose
integer ``price_cents`` becomes a Decimal ``price``:

* ``FlagProduct``: ``price = ConvertedField(DecimalField(...), old=IntegerField(db_column=
  "price_cents"), forward=..., backward=..., forward_sql=F("price_cents") / 100.0, ...)``, its
  flag a real waffle switch read through flagschema's in-process cache. On the old side both
  SELECT lists and filters compute the price with ``forward_sql`` (cast to the new type);
* ``FlagProductPython``: the same declaration without ``forward_sql``: on the old side the
  column is read raw and each value converted by ``forward`` in Python (rows marked "forward
  in Python"; filters on ``price`` are refused on that side, so it has no filter rows);
* ``HandWrittenProduct``: the same expand written plainly in Django: both columns as plain
  fields, the code computing ``price_cents`` from ``price`` on every write; on the old side it
  reads ``price_cents`` and converts it with the same ``forward`` in Python, and filters with
  the same expression as ``forward_sql`` (what flagschema automates);
* ``PlainProduct``: plain Django before the change, ``price_cents`` only, read and filtered as
  integers. Against it the ratio also counts what the database spends on the second column and
  on the conversion, which any such expand pays.

``price`` is not indexed: on the old side a filter computes the price of every row, so an index
on ``price_cents`` could not serve it anyway. Before the read rounds the tables are compacted
(``VACUUM FULL`` on PostgreSQL), so that no table scans the dead rows of the write rounds.

Every operation runs in rounds that alternate the three; the table shows medians and the ratios
of flagschema to each. The plain rounds run without flagschema's statement-boundary execute
wrapper, so they measure Django alone. Targets (issue 3): reads below 1.15, writes below 1.30.
"""

from __future__ import annotations

import itertools
import sys
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import Bench, compact, main, set_switch

ROWS = 10_000
PAGE = 1_000
LOOKUPS = 200
READ_TARGET = 1.15
WRITE_TARGET = 1.30
FLAGS = ("bench.price", "bench.price_python")

# Product i costs k * 1.01 + 0.99 with k = i * 7919 % ROWS (a permutation of 0..ROWS-1, so the
# prices are distinct and not in primary-key order). The range below holds k = 3000..3999:
# exactly PAGE products, its bounds between two prices.
LOW, HIGH = Decimal("3030.50"), Decimal("4040.50")
LOW_CENTS, HIGH_CENTS = 303050, 404050


def cents_of(i: int) -> int:
    return (i * 7919 % ROWS) * 101 + 99


def run(bench: Bench) -> tuple[int, int]:
    """Run every operation; return (flag backend calls, statements) of the read rounds."""
    from benchmarks.models import (
        FlagProduct,
        FlagProductPython,
        HandWrittenProduct,
        PlainProduct,
        cents_to_price,
        price_to_cents,
    )
    from flagschema.flags import cache as flag_cache

    models: dict[str, Any] = {
        "plain": PlainProduct,
        "flag": FlagProduct,
        "hand": HandWrittenProduct,
    }
    tables = {**models, "python": FlagProductPython}
    skus = [f"sku-{i:05d}" for i in range(ROWS)]
    cents = [cents_of(i) for i in range(ROWS)]
    prices = [cents_to_price(c) for c in cents]

    makers: dict[str, Callable[[int], Any]] = {
        "plain": lambda i: PlainProduct(sku=skus[i], price_cents=cents[i]),
        "flag": lambda i: FlagProduct(sku=skus[i], price=prices[i]),
        "python": lambda i: FlagProductPython(sku=skus[i], price=prices[i]),
        # The code computes the old column from the new value, as flagschema does.
        "hand": lambda i: HandWrittenProduct(
            sku=skus[i], price=prices[i], price_cents=price_to_cents(prices[i])
        ),
    }

    def bulk_create(which: str) -> None:
        make = makers[which]
        tables[which].objects.bulk_create(make(i) for i in range(ROWS))

    def fill(which: str) -> None:
        tables[which].objects.all().delete()
        bulk_create(which)

    print("writes", file=sys.stderr)
    bench.compare(
        f"bulk_create() {ROWS:,} rows",
        "write",
        lambda: bulk_create("plain"),
        lambda: bulk_create("flag"),
        lambda: bulk_create("hand"),
        setup=lambda which: models[which].objects.all().delete(),
    )
    for which in models:
        fill(which)

    def create_each(which: str) -> None:
        model = models[which]
        for i in range(PAGE):
            if which == "plain":
                model.objects.create(sku="new", price_cents=cents[i])
            elif which == "flag":
                model.objects.create(sku="new", price=prices[i])
            else:
                price = prices[i]
                model.objects.create(sku="new", price=price, price_cents=price_to_cents(price))

    bench.compare(
        f"create() x {PAGE:,}",
        "write",
        lambda: create_each("plain"),
        lambda: create_each("flag"),
        lambda: create_each("hand"),
        setup=lambda which: models[which].objects.filter(sku="new").delete(),
    )
    for model in models.values():
        model.objects.filter(sku="new").delete()
    loaded = {w: list(m.objects.order_by("pk")[:PAGE]) for w, m in models.items()}
    # 1,009 new values (a prime count), so each round writes other values than the last.
    values = itertools.cycle([(cents[i], prices[i]) for i in range(PAGE, PAGE + 1009)])

    def save_each(which: str) -> None:
        for obj in loaded[which]:
            new_cents, new_price = next(values)
            if which == "plain":
                obj.price_cents = new_cents
            elif which == "flag":
                obj.price = new_price
            else:
                obj.price = new_price
                obj.price_cents = price_to_cents(new_price)
            obj.save()

    bench.compare(
        f"save() of a loaded row x {PAGE:,}",
        "write",
        lambda: save_each("plain"),
        lambda: save_each("flag"),
        lambda: save_each("hand"),
    )
    for which in tables:
        fill(which)
    compact(*tables.values())

    calls_before = flag_cache.backend_calls
    bench.flag_statements = 0
    for side in ("old", "new"):
        for flag in FLAGS:
            set_switch(flag, side == "new")
        print(f"reads, read side {side}", file=sys.stderr)
        read_rounds(bench, side, models)
    print("old-name reads", file=sys.stderr)
    rows = {w: list(m.objects.order_by("pk")[:PAGE]) * 20 for w, m in models.items()}
    bench.compare(
        f"old name product.price_cents x {20 * PAGE:,}",
        "info",
        lambda: [p.price_cents for p in rows["plain"]],
        lambda: [p.price_cents for p in rows["flag"]],
        lambda: [p.price_cents for p in rows["hand"]],
    )
    return flag_cache.backend_calls - calls_before, bench.flag_statements


def read_rounds(bench: Bench, side: str, models: dict[str, Any]) -> None:
    from django.db.models import DecimalField, F
    from django.db.models.functions import Cast

    from benchmarks.models import FlagProductPython, cents_to_price

    plain_model, flag_model, hand_model = models["plain"], models["flag"], models["hand"]
    pks = {
        w: list(m.objects.order_by("pk").values_list("pk", flat=True)[:LOOKUPS])
        for w, m in [*models.items(), ("python", FlagProductPython)]
    }

    def hand_read(products: list[Any]) -> list[Any]:
        """The hand-written code's read of ``price``: on the old side, converted by hand."""
        if side == "old":
            for p in products:
                p.price = cents_to_price(p.price_cents)
        return products

    def hand_range() -> Any:
        if side == "new":
            return hand_model.objects.filter(price__gte=LOW, price__lt=HIGH)
        # The same expression flagschema compiles for forward_sql.
        price = Cast(F("price_cents") / 100.0, DecimalField(max_digits=12, decimal_places=2))
        return hand_model.objects.alias(p=price).filter(p__gte=LOW, p__lt=HIGH)

    def plain_range() -> Any:
        return plain_model.objects.filter(price_cents__gte=LOW_CENTS, price_cents__lt=HIGH_CENTS)

    def flag_range() -> Any:
        return flag_model.objects.filter(price__gte=LOW, price__lt=HIGH)

    # The three read the same products; the two flagschema declarations the same prices.
    in_range = [plain_range().count(), flag_range().count(), hand_range().count()]
    assert in_range == [PAGE] * 3, in_range
    expected = [cents_to_price(p.price_cents) for p in plain_model.objects.order_by("pk")[:PAGE]]
    for found in (
        [p.price for p in flag_model.objects.order_by("pk")[:PAGE]],
        [p.price for p in FlagProductPython.objects.order_by("pk")[:PAGE]],
        [p.price for p in hand_read(list(hand_model.objects.order_by("pk")[:PAGE]))],
    ):
        assert found == expected, (found[:3], expected[:3])

    bench.compare(
        f"fetch {PAGE:,} rows ({side})",
        "read",
        lambda: list(plain_model.objects.order_by("pk")[:PAGE]),
        lambda: list(flag_model.objects.order_by("pk")[:PAGE]),
        lambda: hand_read(list(hand_model.objects.order_by("pk")[:PAGE])),
    )
    bench.compare(
        f"get() by pk x {LOOKUPS} ({side})",
        "read",
        lambda: [plain_model.objects.get(pk=pk) for pk in pks["plain"]],
        lambda: [flag_model.objects.get(pk=pk) for pk in pks["flag"]],
        lambda: hand_read([hand_model.objects.get(pk=pk) for pk in pks["hand"]]),
    )
    if side == "old":
        bench.compare(
            f"fetch {PAGE:,} rows (old, forward in Python)",
            "read",
            lambda: list(plain_model.objects.order_by("pk")[:PAGE]),
            lambda: list(FlagProductPython.objects.order_by("pk")[:PAGE]),
            lambda: hand_read(list(hand_model.objects.order_by("pk")[:PAGE])),
        )
        bench.compare(
            f"get() by pk x {LOOKUPS} (old, forward in Python)",
            "read",
            lambda: [plain_model.objects.get(pk=pk) for pk in pks["plain"]],
            lambda: [FlagProductPython.objects.get(pk=pk) for pk in pks["python"]],
            lambda: hand_read([hand_model.objects.get(pk=pk) for pk in pks["hand"]]),
        )
    bench.compare(
        f"filter on price + fetch {PAGE:,} rows ({side})",
        "read",
        lambda: list(plain_range()),
        lambda: list(flag_range()),
        lambda: hand_read(list(hand_range())),
    )
    bench.compare(
        f"count() of a price range, {ROWS:,} rows scanned ({side})",
        "read",
        lambda: plain_range().count(),
        lambda: flag_range().count(),
        lambda: hand_range().count(),
    )


if __name__ == "__main__":
    sys.exit(
        main(
            __doc__,
            run,
            rows=ROWS,
            targets={"write": WRITE_TARGET, "read": READ_TARGET},
            before="the change",
        )
    )
