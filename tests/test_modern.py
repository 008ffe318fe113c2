"""Transitions on the model features of newer Djangos (tests/apps/modern): composite primary
keys (5.2+), database defaults and generated columns (5.0+). The tests of a feature are
skipped on a Django that does not have it (4.2)."""

from __future__ import annotations

import io
import json
import logging
import re
from typing import Any

import django
import pytest
from django.apps import apps
from django.contrib.auth.models import User
from django.core.management import call_command
from django.db import connection
from django.db.migrations.autodetector import MigrationAutodetector
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.operations import AddField
from django.db.migrations.state import ProjectState
from django.test import Client

import flagschema
from flagschema import shadow
from flagschema.models import BackfillProgress, FlipEvent, VerifyRun
from flagschema.runbook.backfill import BackfillStep, backfill
from flagschema.runbook.contract import plan
from flagschema.runbook.flip import flip
from flagschema.runbook.verify import verify
from tests.helpers import quote, set_switch

pytestmark = pytest.mark.django_db

composite = pytest.mark.skipif(
    django.VERSION < (5, 2), reason="CompositePrimaryKey is new in Django 5.2"
)
db_defaults = pytest.mark.skipif(
    django.VERSION < (5, 0), reason="db_default and GeneratedField are new in Django 5.0"
)

GRADE = "modern.Enrollment.grade"  # a rename: filled and compared in SQL
CREDITS = "modern.Enrollment.credits"  # a conversion without forward_sql: in Python
FLAGS = {
    GRADE: "enrollments.grade",
    CREDITS: "enrollments.credits",
    "modern.Ticket.status": "tickets.status",
    "modern.Ticket.priority": "tickets.priority",
    "modern.Author.full_name": "authors.full_name",
}


@pytest.fixture(params=["old", "new"])
def side(request: pytest.FixtureRequest, db: None) -> str:
    """Every transition of the app reads this side (its waffle switch)."""
    for flag in FLAGS.values():
        set_switch(flag, request.param == "new")
    return request.param


# --- raw SQL, beneath the ORM --------------------------------------------------------------


def raw_rows(table: str, keys: list[str], *names: str) -> dict[tuple[Any, ...], tuple[Any, ...]]:
    """Every row of *table*: its key columns -> the raw values of *names*."""
    cols = ", ".join(quote(n) for n in [*keys, *names])
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {cols} FROM {quote(table)}")
        return {tuple(r[: len(keys)]): tuple(r[len(keys) :]) for r in cursor.fetchall()}


def raw_update(table: str, where: dict[str, Any], **values: Any) -> None:
    sets = ", ".join(f"{quote(k)} = %s" for k in values)
    condition = " AND ".join(f"{quote(k)} = %s" for k in where) or "1 = 1"
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {quote(table)} SET {sets} WHERE {condition}",
            [*values.values(), *where.values()],
        )


# --- composite primary keys ----------------------------------------------------------------

KEYS = ["course", "student"]
COURSES = ["algebra", "biology", "chemistry"]


def enroll(count: int = 10) -> list[tuple[str, int]]:
    """*count* rows written through the ORM, then their new columns NULLed by raw SQL: rows as
    the expand found them. Their keys, in key order: the courses interleave, so that key order
    is not insertion order."""
    from tests.apps.modern.models import Enrollment

    for i in range(count):
        Enrollment.objects.create(
            course=COURSES[i % 3], student=100 - i, grade=f"g{i}", credits=i + 1
        )
    raw_update("modern_enrollment", {}, grade=None, credits=None)
    return sorted((COURSES[i % 3], 100 - i) for i in range(count))


def stored() -> dict[tuple[Any, ...], tuple[Any, ...]]:
    return raw_rows("modern_enrollment", KEYS, "mark", "grade", "credits_text", "credits")


