"""Sync triggers: writes that bypass the ORM keep both shapes equal, the ORM's own dual write is
left as it wrote it, and migrating backwards removes the triggers. Every test runs on the
database the suite runs on (SQLite, PostgreSQL or MariaDB), with committed data: MariaDB cannot
create a trigger inside a transaction."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.db import IntegrityError, connection, models, transaction
from django.db.migrations import Migration
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.state import ProjectState
from django.db.migrations.writer import MigrationWriter
from django.db.models import F, Value
from django.db.models.functions import Concat, Replace
from django.test.utils import isolate_apps

import flagschema
from flagschema.fields import transition_of
from flagschema.operations import InstallSyncTriggers, RemoveSyncTriggers
from flagschema.runbook.backfill import backfill
from flagschema.runbook.contract import plan
from flagschema.runbook.status import transition_status
from flagschema.runbook.verify import verify
from flagschema.triggers import (
    create_statements,
    drop_statements,
    quote_name,
    trigger_names,
    triggers_installed,
)
from tests.apps.convert.models import Product
from tests.apps.rename.models import Customer
from tests.apps.reshape.models import Person

pytestmark = pytest.mark.django_db(transaction=True)

VENDOR = connection.vendor
CUSTOMER = "rename.Customer.full_name"
PRICE = "convert.Product.price"
SPLIT = "reshape.Person.name_split"


# --- raw SQL, beneath the ORM ----------------------------------------------------------------


def q(name: str) -> str:
    return quote_name(connection, name)


def insert(table: str, **values: Any) -> int:
    """INSERT one row by raw SQL (the trigger's view: a writer that bypasses the ORM)."""
    columns = ", ".join(q(c) for c in values)
    marks = ", ".join(["%s"] * len(values))
    sql = f"INSERT INTO {q(table)} ({columns}) VALUES ({marks})"
    if not values and VENDOR != "mysql":
        sql = f"INSERT INTO {q(table)} DEFAULT VALUES"
    with connection.cursor() as cursor:
        if VENDOR == "postgresql":
            cursor.execute(f"{sql} RETURNING {q('id')}", list(values.values()))
            return cursor.fetchone()[0]
        cursor.execute(sql, list(values.values()))
        return cursor.lastrowid


def update(table: str, pk: int, **values: Any) -> None:
    sets = ", ".join(f"{q(c)} = %s" for c in values)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {q(table)} SET {sets} WHERE {q('id')} = %s", [*values.values(), pk]
        )


def row(table: str, pk: int, *columns: str) -> tuple[Any, ...]:
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {', '.join(q(c) for c in columns)} FROM {q(table)} WHERE {q('id')} = %s",
            [pk],
        )
        found = cursor.fetchone()
    assert found is not None
    return tuple(found)


def prices(pk: int) -> tuple[Any, Any]:
    """(price_cents, price) of a product as stored; SQLite hands a decimal back as a float."""
    cents, price = row("convert_product", pk, "price_cents", "price")
    return cents, None if price is None else Decimal(str(price)).quantize(Decimal("0.01"))


def catalog_triggers(table: str) -> set[str]:
    """The trigger names the database's own catalog lists for *table*."""
    with connection.cursor() as cursor:
        if VENDOR == "postgresql":
            cursor.execute(
                "SELECT t.tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
                "WHERE c.relname = %s AND NOT t.tgisinternal",
                [table],
            )
        elif VENDOR == "mysql":
            cursor.execute(
                "SELECT TRIGGER_NAME FROM information_schema.TRIGGERS "
                "WHERE TRIGGER_SCHEMA = DATABASE() AND EVENT_OBJECT_TABLE = %s",
                [table],
            )
        else:
            cursor.execute(
                "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = %s",
                [table],
            )
        return {r[0] for r in cursor.fetchall()}


