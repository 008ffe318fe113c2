"""Rehearse the shop's three transitions, step by step, on a fresh database.

    python manage.py rehearse

The release splits ``Customer.name`` into ``first_name``/``last_name``, converts
``Product.price_cents`` to a Decimal ``price`` and renames ``Order.number`` to ``reference``,
each behind its own waffle switch. The rehearsal deletes and recreates the demo's SQLite
database, plays the previous release (old columns only), then expand, writes by the new code,
backfill, the flip of each switch to the new columns, writes while reading them, and the flip
back, showing the physical columns by raw SQL after every step. Exits non-zero as soon as a
check fails.

The database stays, with a superuser for the admin (``admin``, password ``flagschema-demo``:
a local demo's, printed at the end), for ``runserver`` and its "Schema transitions" pages.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from io import StringIO
from os.path import abspath, relpath
from pathlib import Path
from typing import Any, Literal

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, connections, models
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.operations import AddField
from django.db.models import F
from django.urls import reverse
from waffle.models import Switch

import flagschema
from flagschema.flags import cache as flag_cache
from shop.models import Customer, Order, Product

Side = Literal["old", "new"]
BATCH_SIZE = 2  # rows per backfill UPDATE; small, so that the rehearsal shows several batches

# The admin's superuser, created at the end for `runserver`. A local demo's credentials, printed
# for anyone to read: the demo's database is never deployed.
ADMIN_USERNAME = "admin"
ADMIN_PASSWORD = "flagschema-demo"

# The previous release's data, written before the release existed.
CUSTOMERS = [
    ("Ada Lovelace", "ada@example.com"),
    ("Alan Turing", "alan@example.com"),
    ("Katherine Johnson", "katherine@example.com"),
]
PRODUCTS = [("MUG-1", "Mug", 1250), ("TEE-1", "T-shirt", 1999), ("PEN-1", "Pen", 349)]
ORDERS = [  # number, customer email, product sku, quantity
    (1001, "ada@example.com", "MUG-1", 2),
    (1002, "ada@example.com", "PEN-1", 1),
    (1003, "alan@example.com", "TEE-1", 1),
]


@dataclass(frozen=True)
class Probe:
    """How to prove which columns a transition's reads come from: write a value into one
    side's column only, by raw SQL, and see it through the ORM."""

    field: str  # the new field the ORM reads
    # side -> (column written by raw SQL, the raw value, what the ORM should then read)
    marks: dict[str, tuple[str, Any, Any]]
    # a lookup of the field through a relation: (model, lookup path)
    through: tuple[type[models.Model], str]


@dataclass(frozen=True)
class Plan:
    label: str
    agreement: str  # how the two shapes of a row relate, for the reader
    probe: Probe


PLANS = [
    Plan(
        "shop.Customer.name_split",
        "name = first_name + ' ' + last_name",
        Probe(
            "last_name",
            {
                "old": ("name", "Ada [only in name]", "[only in name]"),
                "new": ("last_name", "[only in last_name]", "[only in last_name]"),
            },
            (Order, "customer__last_name"),
        ),
    ),
    Plan(
        "shop.Product.price",
        "price_cents = price x 100",
        Probe(
            "price",
            {
                "old": ("price_cents", 99999, Decimal("999.99")),
                "new": ("price", "888.88", Decimal("888.88")),
            },
            (Order, "product__price"),
        ),
    ),
    Plan(
        "shop.Order.reference",
        "number = reference",
        Probe(
            "reference",
            {"old": ("number", 9001, 9001), "new": ("reference", 9002, 9002)},
            (Customer, "orders__reference"),
        ),
    ),
]


