"""Pins of the Django internals the query shim relies on, so an upgrade fails here first."""

from __future__ import annotations

import inspect

import pytest
from django.db import connection, models
from django.db.models import F, Value
from django.db.models.functions import Concat
from django.db.models.options import Options
from django.test.utils import CaptureQueriesContext

from flagschema.fields import _SideCol
from flagschema.query import DualWriteQuerySetMixin
from tests.apps.rename.models import Customer, Order, Tag


def test_fields_build_column_references_with_get_col() -> None:
    field = Customer._meta.get_field("full_name")
    assert isinstance(field.get_col("t"), _SideCol)
    assert isinstance(field.cached_col, _SideCol)
    assert "get_col" in inspect.getsource(models.Field.get_col)


def test_options_pieces_that_are_overridden_exist() -> None:
    assert hasattr(Options.managers, "func") and hasattr(Options.base_manager, "func")
    assert "_forward_fields_map" in inspect.getsource(Options.get_field)
    assert "update_fields" in inspect.signature(models.Model.save_base).parameters
    source = inspect.getsource(models.Model._save_table)
    assert "f.name in update_fields or f.attname in update_fields" in source


def test_every_manager_hands_out_dual_write_querysets() -> None:
    for qs in (
        Customer.objects.all(),
        Customer.vips.all(),
        Customer._base_manager.all(),
        Customer._default_manager.all(),
        Customer.objects.none(),
    ):
        assert isinstance(qs, DualWriteQuerySetMixin)
    # The manager and queryset keep the user's class names for migrations and pickling.
    assert type(Customer.objects.all()).__qualname__ == "CustomerQuerySet"
    assert Customer.objects.deconstruct()[0] is True  # as_manager() is still recognised


@pytest.mark.django_db
def test_related_managers_hand_out_dual_write_querysets() -> None:
    ada = Customer.objects.create(full_name="Ada")
    tag = Tag.objects.create(slug="t")
    assert isinstance(ada.orders.all(), DualWriteQuerySetMixin)
    assert isinstance(tag.customers.all(), DualWriteQuerySetMixin)
    assert isinstance(ada.tags.all(), DualWriteQuerySetMixin)
    assert Order.objects.filter(customer=ada).count() == 0


@pytest.mark.django_db
@pytest.mark.parametrize("side", ["old", "new"], indirect=True)
def test_update_assigns_the_read_column_last(side: str) -> None:
    """MySQL/MariaDB evaluate SET left to right; the column an expression reads must come last."""
    Customer.objects.create(full_name="x")
    with CaptureQueriesContext(connection) as ctx:
        Customer.objects.update(full_name=Concat(F("full_name"), Value("!")))
    (sql,) = [q["sql"] for q in ctx.captured_queries if q["sql"].startswith("UPDATE")]
    set_clause = sql.split(" SET ", 1)[1]
    new = set_clause.index(connection.ops.quote_name("full_name") + " =")
    old = set_clause.index(connection.ops.quote_name("name") + " =")
    assert (old < new) if side == "new" else (new < old)


def test_columns_are_quoted_as_djangos_own_col_quotes_them() -> None:
    """_SideCol quotes with the method Django's Col.as_sql uses: quote_name() since 6.1, which
    deprecates quote_name_unless_alias(), the only one before."""
    from django.db.models.expressions import Col
    from django.db.models.sql.compiler import SQLCompiler

    from flagschema.fields import _QUOTE_METHOD

    assert hasattr(SQLCompiler, _QUOTE_METHOD)
    assert f"compiler.{_QUOTE_METHOD}" in inspect.getsource(Col.as_sql)


def test_commands_choose_the_databases_their_checks_run_on() -> None:
    """Since Django 6.1 the system checks before a command run on every database unless the
    command's get_check_kwargs() names them (the flagschema command names none)."""
    import django
    from django.core.checks.registry import CheckRegistry
    from django.core.management.base import BaseCommand

    if django.VERSION >= (6, 1):
        assert "get_check_kwargs" in inspect.getsource(BaseCommand.execute)
        assert "list(connections)" in inspect.getsource(CheckRegistry.run_checks)


@pytest.mark.skipif(
    not hasattr(models, "GeneratedField"), reason="db_default and GeneratedField: Django 5.0+"
)
def test_database_defaults_and_generated_fields_hold_their_expressions() -> None:
    from django.db.models.expressions import DatabaseDefault

    assert DatabaseDefault(Value(1)).expression == Value(1)
    # A new instance holds a DatabaseDefault for a field left to its db_default.
    assert "DatabaseDefault(" in inspect.getsource(models.Field._get_default.func)
    field = models.GeneratedField(
        expression=Concat(F("a"), Value("!")), output_field=models.TextField(), db_persist=True
    )
    assert field.deconstruct()[3]["expression"] is field.expression


@pytest.mark.skipif(
    not hasattr(models, "CompositePrimaryKey"), reason="CompositePrimaryKey: Django 5.2+"
)
@pytest.mark.django_db
def test_a_composite_key_compares_and_orders_as_a_tuple() -> None:
    """The backfill's ranges: pk__gt / pk__lte of a key tuple and order_by('pk')."""
    from tests.apps.modern.models import Enrollment

    query = Enrollment.objects.filter(pk__gt=("a", 1), pk__lte=("b", 2)).order_by("pk")
    sql = str(query.query)
    assert "course" in sql and "student" in sql
    assert list(query) == []
    assert [f.name for f in Enrollment._meta.pk_fields] == ["course", "student"]