def functions_named(name: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_proc WHERE proname = %s", [name])
        return cursor.fetchone()[0]


# --- migrating with the operations -----------------------------------------------------------


def leaf_state(app_label: str, migration: str | None = None) -> ProjectState:
    loader = MigrationLoader(None, ignore_no_migrations=True)
    node = (app_label, migration) if migration else loader.graph.leaf_nodes(app_label)[0]
    return loader.project_state(node)


def migration_of(app_label: str, *operations: Any) -> Migration:
    migration = Migration("9999_sync_triggers", app_label)
    migration.operations = list(operations)
    return migration


def migrate(app_label: str, *operations: Any, state: ProjectState | None = None) -> None:
    """Apply a migration holding *operations* after the app's last one, as migrate does."""
    migration = migration_of(app_label, *operations)
    with connection.schema_editor(atomic=migration.atomic) as editor:
        migration.apply(state or leaf_state(app_label), editor)


def unmigrate(app_label: str, *operations: Any) -> None:
    migration = migration_of(app_label, *operations)
    with connection.schema_editor(atomic=migration.atomic) as editor:
        migration.unapply(leaf_state(app_label), editor)


@contextmanager
def synced(label: str) -> Iterator[flagschema.Transition]:
    """The transition *label* with its sync triggers installed by a migration, and removed by
    migrating it backwards afterwards."""
    transition = flagschema.registry[label]
    app_label, model, name = label.split(".")
    operation = InstallSyncTriggers(model.lower(), name)
    migrate(app_label, operation)
    try:
        yield transition
    finally:
        unmigrate(app_label, operation)


# --- installed, and removed by migrating backwards ---------------------------------------------


@pytest.mark.parametrize("label", [CUSTOMER, PRICE, SPLIT])
def test_the_migration_installs_the_triggers_and_migrating_back_removes_them(label: str) -> None:
    transition = flagschema.registry[label]
    table = transition.model._meta.db_table
    names = trigger_names(VENDOR, table, label.rsplit(".", 1)[1])
    triggers = {n for role, n in names.items() if role != "fn"}
    assert not catalog_triggers(table) & triggers
    assert triggers_installed(transition) is False

    with synced(label):
        assert catalog_triggers(table) >= triggers
        assert triggers_installed(transition) is True
        if VENDOR == "postgresql":
            assert functions_named(names["fn"]) == 1

    assert not catalog_triggers(table) & triggers
    assert triggers_installed(transition) is False
    if VENDOR == "postgresql":
        assert functions_named(names["fn"]) == 0


def test_names_are_plain_identifiers_within_63_characters() -> None:
    long_table = "t" * 80
    for vendor in ("postgresql", "mysql", "sqlite"):
        names = trigger_names(vendor, long_table, "n" * 80)
        assert all(len(n) <= 63 and n.replace("_", "").isalnum() for n in names.values())
        assert len(set(names.values())) == len(names)
        # Two transitions whose names are cut alike still get names of their own.
        other = trigger_names(vendor, long_table, "n" * 81)
        assert not set(names.values()) & set(other.values())
    weird = trigger_names("postgresql", 'a "b"; --', "x")
    assert all(n.replace("_", "").isalnum() for n in weird.values())


def test_the_operation_deconstructs_describes_and_reduces_to_sql() -> None:
    operation = InstallSyncTriggers("customer", "full_name")
    assert operation.deconstruct() == (
        "InstallSyncTriggers",
        [],
        {"model_name": "customer", "name": "full_name"},
    )
    text, imports = MigrationWriter.serialize(operation)
    assert "flagschema.operations.InstallSyncTriggers(" in text
    assert imports == {"import flagschema.operations"}
    assert operation.describe() == "Install the sync triggers of full_name on customer"
    assert operation.migration_name_fragment == "sync_triggers_customer_full_name"
    assert RemoveSyncTriggers("customer", "full_name").describe() == (
        "Remove the sync triggers of full_name from customer"
    )
    assert operation.reversible
    # sqlmigrate: the statements are collected, nothing is run.
    migration = migration_of("rename", operation)
    with connection.schema_editor(collect_sql=True, atomic=migration.atomic) as editor:
        migration.apply(leaf_state("rename"), editor, collect_sql=True)
    collected = "\n".join(editor.collected_sql)
    assert collected.count("CREATE TRIGGER") == 2
    assert triggers_installed(flagschema.registry[CUSTOMER]) is False


def test_a_label_names_the_transition_too() -> None:
    migrate("rename", InstallSyncTriggers("Customer", "rename.Customer.full_name"))
    try:
        assert triggers_installed(flagschema.registry[CUSTOMER]) is True
    finally:
        migrate("rename", RemoveSyncTriggers("customer", "full_name"))
    assert triggers_installed(flagschema.registry[CUSTOMER]) is False
    with pytest.raises(flagschema.TransitionError, match="another model"):
        migrate("rename", InstallSyncTriggers("customer", "rename.Order.reference"))


# --- a rename ----------------------------------------------------------------------------------


def test_rename_raw_insert_of_the_old_column_fills_the_new() -> None:
    with synced(CUSTOMER):
        pk = insert("rename_customer", name="Ada Lovelace", email="", vip=False)
        assert row("rename_customer", pk, "name", "full_name") == ("Ada Lovelace",) * 2
        assert Customer.objects.get(pk=pk).full_name == "Ada Lovelace"


def test_rename_raw_insert_of_the_new_column_fills_the_old() -> None:
    with synced(CUSTOMER):
        if VENDOR == "sqlite":
            # SQLite checks NOT NULL before any trigger runs, and its triggers cannot change
            # the row being inserted: the old column must be given (a nullable one is filled,
            # see test_crafted_names_are_quoted_...). The row is refused, never half written.
            with pytest.raises(IntegrityError, match="NOT NULL"), transaction.atomic():
                insert("rename_customer", full_name="Grace Hopper", email="", vip=False)
            return
        pk = insert("rename_customer", full_name="Grace Hopper", email="", vip=False)
        assert row("rename_customer", pk, "name", "full_name") == ("Grace Hopper",) * 2


def test_rename_raw_updates_of_either_column_update_the_other() -> None:
    with synced(CUSTOMER):
        pk = insert("rename_customer", name="Ada", full_name="Ada", email="", vip=False)
        update("rename_customer", pk, name="Ada Lovelace")
        assert row("rename_customer", pk, "name", "full_name") == ("Ada Lovelace",) * 2
        update("rename_customer", pk, full_name="Ada King")
        assert row("rename_customer", pk, "name", "full_name") == ("Ada King",) * 2
        # A change of case is a change, whatever the collation says.
        update("rename_customer", pk, name="ADA KING")
        assert row("rename_customer", pk, "name", "full_name") == ("ADA KING",) * 2
        # A write that touches neither leaves both alone.
        update("rename_customer", pk, email="ada@example.com")
        assert row("rename_customer", pk, "name", "full_name") == ("ADA KING",) * 2


def test_a_write_of_both_columns_is_kept_as_written() -> None:
    with synced(CUSTOMER):
        pk = insert("rename_customer", name="old", full_name="new", email="", vip=False)
        assert row("rename_customer", pk, "name", "full_name") == ("old", "new")
        update("rename_customer", pk, name="old 2", full_name="new 2")
        assert row("rename_customer", pk, "name", "full_name") == ("old 2", "new 2")
        update("rename_customer", pk, email="x")
        assert row("rename_customer", pk, "name", "full_name") == ("old 2", "new 2")


def test_rename_orm_writes_are_left_as_the_orm_wrote_them() -> None:
    with synced(CUSTOMER):
        ada = Customer.objects.create(full_name="Ada")
        assert row("rename_customer", ada.pk, "name", "full_name") == ("Ada", "Ada")
        ada.full_name = "Ada Lovelace"
        ada.save()
        assert row("rename_customer", ada.pk, "name", "full_name") == ("Ada Lovelace",) * 2
        Customer.objects.filter(pk=ada.pk).update(full_name="Ada King")
        assert row("rename_customer", ada.pk, "name", "full_name") == ("Ada King",) * 2
        (grace,) = Customer.objects.bulk_create([Customer(full_name="Grace")])
        grace = Customer.objects.get(full_name="Grace")
        grace.full_name = "Grace Hopper"
        Customer.objects.bulk_update([grace], ["full_name"])
        assert row("rename_customer", grace.pk, "name", "full_name") == ("Grace Hopper",) * 2
        assert verify(flagschema.registry[CUSTOMER], record=False).clean


# --- a conversion ------------------------------------------------------------------------------


def test_conversion_raw_writes_of_either_column_are_converted_once() -> None:
    with synced(PRICE) as transition:
        pk = insert("convert_product", sku="mug", price_cents=1234)
        assert prices(pk) == (1234, Decimal("12.34"))
        update("convert_product", pk, price_cents=999)
        assert prices(pk) == (999, Decimal("9.99"))
        update("convert_product", pk, price=Decimal("5.50"))
        assert prices(pk) == (550, Decimal("5.50"))
        if VENDOR != "sqlite":  # price_cents is NOT NULL (see the rename's insert)
            other = insert("convert_product", sku="cup", price=Decimal("0.29"))
            assert prices(other) == (
                29,
                Decimal("0.29"),
            )
        # What the triggers wrote is what verify expects.
        assert verify(transition, record=False).clean


def test_conversion_orm_writes_convert_exactly_once() -> None:
    with synced(PRICE):
        mug = Product.objects.create(sku="mug", price=Decimal("12.34"))
        # Not 123400 (backward twice) nor 0.1234 (forward twice).
        assert prices(mug.pk) == (1234, Decimal("12.34"))
        mug.price = Decimal("7.00")
        mug.save()
        assert prices(mug.pk) == (700, Decimal("7.00"))
        Product.objects.filter(pk=mug.pk).update(price=F("price") * 2)
        assert prices(mug.pk) == (1400, Decimal("14.00"))
        Product.objects.filter(pk=mug.pk).update(price=Decimal("0.29"))
        assert prices(mug.pk) == (29, Decimal("0.29"))


# --- a split -----------------------------------------------------------------------------------


def test_split_raw_writes_of_either_shape_fill_the_other() -> None:
    with synced(SPLIT) as transition:
        pk = insert("reshape_person", name="Ada King Lovelace", email="")
        assert row("reshape_person", pk, "name", "first_name", "last_name") == (
            "Ada King Lovelace",
            "Ada",
            "King Lovelace",
        )
        update("reshape_person", pk, first_name="Augusta")
        assert row("reshape_person", pk, "name", "first_name", "last_name") == (
            "Augusta King Lovelace",
            "Augusta",
            "King Lovelace",
        )
        update("reshape_person", pk, name="Grace")
        assert row("reshape_person", pk, "name", "first_name", "last_name") == (
            "Grace",
            "Grace",
            "",
        )
        hopper = Person.objects.create(first_name="Grace", last_name="Hopper")
        assert row("reshape_person", hopper.pk, "name", "first_name", "last_name") == (
            "Grace Hopper",
            "Grace",
            "Hopper",
        )
        assert verify(transition, record=False).clean


# --- what is refused ---------------------------------------------------------------------------


def test_a_conversion_without_sql_expressions_is_refused_at_migrate() -> None:
    with pytest.raises(flagschema.TransitionError) as info:
        migrate("convert", InstallSyncTriggers("product", "stock"))
    message = str(info.value)
    assert "convert.Product.stock" in message
    assert "forward_sql for 'stock'" in message and "backward_sql for 'stock_text'" in message
    assert not triggers_installed(flagschema.registry["convert.Product.stock"])
    with pytest.raises(flagschema.TransitionError, match="forward_sql for 'address'"):
        migrate("reshape", InstallSyncTriggers("place", "address_merge"))


def test_an_undeclared_transition_is_refused() -> None:
    with pytest.raises(flagschema.TransitionError, match=r"no transition rename\.Customer\.email"):
        migrate("rename", InstallSyncTriggers("customer", "email"))


def test_the_operation_must_follow_the_add_field() -> None:
    with pytest.raises(flagschema.TransitionError, match="after the AddField of the new field"):
        migrate(
            "rename",
            InstallSyncTriggers("customer", "full_name"),
            state=leaf_state("rename", "0001_initial"),
        )
    assert not triggers_installed(flagschema.registry[CUSTOMER])


def test_removing_them_again_without_the_declaration_warns() -> None:
    transition = flagschema.registry[CUSTOMER]
    flagschema.registry.unregister(CUSTOMER)
    try:
        with pytest.warns(RuntimeWarning, match="not installed again"):
            unmigrate("rename", RemoveSyncTriggers("customer", "full_name"))
    finally:
        flagschema.registry.register(transition)
    assert not triggers_installed(transition)


# --- the ORM's dual write and the triggers never fight ----------------------------------------


@contextmanager
def table_of(model: Any) -> Iterator[None]:
    with connection.schema_editor() as editor:
        editor.create_model(model)
    try:
        yield
    finally:
        with connection.schema_editor() as editor:
            editor.delete_model(model)


@contextmanager
def recursive_triggers(on: bool) -> Iterator[None]:
    """SQLite's ``PRAGMA recursive_triggers`` (off by default; a project may turn it on)."""
    if not on:
        yield
        return
    if VENDOR != "sqlite":
        pytest.skip("recursive_triggers is SQLite's")
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA recursive_triggers = ON")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA recursive_triggers = OFF")