@composite
@pytest.mark.parametrize("label", [GRADE, CREDITS])
def test_backfill_walks_a_composite_key_in_ranges(label: str) -> None:
    keys = enroll(10)
    steps: list[BackfillStep] = []
    report = backfill(label, batch_size=3, progress=steps.append)
    assert report.method == ("sql" if label == GRADE else "python")
    assert (report.finished, report.done, report.written, report.batches) == (True, 10, 10, 4)
    assert [s.done for s in steps] == [3, 6, 9, 10]
    rows = stored()
    for mark, grade, credits_text, credits in rows.values():
        if label == GRADE:
            assert grade == mark and credits is None
        else:
            assert credits == int(credits_text) and grade is None
    # The last range ends at the greatest key, stored as JSON.
    assert json.loads(BackfillProgress.objects.get(label=label).last_pk) == list(keys[-1])
    assert verify(label).clean


@composite
@pytest.mark.parametrize("label", [GRADE, CREDITS])
def test_a_stopped_backfill_of_a_composite_key_resumes_after_its_last_range(label: str) -> None:
    keys = enroll(10)

    class Stop(Exception):
        pass

    def stop_after_two(step: BackfillStep) -> None:
        if step.batches == 2:
            raise Stop

    with pytest.raises(Stop):
        backfill(label, batch_size=3, progress=stop_after_two)
    column = "grade" if label == GRADE else "credits"
    filled = sorted(k for k, v in raw_rows("modern_enrollment", KEYS, column).items() if v[0])
    assert filled == keys[:6]  # two ranges of three, in key order
    assert json.loads(BackfillProgress.objects.get(label=label).last_pk) == list(keys[5])

    # A row of the done ranges loses its new value again: the resumed run does not go back.
    raw_update("modern_enrollment", dict(zip(KEYS, keys[0], strict=True)), **{column: None})
    report = backfill(label, batch_size=3)
    assert report.resumed_from == list(keys[5])
    assert (report.done, report.written, report.batches) == (4, 4, 2)
    assert verify(label).unfilled == 1
    assert backfill(label, batch_size=3).written == 1  # a finished run is followed by a full pass
    assert verify(label).clean


@composite
def test_the_backfill_command_and_its_dry_run_on_a_composite_key() -> None:
    enroll(4)
    out = io.StringIO()
    call_command("flagschema", "backfill", "--dry-run", "--json", "--", CREDITS, stdout=out)
    dry = json.loads(out.getvalue())
    assert (dry["unfilled"], dry["dry_run"]) == (4, True)
    assert all(v[3] is None for v in stored().values())  # nothing written
    out = io.StringIO()
    call_command("flagschema", "backfill", "--batch-size=3", "--json", "--", CREDITS, stdout=out)
    assert json.loads(out.getvalue())["written"] == 4


@composite
@pytest.mark.parametrize("label", [GRADE, CREDITS])
def test_verify_names_composite_keys(label: str) -> None:
    keys = enroll(6)
    backfill(label)
    column, drift = ("grade", "drifted") if label == GRADE else ("credits", 999)
    raw_update("modern_enrollment", dict(zip(KEYS, keys[4], strict=True)), **{column: drift})
    raw_update("modern_enrollment", dict(zip(KEYS, keys[1], strict=True)), **{column: None})
    report = verify(label)
    assert (report.checked, report.mismatched, report.unfilled) == (6, 1, 1)
    assert [tuple(pk) for pk in report.sample_pks] == [keys[4], keys[1]]  # mismatching first
    assert json.loads(VerifyRun.objects.get(label=label).sample_pks) == [
        list(keys[4]),
        list(keys[1]),
    ]
    limited = verify(label, limit=2, record=False)
    assert (limited.checked, limited.unfilled, limited.mismatched) == (2, 1, 0)
    out = io.StringIO()
    with pytest.raises(SystemExit):
        call_command("flagschema", "verify", "--", label, stdout=out)
    assert repr(keys[4]) in out.getvalue() or str(list(keys[4])) in out.getvalue()


