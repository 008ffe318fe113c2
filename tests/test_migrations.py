"""What makemigrations and migrate see: one AddField at expand, nothing while the flag flips."""

from __future__ import annotations

from io import StringIO

import pytest
from django.apps import apps
from django.core.management import call_command
from django.db import IntegrityError, connection, transaction
from django.db.migrations.autodetector import MigrationAutodetector
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.operations import AddField
from django.db.migrations.state import ProjectState

from tests.apps.rename.models import Order, Tag
from tests.helpers import set_switch


def _changes_since(migration: str, app: str = "rename") -> list:
    loader = MigrationLoader(None, ignore_no_migrations=True)
    before = loader.project_state((app, migration))
    after = ProjectState.from_apps(apps)
    detector = MigrationAutodetector(before, after)
    changes = detector.changes(graph=loader.graph, trim_to_apps={app})
    return [op for m in changes.get(app, []) for op in m.operations]


def test_expand_is_exactly_one_add_field_per_transition() -> None:
    operations = _changes_since("0001_initial")
    assert [type(op) for op in operations] == [AddField, AddField, AddField]
    by_name = {(op.model_name, op.name): op.field for op in operations}
    assert set(by_name) == {("customer", "full_name"), ("order", "reference"), ("tag", "slug")}
    for field in by_name.values():
        assert type(field).__module__ == "django.db.models.fields"  # a plain field
        assert field.null is True
        assert not field.has_default()
    assert by_name[("tag", "slug")].unique
    assert by_name[("order", "reference")].db_index


def test_a_split_and_a_merge_expand_with_add_fields_only() -> None:
    operations = _changes_since("0001_initial", "reshape")
    assert all(type(op) is AddField for op in operations)
    by_name = {(op.model_name, op.name): op.field for op in operations}
    assert set(by_name) == {
        ("person", "first_name"),
        ("person", "last_name"),
        ("place", "address"),
    }
    for field in by_name.values():
        assert type(field).__module__.startswith("django.db.models.fields")  # plain fields
        assert field.null is True and not field.has_default()
    assert _changes_since("0002_expand", "reshape") == []


@pytest.mark.django_db
@pytest.mark.parametrize("active", [False, True, False])
def test_no_migration_after_flips(active: bool) -> None:
    for name in ("customers.full_name", "orders.reference", "tags.slug"):
        set_switch(name, active)
    assert _changes_since("0002_expand") == []
    out = StringIO()
    call_command("makemigrations", "rename", "--check", "--dry-run", stdout=out)
    assert "No changes detected" in out.getvalue()


def _columns(table: str) -> set[str]:
    with connection.cursor() as cursor:
        return {c.name for c in connection.introspection.get_table_description(cursor, table)}


@pytest.mark.django_db(transaction=True)
def test_the_expand_migration_migrates_backwards_and_forwards() -> None:
    out = StringIO()
    try:
        call_command("migrate", "rename", "0001_initial", stdout=out, verbosity=0)
        assert "full_name" not in _columns("rename_customer")
        assert "name" in _columns("rename_customer")
        assert "slug" not in _columns("rename_tag")
    finally:
        call_command("migrate", "rename", stdout=out, verbosity=0)
    assert {"name", "full_name"} <= _columns("rename_customer")
    assert {"ref", "reference"} <= _columns("rename_order")


def _constraints(table: str) -> dict:
    with connection.cursor() as cursor:
        return connection.introspection.get_constraints(cursor, table)


@pytest.mark.django_db
def test_unique_and_db_index_are_on_the_new_column() -> None:
    tag_constraints = _constraints("rename_tag").values()
    assert any(c["unique"] and c["columns"] == ["slug"] for c in tag_constraints)
    assert any(c["unique"] and c["columns"] == ["code"] for c in tag_constraints)
    order_constraints = _constraints("rename_order").values()
    assert any(c["index"] and c["columns"] == ["reference"] for c in order_constraints)
    # The old column keeps what its migrations gave it: no index appears on it.
    assert not any(c["index"] and c["columns"] == ["ref"] for c in order_constraints)


@pytest.mark.django_db
@pytest.mark.parametrize("active", [False, True])
def test_unique_is_enforced(active: bool) -> None:
    set_switch("tags.slug", active)
    Tag.objects.create(slug="python")
    with pytest.raises(IntegrityError), transaction.atomic():
        Tag.objects.create(slug="python")
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError, match="already exists"):
        Tag(slug="python").validate_unique()


def test_order_reference_index_is_not_on_the_companion() -> None:
    companion = next(f for f in Order._meta.concrete_fields if f.name == "ref")
    assert not companion.db_index and not companion.unique