@pytest.mark.parametrize("recursive", [False, True], ids=["default", "recursive_triggers"])
@isolate_apps("tests.apps.convert")
def test_who_wrote_a_value_shows_the_orm_in_python_and_the_triggers_once_in_sql(
    recursive: bool,
) -> None:
    # The SQL transforms differ from the Python ones on purpose, and do not round-trip: a value
    # the ORM wrote and a trigger touched, or a trigger converting twice, would show.
    class Meter(models.Model):
        reading = flagschema.ConvertedField(
            models.IntegerField(null=True),
            old=models.IntegerField(null=True, db_column="reading_old"),
            old_name="reading_old",
            forward=lambda old: old + 1000,
            backward=lambda new: new - 1000,
            forward_sql=F("reading_old") + 2000,
            backward_sql=F("reading") - 1999,
            flag="tests.meter_reading",
        )

        class Meta:
            app_label = "convert"
            db_table = "fs_trig_meter"

    transition = transition_of(Meter._meta.get_field("reading"))
    assert transition is not None
    flagschema.registry.register(transition)
    try:
        with recursive_triggers(recursive), table_of(Meter):
            migrate("convert", InstallSyncTriggers("meter", "reading"), state=_with(Meter))
            columns = ("reading_old", "reading")
            # The ORM: Python's backward, and nothing else.
            meter = Meter.objects.create(reading=1500)
            assert row("fs_trig_meter", meter.pk, *columns) == (500, 1500)
            meter.reading = 1700
            meter.save()
            assert row("fs_trig_meter", meter.pk, *columns) == (700, 1700)
            Meter.objects.filter(pk=meter.pk).update(reading=1800)
            assert row("fs_trig_meter", meter.pk, *columns) == (800, 1800)
            # An expression: the ORM computes it in SQL itself, each transform once. Read from
            # the old side, F("reading") is forward_sql(800) = 2800; plus 10 is 2810, whose
            # backward_sql is 811.
            Meter.objects.filter(pk=meter.pk).update(reading=F("reading") + 10)
            assert row("fs_trig_meter", meter.pk, *columns) == (811, 2810)
            (bulk,) = Meter.objects.bulk_create([Meter(reading=10)])
            bulk = Meter.objects.order_by("-pk").first()
            assert bulk is not None
            assert row("fs_trig_meter", bulk.pk, *columns) == (-990, 10)
            # Raw SQL: the triggers, forward_sql or backward_sql once, never back again.
            pk = insert("fs_trig_meter", reading_old=500)
            assert row("fs_trig_meter", pk, *columns) == (500, 2500)
            pk = insert("fs_trig_meter", reading=3000)
            assert row("fs_trig_meter", pk, *columns) == (1001, 3000)
            update("fs_trig_meter", pk, reading_old=600)
            assert row("fs_trig_meter", pk, *columns) == (600, 2600)
            update("fs_trig_meter", pk, reading=4000)
            assert row("fs_trig_meter", pk, *columns) == (2001, 4000)
            update("fs_trig_meter", pk, reading_old=7, reading=8)
            assert row("fs_trig_meter", pk, *columns) == (7, 8)
            pk = insert("fs_trig_meter")
            assert row("fs_trig_meter", pk, *columns) == (None, None)
            update("fs_trig_meter", pk, reading_old=None)
            assert row("fs_trig_meter", pk, *columns) == (None, None)
    finally:
        flagschema.registry.unregister(transition.label)


