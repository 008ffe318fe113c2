"""The rules of docs/orm-writes.md: ``update()`` computes every shape from the row as it was
(MySQL and MariaDB assign ``SET`` left to right), upserts take either name, a missing new value
takes the old field's default, and a value the old column cannot hold is refused by name."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal

import pytest
from django.core import checks
from django.db import connection, models, transaction
from django.db.models import F, Value
from django.db.models.functions import Concat, Upper
from django.test.utils import isolate_apps

import flagschema
from flagschema.runbook.verify import verify
from tests.apps.rename.models import Customer
from tests.apps.reshape.models import Person
from tests.apps.writes.models import Book, Contact, Item
from tests.helpers import columns, put, set_switch

pytestmark = pytest.mark.django_db

WRITES_FLAGS = ("items.title", "items.price", "contacts.name_split", "books.page_count")

# What an integer column holds: 32 bits on PostgreSQL and MariaDB, 64 on SQLite.
# (Django 4.2 says None on SQLite: no bound.)
INT_MAX = connection.ops.integer_field_range("IntegerField")[1] or 2**63 - 1
BIG = 3_000_000_000


@pytest.fixture
def read(side: str) -> str:
    """The read side of every transition, those of tests/apps/writes included."""
    for name in WRITES_FLAGS:
        set_switch(name, side == "new")
    return side


def money(value: object) -> Decimal:
    """A decimal column's raw value (SQLite hands out a float) as a Decimal of cents."""
    return Decimal(str(value)).quantize(Decimal("0.01"))


def price_columns(pk: int) -> tuple[int, Decimal]:
    cents, price = columns(Item, pk, "price_cents", "price")
    return cents, money(price)


def upsert_target() -> dict[str, list[str]]:
    # MySQL and MariaDB take no conflict target: any unique key conflicts.
    if connection.features.supports_update_conflicts_with_target:
        return {"unique_fields": ["sku"]}
    return {}


# --- update(): every shape from the row as it was ------------------------------------------


def test_update_of_a_conversions_old_name_from_itself(read: str) -> None:
    item = Item.objects.create(sku="a", price=Decimal("10.00"))
    # The new column differs: the old name reads the old column on either side.
    put(Item, item.pk, price=Decimal("77.00"))
    Item.objects.filter(pk=item.pk).update(price_cents=F("price_cents") + 100)
    assert price_columns(item.pk) == (1100, Decimal("11.00"))


def test_update_of_a_conversion_from_the_read_side(read: str) -> None:
    item = Item.objects.create(sku="a", price=Decimal("10.00"))
    put(Item, item.pk, price=Decimal("20.00"))
    Item.objects.filter(pk=item.pk).update(price=F("price") + 1)
    expected = Decimal("11.00") if read == "old" else Decimal("21.00")
    assert price_columns(item.pk) == (int(expected * 100), expected)


def test_update_of_a_rename_from_the_read_side(read: str) -> None:
    item = Item.objects.create(sku="a", title="Ada", price=Decimal("1.00"))
    put(Item, item.pk, title="Grace")
    Item.objects.filter(pk=item.pk).update(name=Concat(F("name"), Value("!")))
    expected = "Ada!" if read == "old" else "Grace!"
    assert columns(Item, item.pk, "name", "title") == (expected, expected)


def test_update_of_a_splits_old_name_from_itself(read: str) -> None:
    contact = Contact.objects.create(handle="a", first_name="Ada", last_name="Lovelace")
    put(Contact, contact.pk, first_name="Grace", last_name="Hopper")
    Contact.objects.filter(pk=contact.pk).update(name=Concat(F("name"), Value("x")))
    assert columns(Contact, contact.pk, "name", "first_name", "last_name") == (
        "Ada Lovelacex",
        "Ada",
        "Lovelacex",
    )


def test_update_of_a_rename_from_a_plain_column_the_update_also_writes(read: str) -> None:
    item = Item.objects.create(sku="a", title="Ada", price=Decimal("10.00"))
    Item.objects.filter(pk=item.pk).update(sku="b", title=Concat(F("sku"), Value("!")))
    assert columns(Item, item.pk, "sku", "name", "title") == ("b", "a!", "a!")


# --- update() with a forward_sql that shares a sub-expression --------------------------------


def test_update_of_a_split_with_a_shared_sub_expression(read: str) -> None:
    person = Person.objects.create(first_name="Ada", last_name="Lovelace")
    Person.objects.filter(pk=person.pk).update(name=Upper(F("name")))
    assert columns(Person, person.pk, "name", "first_name", "last_name") == (
        "ADA LOVELACE",
        "ADA",
        "LOVELACE",
    )