@composite
def test_reads_of_a_composite_key_model_follow_the_side(side: str) -> None:
    from tests.apps.modern.models import Enrollment

    Enrollment.objects.create(course="algebra", student=1, grade="A", credits=5)
    Enrollment.objects.create(course="algebra", student=2, grade="B", credits=6)
    # The two shapes of (algebra, 1) differ, beneath the ORM.
    raw_update("modern_enrollment", {"course": "algebra", "student": 1}, grade="A+", credits=7)
    row = Enrollment.objects.get(pk=("algebra", 1))
    expected = ("A", 5) if side == "old" else ("A+", 7)
    assert (row.grade, row.credits) == expected
    assert row.mark == expected[0]  # the old name is an alias
    assert list(Enrollment.objects.filter(grade=expected[0]).values_list("pk", flat=True)) == [
        ("algebra", 1)
    ]
    assert list(Enrollment.objects.order_by("grade").values_list("grade", flat=True)) == sorted(
        [expected[0], "B"]
    )
    # Writes keep both shapes, by the whole key.
    row.grade, row.credits = "C", 8
    row.save()
    assert stored()[("algebra", 1)] == ("C", "C", "8", 8)
    Enrollment.objects.filter(pk=("algebra", 2)).update(grade="D")
    assert stored()[("algebra", 2)][:2] == ("D", "D")


@composite
def test_flip_and_contract_of_a_composite_key_model() -> None:
    from flagschema.exceptions import TransitionError

    enroll(5)
    with pytest.raises(TransitionError, match="unfilled"):
        flip(flagschema.registry[GRADE], "new", reason="too early")
    backfill(GRADE)
    result = flip(flagschema.registry[GRADE], "new", reason="verified")
    assert result.changed and FlipEvent.objects.get().to_side == "new"
    from tests.apps.modern.models import Enrollment

    raw_update("modern_enrollment", {"course": "biology"}, grade="new side")
    assert set(Enrollment.objects.filter(course="biology").values_list("grade", flat=True)) == {
        "new side"
    }
    raw_update("modern_enrollment", {"course": "biology"}, grade=None)
    backfill(GRADE, restart=True)
    contracted = plan(flagschema.registry[GRADE])
    assert [type(op).__name__ for op in contracted.operations] == ["RemoveField", "AlterField"]
    assert "name='mark'" in contracted.text and "name='grade'" in contracted.text


@composite
def test_shadow_reads_of_a_composite_key_model_name_the_key(settings, caplog) -> None:  # type: ignore[no-untyped-def]
    from tests.apps.modern.models import Enrollment

    settings.FLAGSCHEMA_SHADOW_SAMPLE = 1.0
    shadow.reset(flagschema.registry[GRADE])
    seen: list[dict[str, Any]] = []

    def receiver(sender: Any, **kwargs: Any) -> None:
        seen.append(kwargs)

    Enrollment.objects.create(course="algebra", student=1, grade="A", credits=1)
    Enrollment.objects.create(course="biology", student=1, grade="B", credits=1)
    raw_update("modern_enrollment", {"course": "biology", "student": 1}, grade="drift")
    caplog.set_level(logging.WARNING, logger="flagschema.shadow")
    shadow.shadow_mismatch.connect(receiver)
    try:
        with flagschema.reading(GRADE, "shadow"):
            grades = [e.grade for e in Enrollment.objects.all()]
    finally:
        shadow.shadow_mismatch.disconnect(receiver)
    assert grades == ["A", "B"]  # answered from the old column
    assert [(e["pk"], e["fields"]) for e in seen] == [(("biology", 1), ["grade"])]
    (record,) = caplog.records
    assert "pk=('biology', 1)" in record.getMessage() and "drift" not in record.getMessage()