@isolate_apps("tests.apps.convert")
def test_the_backfill_under_the_triggers_leaves_the_old_column_as_it_was() -> None:
    # The backfill writes the new side from the old: the triggers must not then compute the old
    # side back from it (here that would turn 500 into 501).
    class Gauge(models.Model):
        level = flagschema.ConvertedField(
            models.IntegerField(null=True),
            old=models.IntegerField(null=True, db_column="level_old"),
            old_name="level_old",
            forward=lambda old: old + 2000,
            backward=lambda new: new - 1999,
            forward_sql=F("level_old") + 2000,
            backward_sql=F("level") - 1999,
            flag="tests.gauge_level",
        )

        class Meta:
            app_label = "convert"
            db_table = "fs_trig_gauge"

    transition = transition_of(Gauge._meta.get_field("level"))
    assert transition is not None
    flagschema.registry.register(transition)
    try:
        with table_of(Gauge):
            # Written before the expand (and its triggers): no new value.
            pks = [insert("fs_trig_gauge", level_old=v) for v in (500, 600, 700)]
            migrate("convert", InstallSyncTriggers("gauge", "level"), state=_with(Gauge))
            report = backfill(transition)
            assert report.written == 3
            assert [row("fs_trig_gauge", pk, "level_old", "level") for pk in pks] == [
                (500, 2500),
                (600, 2600),
                (700, 2700),
            ]
    finally:
        flagschema.registry.unregister(transition.label)


