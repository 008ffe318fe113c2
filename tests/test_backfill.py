"""``backfill``: rows written before the expand get their new shape, range by range, resumably,
never overwriting a new shape; the ``backfill`` command's output. (Killed processes and
concurrent writers: tests/test_backfill_processes.py.)"""

from __future__ import annotations

import io
import json
from decimal import Decimal
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from flagschema.exceptions import TransitionError
from flagschema.flags import reading
from flagschema.management.commands._flagschema import backfill as backfill_verb
from flagschema.models import BackfillProgress
from flagschema.runbook import backfill as backfill_module
from flagschema.runbook.backfill import BackfillStep, backfill
from flagschema.runbook.verify import verify
from flagschema.transitions import registry
from tests.apps.convert.models import Product
from tests.apps.rename.models import Customer, Tag
from tests.apps.reshape.models import Person, Place
from tests.helpers import all_rows, put

pytestmark = pytest.mark.django_db


class Stop(Exception):
    """Raised by a progress callback to stop a run after a committed range."""


# Per transition: the model, how to create a row through the ORM, and the new columns (NULLed
# by raw SQL to make rows "written before the expand").
CASES: dict[str, tuple[Any, Any, dict[str, Any]]] = {
    "rename.Customer.full_name": (
        Customer,
        lambda i: Customer.objects.create(full_name=f"Customer {i}", email=f"c{i}@example.com"),
        {"full_name": None},
    ),
    "rename.Tag.slug": (Tag, lambda i: Tag.objects.create(slug=f"tag-{i}"), {"slug": None}),
    "convert.Product.price": (
        Product,
        lambda i: Product.objects.create(sku=f"p{i}", price=Decimal(i * 37) / 100, stock=i),
        {"price": None},
    ),
    "convert.Product.stock": (
        Product,
        lambda i: Product.objects.create(sku=f"p{i}", price=Decimal(i), stock=i - 3),
        {"stock": None},
    ),
    "reshape.Person.name_split": (
        Person,
        lambda i: Person.objects.create(first_name=f"Ada{i}", last_name="King" if i % 2 else ""),
        {"first_name": None, "last_name": None},
    ),
    "reshape.Place.address_merge": (
        Place,
        lambda i: Place.objects.create(street=f"{i} Main St", city="Oslo" if i % 3 else None),
        {"address": None},
    ),
}
COUNT = 11


def columns_of(model: Any) -> list[str]:
    return [f.column for f in model._meta.concrete_fields if f.column != "id"]


def expand(label: str, count: int = COUNT) -> tuple[Any, list[tuple[Any, ...]]]:
    """*count* rows of *label*'s model written through the ORM, then their new shape removed
    by raw SQL: rows as the expand found them. Returns the model and the rows as the ORM wrote
    them (every column)."""
    model, create, unfilled = CASES[label]
    pks = [create(i).pk for i in range(count)]
    written = all_rows(model, *columns_of(model))
    for pk in pks:
        put(model, pk, **unfilled)
    return model, written


@pytest.mark.parametrize("label", CASES)
def test_backfill_gives_each_row_the_new_shape_the_orm_would_have_written(
    label: str, side: str
) -> None:
    model, written = expand(label)
    assert verify(label).unfilled == COUNT

    report = backfill(label, batch_size=4)

    assert (report.done, report.written, report.batches, report.finished) == (
        COUNT,
        COUNT,
        3,
        True,
    )
    assert report.method == ("python" if label.endswith(("stock", "address_merge")) else "sql")
    assert verify(label).clean
    # Every column is what the ORM wrote: the new shape is back, nothing else changed.
    assert all_rows(model, *columns_of(model)) == written


@pytest.mark.parametrize("label", CASES)
def test_a_second_run_writes_nothing(label: str) -> None:
    model, written = expand(label)
    backfill(label, batch_size=4)
    again = backfill(label, batch_size=4)
    assert (again.done, again.written, again.resumed_from) == (COUNT, 0, None)
    assert all_rows(model, *columns_of(model)) == written


