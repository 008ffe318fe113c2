"""Rehearse the rename of shop.Customer.name to full_name, step by step, on a fresh database.

    python manage.py rehearse

Deletes and recreates the demo's SQLite database, plays the previous release (the column is
`name`), then expand, backfill, flip to the new column, and flip back, showing the physical
columns by raw SQL after every step. Exits non-zero as soon as a check fails.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, connections
from django.db.migrations.loader import MigrationLoader
from waffle.models import Switch

import flagschema
from flagschema.flags import cache as flag_cache
from shop.models import Customer, Order

LABEL = "shop.Customer.full_name"
Side = Literal["old", "new"]

# Customers and orders of the previous release, written before the rename existed.
BEFORE_RELEASE = [
    ("Ada Lovelace", "ada@example.com", [1001, 1002]),
    ("Alan Turing", "alan@example.com", [1003]),
    ("Katherine Johnson", "katherine@example.com", []),
]


class Command(BaseCommand):
    help = (
        "Rehearse the rename of shop.Customer.name to full_name on a fresh SQLite database: "
        "expand, backfill, flip to new, flip back. Deletes the demo database first."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        self.transition = flagschema.registry[LABEL]
        self.flag = self.transition.flag
        self.table = Customer._meta.db_table
        self.step = -1  # step 0 is the previous release
        self.stdout.write(
            f"Rehearsal of {LABEL}: the column `{self.transition.old_column}` is renamed to "
            f"`{self.transition.new_column}` behind the waffle switch {self.flag!r}."
        )
        self.before_release()
        self.expand()
        self.write_reading_old()
        self.flip_to_new()
        names_read_from_new = self.write_reading_new()
        self.flip_back(names_read_from_new)
        self.final_check()

    # --- the steps -------------------------------------------------------------------------

    def before_release(self) -> None:
        self.heading("Before the release")
        path = self.recreate_database()
        self.say(f"Deleted and recreated {path}.")
        loader = MigrationLoader(None, ignore_no_migrations=True)
        for app_label in sorted(loader.migrated_apps - {"shop"}):
            call_command("migrate", app_label, verbosity=0)
        call_command("migrate", "shop", "0001_initial", verbosity=0)
        self.say(
            "Migrated every app to its latest migration, and shop to 0001_initial: the previous "
            "release, whose Customer has a plain `name`."
        )

        # The previous release's code, as the migrations knew it: no full_name anywhere.
        old_apps = MigrationLoader(connection).project_state(("shop", "0001_initial")).apps
        old_customer = old_apps.get_model("shop", "Customer")
        old_order = old_apps.get_model("shop", "Order")
        for name, email, numbers in BEFORE_RELEASE:
            customer = old_customer.objects.create(name=name, email=email)
            for number in numbers:
                old_order.objects.create(customer=customer, number=number)
        self.say(
            f"Seeded {len(BEFORE_RELEASE)} customers (and their orders) through the historical "
            "model of 0001_initial, as the previous release wrote them."
        )
        columns = self.show_table()
        self.expect("full_name" not in columns, "the table has `name` and no `full_name` yet")

    def expand(self) -> None:
        self.heading("Expand: deploy the release and its migration")
        call_command("migrate", "shop", "0002_expand", verbosity=0)
        self.say("Migrated shop to 0002_expand: one AddField, the nullable column `full_name`.")
        self.say("`name` is untouched, so the previous release could still run on this table.")
        self.show_table()
        nulls = self.scalar(f"SELECT COUNT(*) FROM {self.qn(self.table)} WHERE full_name IS NULL")
        self.expect(
            nulls == len(BEFORE_RELEASE),
            f"full_name is NULL in the {nulls} rows written before the release",
        )
        self.say("From now on every ORM write stores both columns. The old rows need a backfill;")
        self.say("flagschema's backfill command does not exist yet, so one UPDATE does it")
        self.say("(a rename copies the value as it is):")
        updated = self.sql(f"UPDATE {self.table} SET full_name = name WHERE full_name IS NULL")
        self.say(f"{updated} rows updated.")
        self.show_table()
        self.check_columns_agree()

    def write_reading_old(self) -> None:
        self.heading("Write while reading old (switch off)")
        self.set_switch(active=False)
        self.check_read_side("old")
        grace = Customer.objects.create(full_name="Grace Hopper", email="grace@example.com")
        Order.objects.create(customer=grace, number=1004)
        self.say("ORM: Customer.objects.create(full_name='Grace Hopper', ...)")
        updated = Customer.objects.filter(email="alan@example.com").update(
            full_name="Alan M. Turing"
        )
        self.say(
            "ORM: Customer.objects.filter(email='alan@example.com')"
            f".update(full_name='Alan M. Turing')  # {updated} row"
        )
        self.show_table()
        self.check_columns_agree()
        self.prove_reads_from("old")

    def flip_to_new(self) -> None:
        self.heading("Flip to new: reads come from full_name")
        self.set_switch(active=True)
        self.check_read_side("new")
        self.prove_reads_from("new")
        self.show_table()
        self.check_columns_agree()

    def write_reading_new(self) -> dict[int, str]:
        self.heading("Write while reading new (switch on)")
        margaret = Customer.objects.create(
            full_name="Margaret Hamilton", email="margaret@example.com"
        )
        Order.objects.create(customer=margaret, number=1005)
        self.say("ORM: Customer.objects.create(full_name='Margaret Hamilton', ...)")
        updated = Customer.objects.filter(email="katherine@example.com").update(
            full_name="Katherine G. Johnson"
        )
        self.say(
            "ORM: Customer.objects.filter(email='katherine@example.com')"
            f".update(full_name='Katherine G. Johnson')  # {updated} row"
        )
        ada = Customer.objects.get(email="ada@example.com")
        ada.full_name = "Augusta Ada King"
        ada.save(update_fields=["full_name"])
        self.say("ORM: ada.full_name = 'Augusta Ada King'; ada.save(update_fields=['full_name'])")
        self.show_table()
        self.check_columns_agree()
        return dict(Customer.objects.values_list("pk", "full_name"))

    def flip_back(self, names_read_from_new: dict[int, str]) -> None:
        self.heading("Flip back (the rollback): reads come from name again")
        self.set_switch(active=False)
        self.check_read_side("old")
        self.prove_reads_from("old")
        names_read_from_old = dict(Customer.objects.values_list("pk", "full_name"))
        lost = sorted(
            pk
            for pk in names_read_from_new
            if names_read_from_old.get(pk) != names_read_from_new[pk]
        )
        self.expect(
            not lost,
            f"the ORM reads the same {len(names_read_from_old)} names from `name` as it read "
            "from `full_name`: nothing written while reading new was lost",
            detail=f"customers that read differently: {lost}",
        )
        self.show_table()

    def final_check(self) -> None:
        self.heading("Final check: every row has name = full_name")
        self.show_table(with_agreement=True)
        total = self.scalar(f"SELECT COUNT(*) FROM {self.qn(self.table)}")
        disagree = [
            row[0]
            for row in self.rows(
                f"SELECT id FROM {self.qn(self.table)} "
                "WHERE full_name IS NULL OR full_name <> name ORDER BY id"
            )
        ]
        if disagree:
            raise CommandError(
                f"FAILED: {len(disagree)} of {total} rows have name <> full_name "
                f"(ids {disagree}); the dual write missed them."
            )
        self.stdout.write("")
        self.stdout.write(
            self.style.SUCCESS(f"OK: all {total} rows have name = full_name; every check passed.")
        )
        self.stdout.write(
            f"The switch {self.flag!r} is off (reads from `name`). The database stays for "
            "`python manage.py runserver`."
        )

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

    def set_switch(self, *, active: bool) -> None:
        state = "on" if active else "off"
        switch, created = Switch.objects.get_or_create(name=self.flag, defaults={"active": active})
        flipped = switch.active != active
        if flipped:
            switch.active = active
            switch.save()
        # Processes hold a resolved flag state for FLAGSCHEMA_FLAG_TTL seconds; this one drops
        # its copy so that the rehearsal sees the flip at once.
        flag_cache.forget(self.flag)
        self.say(
            f"Switch {self.flag!r} {'created ' if created else ''}{state}; the same as: "
            f"python manage.py waffle_switch {self.flag} {state} --create"
        )
        if flipped:
            self.say(
                f"A server's processes see the flip within FLAGSCHEMA_FLAG_TTL "
                f"({settings.FLAGSCHEMA_FLAG_TTL} s) plus waffle's cache; no migration, no deploy."
            )

    def check_read_side(self, side: Side) -> None:
        actual = self.transition.read_side()
        self.expect(
            actual == side,
            f"read side is {side!r}: reads come from `{self.transition.column_for(side)}`",
            detail=f"flagschema says {actual!r}",
        )

    def prove_reads_from(self, side: Side) -> None:
        """Make one row's columns differ by raw SQL, read it through the ORM, then restore it."""
        column = self.transition.column_for(side)
        other = self.transition.column_for("new" if side == "old" else "old")
        table = self.qn(self.table)
        pk, value = self.rows(f"SELECT id, {self.qn(column)} FROM {table} ORDER BY id")[0]
        marker = f"{value} [only in {column}]"
        self.say(f"Proof: write a value into `{column}` only, by raw SQL, and read it by the ORM.")
        self.sql(f"UPDATE {table} SET {self.qn(column)} = %s WHERE id = %s", [marker, pk])
        read = Customer.objects.get(pk=pk).full_name
        found = list(Customer.objects.filter(full_name=marker).values_list("pk", flat=True))
        through_fk = Order.objects.filter(customer__full_name=marker).exists()
        self.say(f"ORM: Customer.objects.get(pk={pk}).full_name -> {read!r}")
        self.say(f"ORM: Customer.objects.filter(full_name={marker!r}) -> ids {found}")
        self.say(f"ORM: Order.objects.filter(customer__full_name=...).exists() -> {through_fk}")
        self.sql(f"UPDATE {table} SET {self.qn(column)} = {self.qn(other)} WHERE id = %s", [pk])
        self.say(f"Restored `{column}` from `{other}`.")
        self.expect(
            read == marker and found == [pk] and through_fk,
            f"attribute, filter and lookup through Order.customer read `{column}`",
        )

    def check_columns_agree(self) -> None:
        rows = self.rows(f"SELECT id, name, full_name FROM {self.qn(self.table)} ORDER BY id")
        disagree = [pk for pk, name, full_name in rows if name != full_name]
        self.expect(
            not disagree,
            f"name = full_name in all {len(rows)} rows",
            detail=f"rows that differ: ids {disagree}",
        )

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

    def rows(self, statement: str) -> list[tuple[Any, ...]]:
        with connection.cursor() as cursor:
            cursor.execute(statement)
            return list(cursor.fetchall())

    def scalar(self, statement: str) -> Any:
        return self.rows(statement)[0][0]

    def qn(self, name: str) -> str:
        return connection.ops.quote_name(name)

    def show_table(self, *, with_agreement: bool = False) -> list[str]:
        """Print every row of the customer table as stored, by raw SQL; return its columns."""
        with connection.cursor() as cursor:
            stored = [
                c.name for c in connection.introspection.get_table_description(cursor, self.table)
            ]
        # The two shapes side by side, then the other columns as stored.
        columns = [c for c in ("id", "name", "full_name") if c in stored]
        columns += [c for c in stored if c not in columns]
        rows = [
            ["NULL" if v is None else str(v) for v in row]
            for row in self.rows(
                f"SELECT {', '.join(map(self.qn, columns))} FROM {self.qn(self.table)} ORDER BY id"
            )
        ]
        headers = list(columns)
        if with_agreement:
            name, full_name = columns.index("name"), columns.index("full_name")
            headers.append("name = full_name")
            for row in rows:
                row.append("yes" if row[name] == row[full_name] != "NULL" else "NO")
        widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(headers)]
        self.stdout.write("")
        self.say(f"{self.table}, as stored (raw SQL):")
        for i, row in enumerate([headers, *rows]):
            self.say(" | ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())
            if i == 0:
                self.say("-+-".join("-" * w for w in widths))
        return columns