def _with(model: Any) -> ProjectState:
    """The convert app's migration state with *model* (an isolated model) added."""
    from django.db.migrations.state import ModelState

    state = leaf_state("convert")
    state.add_model(ModelState.from_model(model))
    return state


# --- quoting -----------------------------------------------------------------------------------

# Every quote character, a statement separator and a comment: what a crafted name would use to
# end the identifier and run SQL of its own.
CRAFTED_TABLE = 'fs_trig "tbl" `x`; DROP TABLE fs_trig_victim; --'
OLD_COLUMN = "old \"q\" `b` 'a'; --"
NEW_COLUMN = "new \"q\" `b` 'a'; --"
OLD_NOTE = "note_old'); DROP TABLE fs_trig_victim; --"
NEW_NOTE = 'note_new"); DROP TABLE fs_trig_victim; --'
SUFFIX = " '\"`; DROP TABLE fs_trig_victim; -- %s %% \\"


@isolate_apps("tests.apps.rename")
def test_crafted_names_and_literals_are_quoted_and_cannot_inject() -> None:
    class Crafted(models.Model):
        label = flagschema.RenamedField(
            models.CharField(max_length=200, null=True, db_column=NEW_COLUMN),
            old_name="label_old",
            old=models.CharField(max_length=200, null=True, db_column=OLD_COLUMN),
            flag="tests.crafted_label",
        )
        # The parameters of the expressions hold every quote character too.
        note = flagschema.ConvertedField(
            models.CharField(max_length=200, null=True, db_column=NEW_NOTE),
            old=models.CharField(max_length=200, null=True, db_column=OLD_NOTE),
            old_name="note_old",
            forward=lambda old: old + SUFFIX,
            backward=lambda new: new.removesuffix(SUFFIX),
            forward_sql=Concat(F("note_old"), Value(SUFFIX)),
            backward_sql=Replace(F("note"), Value(SUFFIX), Value("")),
            flag="tests.crafted_note",
        )

        class Meta:
            app_label = "rename"
            db_table = CRAFTED_TABLE

    key = {
        "postgresql": "serial PRIMARY KEY",
        "mysql": "integer AUTO_INCREMENT PRIMARY KEY",
    }.get(VENDOR, "integer PRIMARY KEY")
    columns = ", ".join(f"{q(c)} varchar(200) NULL" for c in (OLD_COLUMN, NEW_COLUMN))
    notes = ", ".join(f"{q(c)} varchar(200) NULL" for c in (OLD_NOTE, NEW_NOTE))
    label = transition_of(Crafted._meta.get_field("label"))
    note = transition_of(Crafted._meta.get_field("note"))
    assert label is not None and note is not None
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE TABLE {q('fs_trig_victim')} ({q('id')} integer)")
        # Django's own DDL would not quote these names: the table is made by hand.
        cursor.execute(f"CREATE TABLE {q(CRAFTED_TABLE)} ({q('id')} {key}, {columns}, {notes})")
        try:
            for transition in (label, note):
                for sql in create_statements(transition, connection):
                    cursor.execute(sql)
            assert triggers_installed(label) and triggers_installed(note)

            pk = insert(CRAFTED_TABLE, **{OLD_COLUMN: 'it\'s "odd"', OLD_NOTE: "a'b"})
            assert row(CRAFTED_TABLE, pk, OLD_COLUMN, NEW_COLUMN, OLD_NOTE, NEW_NOTE) == (
                'it\'s "odd"',
                'it\'s "odd"',
                "a'b",
                "a'b" + SUFFIX,
            )
            pk = insert(CRAFTED_TABLE, **{NEW_COLUMN: "`tick`", NEW_NOTE: "c" + SUFFIX})
            assert row(CRAFTED_TABLE, pk, OLD_COLUMN, NEW_COLUMN, OLD_NOTE, NEW_NOTE) == (
                "`tick`",
                "`tick`",
                "c",
                "c" + SUFFIX,
            )
            update(CRAFTED_TABLE, pk, **{OLD_NOTE: "d"})
            assert row(CRAFTED_TABLE, pk, NEW_NOTE) == ("d" + SUFFIX,)

            for transition in (label, note):
                name = transition.label.rsplit(".", 1)[1]
                for sql in drop_statements(connection, CRAFTED_TABLE, name):
                    cursor.execute(sql)
            assert not triggers_installed(label) and not triggers_installed(note)
            cursor.execute(f"SELECT count(*) FROM {q('fs_trig_victim')}")  # still there
        finally:
            cursor.execute(f"DROP TABLE {q(CRAFTED_TABLE)}")
            cursor.execute(f"DROP TABLE {q('fs_trig_victim')}")