@pytest.mark.parametrize("label", CASES)
def test_a_new_shape_is_never_overwritten(label: str) -> None:
    """Only rows with no new shape at all are written: a row the application gave a new shape
    (here a different one, by raw SQL) keeps it, and verify still reports it."""
    model, _ = expand(label)
    row = model.objects.order_by("pk")[5]
    drift = {
        "rename.Customer.full_name": {"full_name": "drift"},
        "rename.Tag.slug": {"slug": "drift"},
        "convert.Product.price": {"price": Decimal("1000.01")},
        "convert.Product.stock": {"stock": 4242},
        "reshape.Person.name_split": {"first_name": "drift", "last_name": "drift"},
        "reshape.Place.address_merge": {"address": json.dumps({"street": "drift"})},
    }[label]
    put(model, row.pk, **drift)
    report = backfill(label, batch_size=4)
    assert report.written == COUNT - 1
    assert verify(label).sample_pks == [row.pk]


def test_a_row_changed_between_read_and_write_keeps_the_new_shape_its_writer_gave() -> None:
    """Python transforms read a range, convert it, then write by key ``WHERE new IS NULL``: a
    row given its new shape meanwhile (here by the application, from inside ``forward``, which
    runs in between) is not overwritten with a value computed from its previous old shape."""
    expand("convert.Product.stock", 6)
    target, old_value = all_rows(Product, "stock_text")[2]
    transition = registry["convert.Product.stock"]
    forward = transition.forward
    assert forward is not None

    def forward_while_the_application_writes(value: Any) -> Any:
        if value == old_value:
            Product.objects.filter(pk=target).update(stock=777)
        return forward(value)

    transition.forward = forward_while_the_application_writes
    try:
        report = backfill(transition)
    finally:
        transition.forward = forward
    assert report.written == 5
    assert all_rows(Product, "stock_text", "stock")[2] == (target, "777", 777)
    assert verify(transition).clean


def test_an_interrupted_run_resumes_after_its_last_committed_range() -> None:
    model, written = expand("rename.Customer.full_name", 20)
    pks = [row[0] for row in written]

    def stop_after_two(step: BackfillStep) -> None:
        if step.batches == 2:
            raise Stop

    with pytest.raises(Stop):
        backfill("rename.Customer.full_name", batch_size=3, progress=stop_after_two)
    progress = BackfillProgress.objects.get(label="rename.Customer.full_name")
    assert (json.loads(progress.last_pk), progress.rows_done, progress.batches) == (pks[5], 6, 2)
    assert (progress.rows_written, progress.finished) == (6, None)
    filled = [pk for pk, full_name in all_rows(model, "full_name") if full_name is not None]
    assert filled == pks[:6]

    report = backfill("rename.Customer.full_name", batch_size=3)
    assert report.resumed_from == pks[5]
    assert (report.total, report.done, report.written, report.batches) == (14, 14, 14, 5)
    progress.refresh_from_db()
    assert (progress.rows_done, progress.rows_written, progress.batches) == (20, 20, 7)
    assert progress.finished is not None
    assert all_rows(model, *columns_of(model)) == written


def test_restart_starts_from_the_first_row() -> None:
    expand("rename.Customer.full_name", 9)

    def stop(step: BackfillStep) -> None:
        raise Stop

    with pytest.raises(Stop):
        backfill("rename.Customer.full_name", batch_size=3, progress=stop)
    report = backfill("rename.Customer.full_name", batch_size=3, restart=True)
    assert (report.resumed_from, report.done, report.written) == (None, 9, 6)
    assert BackfillProgress.objects.get().rows_done == 9


def test_a_finished_run_is_followed_by_a_full_pass() -> None:
    """Rows the previous release writes after a backfill (old shape only) are filled by the
    next run, which starts again from the first row."""
    expand("rename.Customer.full_name", 5)
    backfill("rename.Customer.full_name")
    customer = Customer.objects.order_by("pk").first()
    assert customer is not None
    put(Customer, customer.pk, name="Written by the previous release", full_name=None)
    report = backfill("rename.Customer.full_name")
    assert (report.resumed_from, report.done, report.written) == (None, 5, 1)
    assert verify("rename.Customer.full_name").clean


