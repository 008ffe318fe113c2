"""``verify``: old and new shapes compared, in SQL where the transition allows it, else in Python
in primary-key batches; drift written around the ORM is found and named by its key."""

from __future__ import annotations

import io
import json
from decimal import Decimal
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from flagschema.models import VerifyRun
from flagschema.runbook.verify import VerifyReport, verify
from tests.apps.convert.models import Product
from tests.apps.rename.models import Customer, Tag
from tests.apps.reshape.models import Person, Place
from tests.helpers import put

pytestmark = pytest.mark.django_db


def call_verify(*args: str) -> tuple[int, str]:
    """Run ``flagschema verify``; return its exit status and stdout."""
    out = io.StringIO()
    try:
        call_command("flagschema", "verify", *args, stdout=out, stderr=io.StringIO())
    except SystemExit as exc:
        return int(exc.code or 0), out.getvalue()
    return 0, out.getvalue()


# Per transition: how to create a row through the ORM, and a raw write (beneath the ORM) that
# makes its new shape disagree with its old one.
CASES: dict[str, tuple[str, Any, dict[str, Any]]] = {
    "rename.Customer.full_name": (
        "sql",
        lambda i: Customer.objects.create(full_name=f"c{i}"),
        {"full_name": "drift"},
    ),
    "rename.Tag.slug": ("sql", lambda i: Tag.objects.create(slug=f"t{i}"), {"code": "drift"}),
    "convert.Product.price": (
        "sql",
        lambda i: Product.objects.create(price=Decimal(i) / 4),
        {"price": Decimal("1000.01")},
    ),
    "convert.Product.stock": ("python", lambda i: Product.objects.create(stock=i), {"stock": -1}),
    "reshape.Person.name_split": (
        "sql",
        lambda i: Person.objects.create(first_name=f"A{i}", last_name="B" if i % 2 else ""),
        {"last_name": "drift"},
    ),
    "reshape.Place.address_merge": (
        "python",
        lambda i: Place.objects.create(street=f"{i} Main St", city="Oslo" if i % 2 else None),
        {"city": "drift"},
    ),
}


@pytest.mark.parametrize("label", CASES)
def test_rows_written_through_the_orm_are_clean(label: str) -> None:
    method, create, _ = CASES[label]
    for i in range(7):
        create(i)
    report = verify(label)
    assert report == VerifyReport(label, checked=7, mismatched=0, unfilled=0, method=method)
    assert report.clean


@pytest.mark.parametrize("label", CASES)
def test_a_drift_made_by_raw_sql_on_one_row_is_found_and_named_by_its_key(label: str) -> None:
    _, create, drift = CASES[label]
    rows = [create(i) for i in range(7)]
    put(type(rows[3]), rows[3].pk, **drift)
    report = verify(label)
    assert (report.checked, report.mismatched, report.unfilled) == (7, 1, 0)
    assert report.sample_pks == [rows[3].pk]
    assert not report.clean

    status, out = call_verify(label)
    assert status == 1
    assert f"mismatching: 1 (primary keys: {rows[3].pk})" in out


def test_the_comparison_is_null_safe() -> None:
    """One new column NULL and its expected value not NULL is a mismatch (a plain ``=`` would
    be NULL, and the row would pass); all new columns NULL is an unfilled row."""
    people = [Person.objects.create(first_name="Grace", last_name="") for _ in range(3)]
    put(Person, people[0].pk, last_name=None)
    put(Person, people[1].pk, first_name=None, last_name=None)
    report = verify("reshape.Person.name_split")
    assert (report.mismatched, report.unfilled) == (1, 1)
    assert report.sample_pks == [people[0].pk, people[1].pk]


def test_decimals_are_compared_as_the_new_column_holds_them() -> None:
    """``price_cents / 100.0`` is cast to ``numeric(12, 2)`` before the comparison: 1234 cents
    agree with 12.34 exactly, and one cent off is a mismatch."""
    product = Product.objects.create(price=Decimal("12.34"))
    other = Product.objects.create(price=Decimal("0.29"))
    assert verify("convert.Product.price").clean
    put(Product, other.pk, price=Decimal("0.30"))
    put(Product, product.pk, price_cents=1235)
    report = verify("convert.Product.price")
    assert report.mismatched == 2
    assert report.sample_pks == [product.pk, other.pk]


def test_unfilled_rows_are_counted_apart_and_named_after_the_mismatching_ones() -> None:
    customers = [Customer.objects.create(full_name=f"c{i}") for i in range(30)]
    for c in customers[:15]:
        put(Customer, c.pk, full_name=None)
    put(Customer, customers[20].pk, full_name="drift")
    put(Customer, customers[25].pk, full_name="drift")
    report = verify("rename.Customer.full_name")
    assert (report.checked, report.mismatched, report.unfilled) == (30, 2, 15)
    assert report.sample_pks == [customers[20].pk, customers[25].pk] + [
        c.pk for c in customers[:8]
    ]

    status, out = call_verify("rename.Customer.full_name")
    assert status == 1
    assert "without the new shape: 15 (primary keys: " in out
    assert "flagschema backfill rename.Customer.full_name" in out