def test_quote_name_doubles_quote_characters_inside_a_name() -> None:
    quote = {"postgresql": '"', "mysql": "`", "sqlite": '"'}[VENDOR]
    assert quote_name(connection, "plain") == connection.ops.quote_name("plain")
    assert quote_name(connection, f"a{quote}b") == f"{quote}a{quote * 2}b{quote}"
    assert quote_name(connection, quote) == quote * 4
    # A name Django treats as quoted already (a schema-qualified table) is kept as it is...
    dotted = f"{quote}s{quote}.{quote}t{quote}"
    assert quote_name(connection, dotted) == dotted
    # ...unless it is not a well-formed quoted name.
    crafted = f"{quote}x{quote}; DROP TABLE t; --{quote}"
    assert quote_name(connection, crafted) == quote + crafted.replace(quote, quote * 2) + quote


# --- status and contract -----------------------------------------------------------------------


def test_status_says_whether_the_triggers_are_installed() -> None:
    transition = flagschema.registry[CUSTOMER]
    assert transition_status(transition).triggers is False
    out = StringIO()
    with synced(CUSTOMER):
        assert transition_status(transition).triggers is True
        call_command("flagschema", "status", CUSTOMER, "--no-count", stdout=out)
    assert "  triggers   installed" in out.getvalue()
    out = StringIO()
    call_command("flagschema", "status", CUSTOMER, "--no-count", stdout=out)
    assert "  triggers   not installed" in out.getvalue()