@composite
def test_the_transitions_admin_verifies_and_flips_a_composite_key_model() -> None:
    keys = enroll(3)
    user = User.objects.create_superuser("root", password="pw")
    client = Client()
    client.force_login(user)
    detail = f"/admin/flagschema/flipevent/transitions/{CREDITS}/"
    assert client.get(detail).status_code == 200
    assert CREDITS in client.get("/admin/flagschema/flipevent/transitions/").content.decode()
    response = client.post(f"{detail}verify/", {"to": "new"}, follow=True)
    assert response.status_code == 200
    messages = [str(m) for m in response.context["messages"]]
    assert messages == [
        f"verify {CREDITS}: 0 mismatching and 3 unfilled row(s) of 3 (pk "
        + ", ".join(repr(k) for k in keys)
        + ")."
    ]
    backfill(CREDITS)
    client.post(f"{detail}verify/", {"to": "new"})
    response = client.post(f"{detail}flip/new/", {"reason": "verified"}, follow=True)
    assert response.status_code == 200
    assert flagschema.registry[CREDITS].read_side() == "new"


# --- db_default ----------------------------------------------------------------------------


def ticket_columns() -> dict[tuple[Any, ...], tuple[Any, ...]]:
    return raw_rows("modern_ticket", ["id"], "state", "status", "priority_text", "priority")


@db_defaults
def test_create_gives_both_columns_the_database_default(side: str) -> None:
    from tests.apps.modern.models import Ticket

    ticket = Ticket.objects.create(title="left to the defaults")
    assert ticket_columns()[(ticket.pk,)] == ("open", "open", "3", 3)
    ticket.refresh_from_db()
    assert (ticket.status, ticket.priority, ticket.state, ticket.priority_text) == (
        "open",
        3,
        "open",
        "3",
    )
    # The read side is the one the switch names: make the columns differ to tell.
    raw_update("modern_ticket", {"id": ticket.pk}, status="closed", priority=1)
    read = Ticket.objects.values_list("status", "priority").get(pk=ticket.pk)
    assert read == (("open", 3) if side == "old" else ("closed", 1))


@db_defaults
def test_a_value_given_overrides_the_database_default(side: str) -> None:
    from tests.apps.modern.models import Ticket

    ticket = Ticket.objects.create(status="closed", priority=5)
    assert ticket_columns()[(ticket.pk,)] == ("closed", "closed", "5", 5)


@db_defaults
def test_bulk_create_and_save_give_both_columns_the_database_default(side: str) -> None:
    from tests.apps.modern.models import Ticket

    made = Ticket.objects.bulk_create([Ticket(title="a"), Ticket(title="b", priority=7)])
    saved = Ticket(title="c")
    saved.save()
    rows = ticket_columns()
    assert sorted(rows.values()) == sorted(
        [("open", "open", "3", 3), ("open", "open", "7", 7), ("open", "open", "3", 3)]
    )
    assert len(made) == 2 and (saved.pk,) in rows
    for label in ("modern.Ticket.status", "modern.Ticket.priority"):
        report = verify(label)
        assert report.clean and report.checked == 3


# --- GeneratedField ------------------------------------------------------------------------


def _changes_since(migration: str) -> list[Any]:
    loader = MigrationLoader(None, ignore_no_migrations=True)
    before = loader.project_state(("modern", migration))
    after = ProjectState.from_apps(apps)
    changes = MigrationAutodetector(before, after).changes(
        graph=loader.graph, trim_to_apps={"modern"}
    )
    return [op for m in changes.get("modern", []) for op in m.operations]


@db_defaults
def test_the_expand_stays_additive_beside_a_generated_field() -> None:
    """The expression names the new field, ``Upper("full_name")``; the migrations keep the
    generated column as it was (over the old column) and add the new column alone."""
    operations = _changes_since("0001_initial")
    assert all(type(op) is AddField for op in operations), operations
    assert ("author", "full_name") in {(op.model_name, op.name) for op in operations}
    assert _changes_since("0002_expand") == []
    out = io.StringIO()
    call_command("makemigrations", "modern", "--check", "--dry-run", stdout=out)
    assert "No changes detected" in out.getvalue()