def test_another_run_of_the_same_transition_stops_this_one() -> None:
    expand("rename.Customer.full_name", 12)
    other: list[Any] = []

    def second_run_meanwhile(step: BackfillStep) -> None:
        if not other:
            other.append(backfill("rename.Customer.full_name", batch_size=3))

    with pytest.raises(TransitionError, match=r"Another backfill of rename\.Customer\.full_name"):
        backfill("rename.Customer.full_name", batch_size=3, progress=second_run_meanwhile)
    # The second run resumed after the first one's range and finished the table.
    assert (other[0].resumed_from, other[0].done, other[0].finished) == (
        Customer.objects.order_by("pk")[2].pk,
        9,
        True,
    )
    assert verify("rename.Customer.full_name").clean


def test_rows_whose_forward_raises_are_left_unfilled_and_named() -> None:
    expand("convert.Product.stock", 6)
    bad = Product.objects.order_by("pk")[1]
    put(Product, bad.pk, stock_text="n/a")
    report = backfill("convert.Product.stock")
    assert (report.written, report.failed, report.failed_pks) == (5, 1, [bad.pk])
    assert verify("convert.Product.stock").sample_pks == [bad.pk]

    status, out, _ = call_backfill("convert.Product.stock")
    assert status == 1
    assert f"1 rows kept no new shape: forward raised for them (first keys: {bad.pk})" in out


def test_a_new_value_the_field_cannot_store_fails_its_row_only() -> None:
    expand("convert.Product.stock", 4)
    transition = registry["convert.Product.stock"]
    forward = transition.forward
    assert forward is not None
    bad = all_rows(Product, "stock_text")[2]

    def forward_not_a_number(text: Any) -> Any:
        return "three" if text == bad[1] else forward(text)

    transition.forward = forward_not_a_number
    try:
        report = backfill(transition)
    finally:
        transition.forward = forward
    assert (report.written, report.failed, report.failed_pks) == (3, 1, [bad[0]])


def test_a_failing_range_is_rolled_back_and_the_ranges_before_it_kept() -> None:
    """A value the new column cannot hold fails its range (the database's own check: the
    expression is not cast to the column's length, which would truncate it silently). SQLite
    checks no length: there the value is stored whole, never cut."""
    expand("reshape.Person.name_split", 9)
    long_word = Person.objects.order_by("pk")[7]
    put(Person, long_word.pk, name="x" * 150)  # first_name holds 100 characters
    if connection.vendor == "sqlite":
        report = backfill("reshape.Person.name_split", batch_size=3)
        assert (report.written, report.failed) == (9, 0)
        with reading("reshape.Person.name_split", "new"):
            assert Person.objects.get(pk=long_word.pk).first_name == "x" * 150
        return
    with pytest.raises(
        TransitionError, match=r"reshape\.Person\.name_split: the range of primary"
    ):
        backfill("reshape.Person.name_split", batch_size=3)
    progress = BackfillProgress.objects.get()
    assert (progress.rows_done, progress.batches, progress.finished) == (6, 2, None)
    report = verify("reshape.Person.name_split")
    assert report.unfilled == 3


def test_a_dry_run_writes_nothing_and_shows_the_statement() -> None:
    model, _ = expand("rename.Customer.full_name", 4)
    before = all_rows(model, *columns_of(model))
    report = backfill("rename.Customer.full_name", dry_run=True)
    assert (report.dry_run, report.unfilled, report.total, report.written) == (True, 4, 4, 0)
    quote = connection.ops.quote_name
    assert report.statement.startswith(f"UPDATE {quote('rename_customer')} SET ")
    assert f"{quote('full_name')} IS NULL" in report.statement
    assert all_rows(model, *columns_of(model)) == before
    assert not BackfillProgress.objects.exists()

    status, out, _ = call_backfill("rename.Customer.full_name", "--dry-run")
    assert status == 0
    assert "Dry run: 4 of 4 rows of rename.Customer.full_name have no new shape." in out
    assert "Nothing was written." in out