def _loader_with(*migrations: Migration) -> MigrationLoader:
    """The migrations on disk, and *migrations* after the rename app's last one."""
    loader = MigrationLoader(None, ignore_no_migrations=True)
    for migration in migrations:
        (parent,) = loader.graph.leaf_nodes(migration.app_label)
        migration.dependencies = [parent]
        key = (migration.app_label, migration.name)
        loader.graph.add_node(key, migration)
        loader.graph.add_dependency(migration, key, parent)
    return loader


def test_contract_removes_the_triggers_a_migration_installed_before_dropping_the_column() -> None:
    transition = flagschema.registry[CUSTOMER]
    # No migration installs them: the contract is what it was.
    result = plan(transition, loader=_loader_with())
    assert not any(isinstance(op, RemoveSyncTriggers) for op in result.operations)

    installed = Migration("0003_sync_triggers", "rename")
    installed.operations = [InstallSyncTriggers("customer", "full_name")]
    result = plan(transition, loader=_loader_with(installed))
    first, *rest = result.operations
    assert isinstance(first, RemoveSyncTriggers)
    assert (first.model_name, first.name) == ("customer", "full_name")
    assert any(type(op).__name__ == "RemoveField" for op in rest)
    assert "flagschema.operations.RemoveSyncTriggers(" in result.text
    assert "import flagschema.operations" in result.text
    # Another transition's triggers are not this one's.
    other = flagschema.registry["rename.Order.reference"]
    assert not isinstance(
        plan(other, loader=_loader_with(installed)).operations[0], RemoveSyncTriggers
    )

    removed = Migration("0003_sync_triggers", "rename")
    removed.operations = [
        InstallSyncTriggers("customer", "full_name"),
        RemoveSyncTriggers("customer", "full_name"),
    ]
    result = plan(transition, loader=_loader_with(removed))
    assert not isinstance(result.operations[0], RemoveSyncTriggers)