class Command(BaseCommand):
    help = (
        "Rehearse the shop's release on a fresh SQLite database: Customer.name split, "
        "Product.price_cents to a Decimal price, Order.number renamed; expand, backfill, flip "
        "each to new and back. Deletes the demo database first."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        self.step = -1  # step 0 is the previous release
        self.decimal_note_shown = False
        self.ttl_note_shown = False
        self.transitions = [flagschema.registry[plan.label] for plan in PLANS]
        self.stdout.write(
            "Rehearsal of the shop's release, three transitions behind three switches:"
        )
        for transition in self.transitions:
            self.say(
                f"{transition.label} ({transition.kind}): "
                f"{', '.join(transition.old_columns)} -> {', '.join(transition.new_columns)}, "
                f"switch {transition.flag!r}"
            )
        self.before_release()
        self.expand()
        self.write_reading_old()
        self.backfill()
        self.flip_to_new()
        read_while_new = self.write_reading_new()
        self.flip_back(read_while_new)
        self.final_check()
        self.try_the_admin()

    # --- the steps -------------------------------------------------------------------------

    def before_release(self) -> None:
        self.heading("Before the release: the previous release writes old-shape rows")
        path = self.recreate_database()
        self.say(f"Deleted and recreated {path}.")
        loader = MigrationLoader(None, ignore_no_migrations=True)
        for app_label in sorted(loader.migrated_apps - {"shop"}):
            call_command("migrate", app_label, verbosity=0)
        call_command("migrate", "shop", "0001_initial", verbosity=0)
        self.say("Migrated every app to its latest migration, and shop to 0001_initial:")
        self.say("the previous release (Customer.name, Product.price_cents, Order.number).")

        # The previous release's code, as its migrations knew it: no new field anywhere.
        old_apps = MigrationLoader(connection).project_state(("shop", "0001_initial")).apps
        old_customer = old_apps.get_model("shop", "Customer")
        old_product = old_apps.get_model("shop", "Product")
        old_order = old_apps.get_model("shop", "Order")
        for name, email in CUSTOMERS:
            old_customer.objects.create(name=name, email=email)
        for sku, title, cents in PRODUCTS:
            old_product.objects.create(sku=sku, title=title, price_cents=cents)
        for number, email, sku, quantity in ORDERS:
            old_order.objects.create(
                number=number,
                customer=old_customer.objects.get(email=email),
                product=old_product.objects.get(sku=sku),
                quantity=quantity,
            )
        self.say(
            f"Wrote {len(CUSTOMERS)} customers, {len(PRODUCTS)} products and {len(ORDERS)} "
            "orders through the historical models of 0001_initial, as the previous release did."
        )
        self.show_tables()
        for transition in self.transitions:
            stored = self.stored_columns(transition.model)
            missing = [c for c in transition.new_columns if c not in stored]
            self.expect(
                missing == list(transition.new_columns),
                f"{transition.model._meta.db_table} has no {', '.join(transition.new_columns)} "
                "column yet",
            )

    def expand(self) -> None:
        self.heading("Expand: deploy the release and its migration")
        self.old_columns_before = self.old_values()
        call_command("migrate", "shop", "0002_expand", verbosity=0)
        migration = MigrationLoader(connection).get_migration("shop", "0002_expand")
        self.say("Migrated shop to 0002_expand (what makemigrations wrote for the release):")
        for operation in migration.operations:
            self.say(f"  {operation.describe()}")
        self.expect(
            all(isinstance(op, AddField) and op.field.null for op in migration.operations),
            f"0002_expand has only AddField operations ({len(migration.operations)}), of "
            "nullable columns: the old columns are untouched, so the previous release could "
            "still run on these tables",
        )
        self.show_tables()
        for transition in self.transitions:
            table = transition.model._meta.db_table
            total = self.scalar(f"SELECT COUNT(*) FROM {self.qn(table)}")
            nulls = self.scalar(
                f"SELECT COUNT(*) FROM {self.qn(table)} WHERE "
                + " AND ".join(f"{self.qn(c)} IS NULL" for c in transition.new_columns)
            )
            self.expect(
                nulls == total,
                f"{table}: {', '.join(transition.new_columns)} NULL in all {total} rows written "
                "before the release",
            )
        self.expect_old_columns_unchanged("the migration")

    def write_reading_old(self) -> None:
        self.heading("The new code writes (switches off: reads come from the old columns)")
        for transition in self.transitions:
            self.set_switch(transition.flag, active=False)
        for transition in self.transitions:
            self.check_read_side(transition, "old")
        self.say("Every ORM write stores both shapes:")
        grace = self.orm(
            "Customer.objects.create(first_name='Grace', last_name='Hopper', email=...)",
            lambda: Customer.objects.create(
                first_name="Grace", last_name="Hopper", email="grace@example.com"
            ),
        )
        cap = self.orm(
            "Product.objects.create(sku='CAP-1', title='Cap', price=Decimal('14.95'))",
            lambda: Product.objects.create(sku="CAP-1", title="Cap", price=Decimal("14.95")),
        )
        self.orm(
            "Order.objects.create(reference=1004, customer=grace, product=cap, quantity=3)",
            lambda: Order.objects.create(reference=1004, customer=grace, product=cap, quantity=3),
        )
        self.orm(
            "Customer.objects.filter(email='alan@example.com')"
            ".update(first_name='Alan', last_name='M. Turing')",
            lambda: Customer.objects.filter(email="alan@example.com").update(
                first_name="Alan", last_name="M. Turing"
            ),
        )
        self.orm(
            "Product.objects.filter(sku='PEN-1').update(price=F('price') + Decimal('0.30'))",
            lambda: Product.objects.filter(sku="PEN-1").update(price=F("price") + Decimal("0.30")),
        )
        self.show_tables()
        for plan, transition in zip(PLANS, self.transitions, strict=True):
            self.check_shapes_agree(plan, transition, backfilled=False)

    def backfill(self) -> None:
        self.heading("Backfill: give the rows written before the release their new shape")
        self.say(
            f"For each transition: manage.py flagschema backfill LABEL --batch-size {BATCH_SIZE}"
        )
        self.say("(primary-key ranges, one short transaction each), then flagschema verify LABEL.")
        self.old_columns_before = self.old_values()
        for transition in self.transitions:
            self.stdout.write("")
            out = StringIO()
            call_command(
                "flagschema",
                "backfill",
                transition.label,
                "--batch-size",
                str(BATCH_SIZE),
                "--json",
                stdout=out,
                stderr=StringIO(),
            )
            report = json.loads(out.getvalue())
            self.expect(
                report["finished"] and not report["failed"],
                f"{transition.label}: backfill wrote {report['written']} row(s) in "
                f"{report['batches']} range(s)",
                detail=out.getvalue(),
            )
            out = StringIO()
            try:
                call_command("flagschema", "verify", transition.label, stdout=out)
                clean = True
            except SystemExit:
                clean = False
            self.expect(clean, f"{transition.label}: verify is clean", detail=out.getvalue())
        self.show_tables()
        for plan, transition in zip(PLANS, self.transitions, strict=True):
            self.check_shapes_agree(plan, transition, backfilled=True)
        self.expect_old_columns_unchanged("the backfill")

    def flip_to_new(self) -> None:
        self.heading("Flip to new: one switch at a time, reads come from the new columns")
        for plan, transition in zip(PLANS, self.transitions, strict=True):
            self.stdout.write("")
            self.set_switch(transition.flag, active=True)
            self.check_read_side(transition, "new")
            self.prove_reads_from(plan, transition, "new")
        self.stdout.write("")
        for plan, transition in zip(PLANS, self.transitions, strict=True):
            self.check_shapes_agree(plan, transition, backfilled=True)

    def write_reading_new(self) -> dict[str, dict[Any, tuple[Any, ...]]]:
        self.heading("Write while reading new (switches on)")
        margaret = self.orm(
            "Customer.objects.create(first_name='Margaret', last_name='Hamilton', email=...)",
            lambda: Customer.objects.create(
                first_name="Margaret", last_name="Hamilton", email="margaret@example.com"
            ),
        )
        katherine = Customer.objects.get(email="katherine@example.com")
        katherine.last_name = "G. Johnson"
        katherine.save(update_fields=["last_name"])
        self.say(
            "ORM: katherine.last_name = 'G. Johnson'; katherine.save(update_fields=['last_name'])"
        )
        self.orm(
            "Product.objects.filter(sku='MUG-1').update(price=Decimal('13.50'))",
            lambda: Product.objects.filter(sku="MUG-1").update(price=Decimal("13.50")),
        )
        self.orm(
            "Order.objects.create(reference=1005, customer=margaret, product=<TEE-1>)",
            lambda: Order.objects.create(
                reference=1005, customer=margaret, product=Product.objects.get(sku="TEE-1")
            ),
        )
        self.show_tables()
        for plan, transition in zip(PLANS, self.transitions, strict=True):
            self.check_shapes_agree(plan, transition, backfilled=True)
        return {t.label: self.orm_reads(t) for t in self.transitions}

    def flip_back(self, read_while_new: dict[str, dict[Any, tuple[Any, ...]]]) -> None:
        self.heading("Flip back (the rollback): reads come from the old columns again")
        for plan, transition in zip(PLANS, self.transitions, strict=True):
            self.stdout.write("")
            self.set_switch(transition.flag, active=False)
            self.check_read_side(transition, "old")
            self.prove_reads_from(plan, transition, "old")
            now = self.orm_reads(transition)
            before = read_while_new[transition.label]
            lost = sorted(pk for pk in before if now.get(pk) != before[pk])
            fields = "/".join(f.name for f in transition.new_fields)
            self.expect(
                not lost and len(now) == len(before),
                f"the ORM reads the same {fields} of all {len(now)} rows from "
                f"{', '.join(transition.old_columns)} as it read from the new columns: "
                "nothing written while reading new was lost",
                detail=f"rows that read differently: {lost}",
            )

    def final_check(self) -> None:
        self.heading("Final check: every row of every table holds both shapes, and they agree")
        self.show_tables(with_agreement=True)
        total = 0
        for plan, transition in zip(PLANS, self.transitions, strict=True):
            total += self.check_shapes_agree(plan, transition, backfilled=True)
        self.stdout.write("")
        self.stdout.write(
            self.style.SUCCESS(
                f"OK: all {total} rows hold both shapes and they agree; every check passed."
            )
        )
        switches = ", ".join(repr(t.flag) for t in self.transitions)
        self.stdout.write(f"The switches {switches} are off (reads from the old columns).")

    def try_the_admin(self) -> None:
        """Create the admin's superuser and say how to flip in the browser."""
        get_user_model().objects.create_superuser(
            ADMIN_USERNAME, f"{ADMIN_USERNAME}@example.com", ADMIN_PASSWORD
        )
        base = Path(settings.BASE_DIR)
        site = "http://127.0.0.1:8000"
        self.stdout.write("")
        self.stdout.write("Flip them in the browser: the database stays, with a superuser.")
        for name, value in [
            ("username", ADMIN_USERNAME),
            ("password", f"{ADMIN_PASSWORD}  (a local demo's: never use it on a server)"),
            ("start", f"{shown(sys.executable)} {shown(base / 'manage.py')} runserver"),
            ("the shop", f"{site}/  (says which columns each table is read from)"),
            ("flip", f"{site}{reverse('admin:flagschema_transitions')}"),
            (
                "runbook",
                f"{shown(base.parent / 'docs' / 'runbook.md')}  (roll back with the admin, "
                "the command or waffle)",
            ),
        ]:
            self.say(f"{name:<9} {value}")

    # --- transitions -----------------------------------------------------------------------

    def check_read_side(self, transition: Any, side: Side) -> None:
        actual = transition.read_side()
        columns = transition.new_columns if side == "new" else transition.old_columns
        self.expect(
            actual == side,
            f"{transition.label} reads the {side} side: {', '.join(columns)}",
            detail=f"flagschema says {actual!r}",
        )

    def prove_reads_from(self, plan: Plan, transition: Any, side: Side) -> None:
        """Write a value into one column of *side* only, by raw SQL, read it through the ORM,
        then restore the column."""
        probe = plan.probe
        model = transition.model
        column, raw, expected = probe.marks[side]
        table = self.qn(model._meta.db_table)
        pk, original = self.rows(f"SELECT id, {self.qn(column)} FROM {table} ORDER BY id")[0]
        self.say(f"Proof: a value only `{column}` holds, written by raw SQL, read by the ORM:")
        self.sql(f"UPDATE {table} SET {self.qn(column)} = %s WHERE id = %s", [raw, pk])
        self.show_table(transition, pk=pk)
        read = getattr(model._default_manager.get(pk=pk), probe.field)
        found = list(
            model._default_manager.filter(**{probe.field: expected}).values_list("pk", flat=True)
        )
        other, lookup = probe.through
        through = other._default_manager.filter(**{lookup: expected}).exists()
        name = model.__name__
        self.say(f"ORM: {name}.objects.get(pk={pk}).{probe.field} -> {read!r}")
        self.say(f"ORM: {name}.objects.filter({probe.field}={expected!r}) -> ids {found}")
        self.say(f"ORM: {other.__name__}.objects.filter({lookup}=...).exists() -> {through}")
        self.sql(f"UPDATE {table} SET {self.qn(column)} = %s WHERE id = %s", [original, pk])
        self.say(f"(restored `{column}`)")
        self.expect(
            read == expected and found == [pk] and through,
            f"attribute, filter and lookup through {other.__name__} read `{column}`",
            detail=f"read {read!r}, filter found {found}, lookup {through}",
        )

    def orm_reads(self, transition: Any) -> dict[Any, tuple[Any, ...]]:
        """The new fields of every row, as model instances read them now."""
        names = [f.name for f in transition.new_fields]
        return {
            row.pk: tuple(getattr(row, n) for n in names)
            for row in transition.model._default_manager.all()
        }

    def shapes(self, transition: Any) -> list[tuple[Any, tuple[Any, ...], tuple[Any, ...]]]:
        """(id, old values, new values) of every row, by raw SQL."""
        olds, news = list(transition.old_columns), list(transition.new_columns)
        table = self.qn(transition.model._meta.db_table)
        columns = ", ".join(self.qn(c) for c in ["id", *olds, *news])
        out = []
        for row in self.rows(f"SELECT {columns} FROM {table} ORDER BY id"):
            new_values = tuple(
                self.from_raw(field, value)
                for field, value in zip(transition.new_fields, row[1 + len(olds) :], strict=True)
            )
            out.append((row[0], tuple(row[1 : 1 + len(olds)]), new_values))
        return out

    def disagreeing(self, transition: Any) -> tuple[list[Any], list[Any], int]:
        """Rows whose old columns are not the new shape converted backward, rows without a
        new shape, and the number of rows."""
        rows = self.shapes(transition)
        disagree, missing = [], []
        for pk, olds, news in rows:
            if all(v is None for v in news):
                missing.append(pk)
            elif transition.to_old(news) != olds:
                disagree.append(pk)
        return disagree, missing, len(rows)

    def check_shapes_agree(self, plan: Plan, transition: Any, *, backfilled: bool) -> int:
        disagree, missing, total = self.disagreeing(transition)
        table = transition.model._meta.db_table
        if backfilled:
            self.expect(
                not disagree and not missing,
                f"{table}: {plan.agreement} in all {total} rows",
                detail="; ".join(
                    part
                    for part in (
                        f"shapes differ: ids {disagree}" if disagree else "",
                        f"no new shape: ids {missing}" if missing else "",
                    )
                    if part
                ),
            )
        else:
            written = total - len(missing)
            self.expect(
                not disagree,
                f"{table}: {plan.agreement} in the {plural(written, 'row')} written by the "
                f"release; {plural(len(missing), 'older row')} wait for the backfill",
                detail=f"shapes differ: ids {disagree}",
            )
        return total

    def old_values(self) -> dict[str, list[tuple[Any, ...]]]:
        return {
            t.label: self.rows(
                f"SELECT {', '.join(self.qn(c) for c in ['id', *t.old_columns])} "
                f"FROM {self.qn(t.model._meta.db_table)} ORDER BY id"
            )
            for t in self.transitions
        }

    def expect_old_columns_unchanged(self, what: str) -> None:
        now = self.old_values()
        changed = {
            label: [a for a, b in zip(rows, now[label], strict=False) if a != b]
            for label, rows in self.old_columns_before.items()
        }
        changed = {label: rows for label, rows in changed.items() if rows}
        count = sum(len(rows) for rows in self.old_columns_before.values())
        self.expect(
            not changed,
            f"{what} changed no value in the old columns of the {count} rows",
            detail=f"changed: {changed}",
        )

    @staticmethod
    def from_raw(field: Any, value: Any) -> Any:
        # SQLite stores a decimal as a number: 12.5 is 12.50.
        if isinstance(field, models.DecimalField) and value is not None:
            return Decimal(str(value))
        return value

    # --- helpers ---------------------------------------------------------------------------

    def recreate_database(self) -> Path:
        settings_dict = connection.settings_dict
        name = str(settings_dict["NAME"])
        in_memory = name in ("", ":memory:") or "mode=memory" in name
        if connection.vendor != "sqlite" or in_memory:
            raise CommandError(
                "rehearse deletes and recreates the database, so it only runs on a SQLite file; "
                f"DATABASES['default'] is {connection.vendor} {name!r}."
            )
        connections.close_all()
        path = Path(name)
        for leftover in (path, Path(f"{name}-journal"), Path(f"{name}-wal"), Path(f"{name}-shm")):
            leftover.unlink(missing_ok=True)
        return path

    def set_switch(self, flag: str, *, active: bool) -> None:
        state = "on" if active else "off"
        switch, created = Switch.objects.get_or_create(name=flag, defaults={"active": active})
        flipped = switch.active != active
        if flipped:
            switch.active = active
            switch.save()
        # Processes hold a resolved flag state for FLAGSCHEMA_FLAG_TTL seconds; this one drops
        # its copy so that the rehearsal sees the flip at once.
        flag_cache.forget(flag)
        self.say(
            f"Switch {flag!r} {'created ' if created else ''}{state}; the same as: "
            f"python manage.py waffle_switch {flag} {state} --create"
        )
        if flipped and not self.ttl_note_shown:
            self.ttl_note_shown = True
            self.say(
                f"A server's processes see the flip within FLAGSCHEMA_FLAG_TTL "
                f"({settings.FLAGSCHEMA_FLAG_TTL} s) plus waffle's cache; no migration, no deploy."
            )

    def orm(self, code: str, run: Callable[[], Any]) -> Any:
        result = run()
        count = f"  # {plural(result, 'row')}" if isinstance(result, int) else ""
        self.say(f"ORM: {code}{count}")
        return result

    def expect(self, ok: bool, message: str, detail: str = "") -> None:
        if not ok:
            self.stdout.write(self.style.ERROR(f"   FAIL  {message}"))
            raise CommandError(
                f"Step {self.step} failed: {message}" + (f" ({detail})" if detail else "")
            )
        self.stdout.write(self.style.SUCCESS(f"   ok    {message}"))

    def heading(self, title: str) -> None:
        self.step += 1
        self.stdout.write("")
        self.stdout.write(self.style.MIGRATE_HEADING(f"{self.step}. {title}"))

    def say(self, text: str) -> None:
        self.stdout.write(f"   {text}")

    def sql(self, statement: str, params: Sequence[Any] = ()) -> int:
        self.say(f"SQL> {statement}" + (f"  -- {list(params)}" if params else ""))
        with connection.cursor() as cursor:
            cursor.execute(statement, params)
            return cursor.rowcount

    def rows(self, statement: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with connection.cursor() as cursor:
            cursor.execute(statement, params)
            return [tuple(row) for row in cursor.fetchall()]

    def scalar(self, statement: str) -> Any:
        return self.rows(statement)[0][0]

    def qn(self, name: str) -> str:
        return connection.ops.quote_name(name)

    def stored_columns(self, model: type[models.Model]) -> list[str]:
        with connection.cursor() as cursor:
            description = connection.introspection.get_table_description(
                cursor, model._meta.db_table
            )
        return [c.name for c in description]

    def show_tables(self, *, with_agreement: bool = False) -> None:
        for transition in self.transitions:
            self.show_table(transition, with_agreement=with_agreement)

    def show_table(self, transition: Any, *, with_agreement: bool = False, pk: Any = None) -> None:
        """Print every row (or the row *pk*) of a transition's table as stored, by raw SQL:
        the id, the old shape, the new shape, then the other columns."""
        table = transition.model._meta.db_table
        stored = self.stored_columns(transition.model)
        columns = [
            c for c in ("id", *transition.old_columns, *transition.new_columns) if c in stored
        ]
        columns += [c for c in stored if c not in columns]
        rows = [
            ["NULL" if v is None else str(v) for v in row]
            for row in self.rows(
                f"SELECT {', '.join(map(self.qn, columns))} FROM {self.qn(table)}"
                + (" WHERE id = %s" if pk is not None else " ORDER BY id"),
                [] if pk is None else [pk],
            )
        ]
        headers = list(columns)
        if with_agreement:
            disagree, missing, _ = self.disagreeing(transition)
            headers.append("shapes agree")
            for row in rows:
                row_id = int(row[0])
                row.append(
                    "NO"
                    if row_id in disagree
                    else "NO (no new shape)"
                    if row_id in missing
                    else "yes"
                )
        widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(headers)]
        self.stdout.write("")
        what = table if pk is None else f"row {pk} of {table}"
        self.say(f"{what}, as stored (raw SQL):")
        for i, row in enumerate([headers, *rows]):
            self.say(" | ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())
            if i == 0:
                self.say("-+-".join("-" * w for w in widths))
        decimals = [
            f.column
            for f in transition.model._meta.concrete_fields
            if isinstance(f, models.DecimalField) and f.column in stored
        ]
        shown = [row[columns.index(c)] for row in rows for c in decimals if c in columns]
        if (
            any(v != "NULL" for v in shown)
            and connection.vendor == "sqlite"
            and (not self.decimal_note_shown)
        ):
            self.decimal_note_shown = True
            self.say(
                f"({', '.join(decimals)} as SQLite stores it: a number, so 12.50 shows as 12.5)"
            )


def shown(path: str | Path) -> str:
    """*path* relative to the working directory when it is below it, else absolute."""
    relative = relpath(path)
    return abspath(path) if relative.startswith("..") else relative


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"