def test_sleep_pauses_between_ranges(monkeypatch: pytest.MonkeyPatch) -> None:
    expand("rename.Customer.full_name", 7)
    pauses: list[float] = []
    monkeypatch.setattr(backfill_module.time, "sleep", pauses.append)
    backfill("rename.Customer.full_name", batch_size=3, sleep=0.25)
    assert pauses == [0.25, 0.25]


# --- the command ---------------------------------------------------------------------------


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def call_backfill(*args: str, stderr: io.StringIO | None = None) -> tuple[int, str, str]:
    out, err = io.StringIO(), stderr if stderr is not None else io.StringIO()
    try:
        call_command("flagschema", "backfill", *args, stdout=out, stderr=err)
    except SystemExit as exc:
        return int(exc.code or 0), out.getvalue(), err.getvalue()
    return 0, out.getvalue(), err.getvalue()


def test_the_command_reports_what_it_did_and_where_it_resumed() -> None:
    expand("rename.Customer.full_name", 10)
    status, out, _ = call_backfill("rename.Customer.full_name", "--batch-size", "4")
    assert status == 0
    assert "Backfilled rename.Customer.full_name in SQL: 10 rows in 3 ranges of up to 4" in out
    assert "10 given their new shape" in out
    assert "Next: manage.py flagschema verify rename.Customer.full_name" in out

    progress = BackfillProgress.objects.get()
    progress.finished = None
    progress.last_pk = json.dumps(Customer.objects.order_by("pk")[3].pk)
    progress.save()
    status, out, _ = call_backfill("rename.Customer.full_name", "--json")
    assert status == 0
    report = json.loads(out)
    assert report["resumed_from"] == Customer.objects.order_by("pk")[3].pk
    assert (report["done"], report["written"], report["finished"]) == (6, 0, True)


def test_plain_progress_lines_when_stderr_is_not_a_terminal(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    expand("rename.Customer.full_name", 10)
    monkeypatch.setattr(backfill_verb, "PLAIN_LINE_SECONDS", 0.0)
    _, _, err = call_backfill("rename.Customer.full_name", "--batch-size", "4")
    lines = err.splitlines()
    assert len(lines) == 3
    assert lines[0].startswith("rename.Customer.full_name: 4/10 rows (40%), 4 written, ")
    assert lines[-1].startswith("rename.Customer.full_name: 10/10 rows (100%), 10 written, ")
    assert all(" rows/s, ETA " in line for line in lines)
    assert "\r" not in err


def test_a_progress_bar_on_a_terminal() -> None:
    expand("rename.Customer.full_name", 10)
    _, _, err = call_backfill("rename.Customer.full_name", "--batch-size", "4", stderr=Terminal())
    assert err.startswith("\r[")
    assert err.endswith("\n")
    final = err.rstrip("\n").split("\r")[-1]
    assert final.startswith("[" + "#" * 30 + "] 10/10 rows (100%), 10 written, ")
    assert " rows/s, ETA 0:00:00" in final


def test_progress_describes_rate_and_time_left() -> None:
    step = BackfillStep(
        done=250_000, total=1_000_000, written=240_000, batches=50, elapsed=5.0, batch_seconds=0.05
    )
    assert backfill_verb.ProgressPrinter.describe(step) == (
        "250,000/1,000,000 rows (25%), 240,000 written, 50,000 rows/s, ETA 0:00:15"
    )


def test_the_command_refuses_bad_options() -> None:
    with pytest.raises(CommandError, match="--batch-size 0"):
        call_backfill("rename.Customer.full_name", "--batch-size", "0")
    with pytest.raises(CommandError, match="--sleep -1"):
        call_backfill("rename.Customer.full_name", "--sleep", "-1")
    with pytest.raises(CommandError, match="No transition is labelled"):
        call_backfill("rename.Customer.nope")