def test_python_comparison_counts_unfilled_rows_and_rows_whose_forward_raises() -> None:
    products = [Product.objects.create(stock=i) for i in range(5)]
    put(Product, products[0].pk, stock=None)  # "0" with no new shape
    put(Product, products[1].pk, stock_text="n/a", stock=1)  # forward raises
    put(Product, products[2].pk, stock_text=None, stock=None)  # both NULL: agree
    report = verify("convert.Product.stock")
    assert report.method == "python"
    assert (report.checked, report.mismatched, report.unfilled) == (5, 1, 1)
    assert report.sample_pks == [products[1].pk, products[0].pk]


def test_python_comparison_reads_the_table_in_batches() -> None:
    places = [Place.objects.create(street=f"{i} Main St", city="Oslo") for i in range(10)]
    put(Place, places[9].pk, city="Bergen")
    with CaptureQueriesContext(connection) as queries:
        report = verify("reshape.Place.address_merge", batch_size=3, record=False)
    assert (report.checked, report.mismatched, report.sample_pks) == (10, 1, [places[9].pk])
    # Four batches of at most three rows, each a keyed, limited SELECT.
    assert len(queries.captured_queries) == 4
    assert all("LIMIT 3" in q["sql"] for q in queries.captured_queries)


def test_sql_comparison_is_one_statement_when_clean() -> None:
    for i in range(5):
        Customer.objects.create(full_name=f"c{i}")
    with CaptureQueriesContext(connection) as queries:
        assert verify("rename.Customer.full_name", record=False).clean
    assert len(queries.captured_queries) == 1


@pytest.mark.parametrize("label", ["rename.Customer.full_name", "convert.Product.stock"])
def test_limit_compares_the_first_rows_by_primary_key(label: str) -> None:
    _, create, drift = CASES[label]
    rows = [create(i) for i in range(6)]
    put(type(rows[4]), rows[4].pk, **drift)
    assert verify(label, limit=4).clean
    assert verify(label, limit=4).checked == 4
    assert verify(label, limit=5).sample_pks == [rows[4].pk]
    assert verify(label, limit=0).checked == 0
    assert call_verify(label, "--limit", "4")[0] == 0
    assert call_verify(label, "--limit", "5")[0] == 1


def test_each_run_is_recorded_unless_told_not_to() -> None:
    customer = Customer.objects.create(full_name="Ada")
    put(Customer, customer.pk, full_name="drift")
    verify("rename.Customer.full_name")
    run = VerifyRun.objects.get()
    assert (run.label, run.checked, run.mismatched, run.unfilled) == (
        "rename.Customer.full_name",
        1,
        1,
        0,
    )
    assert json.loads(run.sample_pks) == [customer.pk]
    assert not run.is_clean
    verify("rename.Customer.full_name", record=False)
    assert VerifyRun.objects.count() == 1


def test_the_command_prints_json_and_exits_0_only_when_clean() -> None:
    customer = Customer.objects.create(full_name="Ada")
    status, out = call_verify("rename.Customer.full_name", "--json")
    assert status == 0
    assert json.loads(out) == {
        "label": "rename.Customer.full_name",
        "checked": 1,
        "mismatched": 0,
        "unfilled": 0,
        "sample_pks": [],
        "method": "sql",
        "lossy": 0,
        "lossy_pks": [],
        "clean": True,
    }
    status, out = call_verify("rename.Customer.full_name")
    assert status == 0
    assert "Clean" in out
    put(Customer, customer.pk, full_name=None)
    status, out = call_verify("rename.Customer.full_name", "--json")
    assert status == 1
    assert json.loads(out)["sample_pks"] == [customer.pk]


def test_the_command_names_an_unknown_label_and_a_negative_limit() -> None:
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match=r"No transition is labelled 'rename\.Nope\.x'"):
        call_verify("rename.Nope.x")
    with pytest.raises(CommandError, match="--limit -1"):
        call_verify("rename.Customer.full_name", "--limit", "-1")


def test_verify_reads_the_new_columns_whatever_the_read_side(side: str) -> None:
    """The flag's read side does not change what is compared: both physical shapes."""
    customer = Customer.objects.create(full_name="Ada")
    product = Product.objects.create(price=Decimal("1.50"), stock=3)
    put(Customer, customer.pk, full_name="drift")
    put(Product, product.pk, price=Decimal("9.99"))
    assert verify("rename.Customer.full_name").sample_pks == [customer.pk]
    assert verify("convert.Product.price").sample_pks == [product.pk]
    assert verify("convert.Product.stock").clean


@pytest.mark.parametrize("drift", ["ADA LOVELACE", "Ada Lovelace ", "Ada  Lovelace"])
def test_text_is_compared_byte_for_byte(drift: str) -> None:
    """A drift in case or trailing spaces is a drift, whatever the column's collation (MariaDB's
    default ones compare 'Ada' and 'ADA ' equal)."""
    customer = Customer.objects.create(full_name="Ada Lovelace")
    person = Person.objects.create(first_name="Ada", last_name="Lovelace")
    put(Customer, customer.pk, full_name=drift)
    put(Person, person.pk, name=drift)
    assert verify("rename.Customer.full_name").sample_pks == [customer.pk]
    assert verify("reshape.Person.name_split").sample_pks == [person.pk]