def test_the_contract_migration_runs_with_the_triggers_installed() -> None:
    """The contract's operations, applied to a database with the triggers: the triggers go
    first, so dropping the old column is not refused and later writes do not fail."""
    installed = Migration("0003_sync_triggers", "rename")
    installed.operations = [InstallSyncTriggers("customer", "full_name")]
    result = plan(flagschema.registry[CUSTOMER], loader=_loader_with(installed))
    with synced(CUSTOMER):
        contracted = migration_of("rename", *result.operations)
        with connection.schema_editor(atomic=contracted.atomic) as editor:
            contracted.apply(leaf_state("rename"), editor)
        try:
            assert not triggers_installed(flagschema.registry[CUSTOMER])
            # A trigger left behind would fail this insert on MariaDB (no column `name`).
            pk = insert("rename_customer", full_name="Ada", email="", vip=False)
            assert row("rename_customer", pk, "full_name") == ("Ada",)
            with connection.cursor() as cursor:  # migrating back adds `name` NOT NULL again
                cursor.execute(f"DELETE FROM {q('rename_customer')}")
        finally:
            with connection.schema_editor(atomic=contracted.atomic) as editor:
                contracted.unapply(leaf_state("rename"), editor)
        # Migrating back installed them again (the transition is declared).
        assert triggers_installed(flagschema.registry[CUSTOMER])