@db_defaults
def test_generated_values_are_right_on_both_read_sides(side: str) -> None:
    from tests.apps.modern.models import Author

    ada = Author.objects.create(full_name="Ada Lovelace")
    Author.objects.create(full_name="Alan Turing")
    assert raw_rows("modern_author", ["id"], "name", "full_name", "shout")[(ada.pk,)] == (
        "Ada Lovelace",
        "Ada Lovelace",
        "ADA LOVELACE",
    )
    ada.full_name = "Ada King"
    ada.save()
    ada.refresh_from_db()
    assert (ada.full_name, ada.shout) == ("Ada King", "ADA KING")
    Author.objects.filter(pk=ada.pk).update(full_name="Augusta Ada")
    assert Author.objects.values_list("full_name", "shout").get(pk=ada.pk) == (
        "Augusta Ada",
        "AUGUSTA ADA",
    )
    assert list(Author.objects.filter(shout="ALAN TURING").values_list("name", flat=True)) == [
        "Alan Turing"
    ]
    field = Author._meta.get_field("shout")
    if hasattr(field, "referenced_fields"):  # Django 6.1: what an UPDATE returns again
        assert {f.name for f in field.referenced_fields} == {"full_name"}
    assert re.search(r"\bname\b", str(field.deconstruct()[3]["expression"]))


@db_defaults
def test_the_contract_rebuilds_a_generated_column_over_the_new_one() -> None:
    from tests.apps.modern.models import Author

    Author.objects.create(full_name="Ada")
    set_switch("authors.full_name", True)
    contracted = plan(flagschema.registry["modern.Author.full_name"])
    kinds = [(type(op).__name__, op.name) for op in contracted.operations]
    assert kinds.index(("RemoveField", "shout")) < kinds.index(("RemoveField", "name"))
    assert kinds.index(("RemoveField", "name")) < kinds.index(("AddField", "shout"))
    assert "Upper('full_name')" in contracted.text


@db_defaults
@pytest.mark.django_db(transaction=True)
def test_the_contract_migration_of_a_generated_field_applies_and_reverts() -> None:
    from django.db.migrations import Migration

    set_switch("authors.full_name", True)
    contracted = plan(flagschema.registry["modern.Author.full_name"])
    migration = Migration(contracted.name, "modern")
    migration.operations = list(contracted.operations)
    before = MigrationLoader(connection).project_state(("modern", "0002_expand"))
    table = quote("modern_author")
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} ({quote('name')}, {quote('full_name')}) VALUES ('Ada', 'Ada')"
        )
    applied = False
    try:
        with connection.schema_editor() as editor:
            migration.apply(before.clone(), editor)
        applied = True
        with connection.cursor() as cursor:
            cursor.execute(f"UPDATE {table} SET {quote('full_name')} = 'Ada King'")
        assert list(raw_rows("modern_author", ["full_name"], "shout").items()) == [
            (("Ada King",), ("ADA KING",))
        ]
    finally:
        with connection.cursor() as cursor:
            # Migrating backwards adds the old column back without its data (NOT NULL).
            cursor.execute(f"DELETE FROM {table}")
        if applied:
            with connection.schema_editor() as editor:
                migration.unapply(before.clone(), editor)
    assert "name" in {
        c.name
        for c in connection.introspection.get_table_description(
            connection.cursor(), "modern_author"
        )
    }


@db_defaults
def test_a_conversion_left_to_a_computed_default_needs_the_old_fields_own() -> None:
    from django.db import models
    from django.db.models.functions import Now

    from flagschema.dbdefaults import DatabaseDefault, old_db_default
    from flagschema.exceptions import TransitionError

    transition = flagschema.registry["modern.Ticket.priority"]
    (companion,) = transition.old_fields
    own = old_db_default(transition, Now(), companion)  # the old field has db_default="3"
    assert isinstance(own, DatabaseDefault) and own.expression.value == "3"
    bare = models.CharField(max_length=10)
    bare.set_attributes_from_name("priority_text")
    with pytest.raises(TransitionError, match=r"^modern\.Ticket\.priority: .*db_default") as info:
        old_db_default(transition, Now(), bare)
    assert len(str(info.value).splitlines()) == 1