def test_update_substitutes_every_source_at_once(read: str) -> None:
    person = Person.objects.create(first_name="Ada", last_name="Lovelace")
    put(Person, person.pk, last_name="Hopper")
    Person.objects.filter(pk=person.pk).update(first_name=F("last_name"), last_name=Value("X"))
    read_value = "Lovelace" if read == "old" else "Hopper"
    assert columns(Person, person.pk, "name", "first_name", "last_name") == (
        f"{read_value} X",
        read_value,
        "X",
    )


# --- bulk_create(update_conflicts=True) by either name ---------------------------------------


@pytest.mark.parametrize("named", ["title", "name"])
def test_upsert_of_a_rename(read: str, named: str) -> None:
    Item.objects.create(sku="a", title="Ada", price=Decimal("1.00"))
    Item.objects.bulk_create(
        [Item(sku="a", title="Grace", price=Decimal("1.00"))],
        update_conflicts=True,
        update_fields=[named],
        **upsert_target(),
    )
    pk = Item.objects.get(sku="a").pk
    assert columns(Item, pk, "name", "title") == ("Grace", "Grace")


@pytest.mark.parametrize("named", ["price", "price_cents"])
def test_upsert_of_a_conversion(read: str, named: str) -> None:
    Item.objects.create(sku="a", price=Decimal("1.00"))
    Item.objects.bulk_create(
        [Item(sku="a", price=Decimal("2.50"))],
        update_conflicts=True,
        update_fields=[named],
        **upsert_target(),
    )
    pk = Item.objects.get(sku="a").pk
    assert price_columns(pk) == (250, Decimal("2.50"))


@pytest.mark.parametrize("named", [["name"], ["first_name", "last_name"], ["last_name"]])
def test_upsert_of_a_split(read: str, named: list[str]) -> None:
    Contact.objects.create(handle="a", first_name="Ada", last_name="Lovelace")
    Contact.objects.bulk_create(
        [Contact(handle="a", first_name="Grace", last_name="Hopper")],
        update_conflicts=True,
        update_fields=named,
        **({"unique_fields": ["handle"]} if upsert_target() else {}),
    )
    pk = Contact.objects.get(handle="a").pk
    assert columns(Contact, pk, "name", "first_name", "last_name") == (
        "Grace Hopper",
        "Grace",
        "Hopper",
    )


# --- a missing new value takes the old field's default ---------------------------------------


def test_create_without_the_converted_value_takes_the_old_default(read: str) -> None:
    item = Item.objects.create(sku="a")
    assert item.price == Decimal("0")
    assert price_columns(item.pk) == (0, Decimal("0.00"))
    Item(sku="b").save()
    Item.objects.bulk_create([Item(sku="c")])
    assert sorted(Item.objects.values_list("price_cents", flat=True)) == [0, 0, 0]
    assert verify("writes.Item.price").clean


def test_create_through_the_old_name_still_wins_over_the_default(read: str) -> None:
    item = Item.objects.create(sku="a", price_cents=250)
    assert price_columns(item.pk) == (250, Decimal("2.50"))


def test_a_given_new_value_wins_over_the_old_default(read: str) -> None:
    item = Item.objects.create(sku="a", price=Decimal("3.10"))
    assert price_columns(item.pk) == (310, Decimal("3.10"))


@isolate_apps("tests.apps.writes")
def test_check_warns_when_a_not_null_old_column_could_get_no_value() -> None:
    class Gadget(models.Model):
        price = flagschema.ConvertedField(
            models.DecimalField(max_digits=12, decimal_places=2, null=True),
            old=models.IntegerField(db_column="price_cents"),
            forward=Decimal,
            backward=int,
            flag="gadgets.price",
        )

        class Meta:
            app_label = "writes"

    class Widget(models.Model):
        price = flagschema.ConvertedField(
            models.DecimalField(max_digits=12, decimal_places=2, null=True),
            old=models.IntegerField(null=True, db_column="price_cents"),
            forward=Decimal,
            backward=int,
            flag="widgets.price",
        )

        class Meta:
            app_label = "writes"

    class Gizmo(models.Model):
        price = flagschema.ConvertedField(
            models.DecimalField(max_digits=12, decimal_places=2),
            old=models.IntegerField(db_column="price_cents"),
            forward=Decimal,
            backward=int,
            flag="gizmos.price",
        )

        class Meta:
            app_label = "writes"

    found = [e for e in Gadget._meta.get_field("price").check() if e.id == "flagschema.W013"]
    assert len(found) == 1
    warning = found[0]
    assert warning.level == checks.WARNING
    assert "'price_cents'" in warning.msg and "NOT NULL" in warning.msg
    assert "default" in (warning.hint or "")
    assert not [e for e in Widget._meta.get_field("price").check() if e.id == "flagschema.W013"]
    # A required new field over a NOT NULL old column: a row without it fails as it did before
    # the transition, which is Django's own rule, not a trap of the transition.
    assert not [e for e in Gizmo._meta.get_field("price").check() if e.id == "flagschema.W013"]


def test_check_is_quiet_where_the_old_column_always_gets_a_value() -> None:
    for model in (Item, Book, Contact, Customer):
        for field in model._meta.get_fields():
            if hasattr(field, "check"):
                assert not [e for e in field.check() if e.id == "flagschema.W013"]


# --- a value the old column cannot hold ------------------------------------------------------


@contextmanager
def refused(*parts: str) -> Iterator[pytest.ExceptionInfo[flagschema.TransitionError]]:
    """The block raises TransitionError with *parts* in its message, in this order; its
    savepoint rolls back what the database had started."""
    match = ".*".join(parts)
    with pytest.raises(flagschema.TransitionError, match=match) as caught, transaction.atomic():
        yield caught


def test_create_beyond_the_old_columns_range(read: str) -> None:
    if BIG <= INT_MAX:  # SQLite: its integer columns hold 64 bits, the old column too
        book = Book.objects.create(isbn="a", page_count=BIG)
        assert columns(Book, book.pk, "pages", "page_count") == (BIG, BIG)
        return
    with refused("writes.Book.page_count", "'page_count'", "new row") as caught:
        Book.objects.create(isbn="a", page_count=BIG)
    assert str(BIG) not in str(caught.value)
    assert not Book.objects.exists()
    with refused("writes.Book.page_count", "'page_count'"):
        Book.objects.bulk_create([Book(isbn="b", page_count=BIG)])
    assert not Book.objects.exists()


def test_save_beyond_the_old_columns_range_names_the_row(read: str) -> None:
    book = Book.objects.create(isbn="a", page_count=10)
    book.page_count = BIG
    if BIG <= INT_MAX:
        book.save()
        assert columns(Book, book.pk, "pages", "page_count") == (BIG, BIG)
        return
    with refused("writes.Book.page_count", "'page_count'", f"pk={book.pk}") as caught:
        book.save()
    assert str(BIG) not in str(caught.value)
    with refused("writes.Book.page_count", "'page_count'", f"pk={book.pk}"):
        Book.objects.bulk_update([book], ["page_count"])
    assert columns(Book, book.pk, "pages", "page_count") == (10, 10)


def test_update_with_a_value_beyond_the_old_columns_range(read: str) -> None:
    book = Book.objects.create(isbn="a", page_count=10)
    if BIG <= INT_MAX:
        Book.objects.update(page_count=BIG)
        assert columns(Book, book.pk, "pages", "page_count") == (BIG, BIG)
        return
    with refused("writes.Book.page_count", "'page_count'") as caught:
        Book.objects.update(page_count=BIG)
    assert str(BIG) not in str(caught.value)
    assert columns(Book, book.pk, "pages", "page_count") == (10, 10)


def test_update_with_an_expression_beyond_the_old_columns_range(read: str) -> None:
    book = Book.objects.create(isbn="a", page_count=10)
    put(Book, book.pk, pages=1_200_000_000, page_count=1_500_000_000)
    read_value = 1_200_000_000 if read == "old" else 1_500_000_000
    if 2 * read_value <= INT_MAX:
        Book.objects.update(page_count=F("page_count") * 2)
        assert columns(Book, book.pk, "pages", "page_count") == (2 * read_value,) * 2
        return
    with refused("writes.Book.page_count", "'page_count'", "contract") as caught:
        Book.objects.update(page_count=F("page_count") * 2)
    assert str(2 * read_value) not in str(caught.value)
    assert columns(Book, book.pk, "pages", "page_count") == (1_200_000_000, 1_500_000_000)


def test_values_within_the_old_range_are_written(read: str) -> None:
    book = Book.objects.create(isbn="a", page_count=INT_MAX)
    Book.objects.filter(pk=book.pk).update(page_count=F("page_count") - 1)
    assert columns(Book, book.pk, "pages", "page_count") == (INT_MAX - 1, INT_MAX - 1)
