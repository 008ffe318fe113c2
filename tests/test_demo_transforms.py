"""The demo's transforms (demo_project/shop/transforms.py) as properties: each round-trips on
the values the demo's columns hold, and each SQL expression gives what its Python function
gives, on the test database (SQLite, PostgreSQL or MariaDB)."""

from __future__ import annotations

import sys
from decimal import Decimal
from pathlib import Path

import pytest
from django.db import models
from django.db.models.functions import Cast
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import flagschema
from tests.apps.convert.models import Product
from tests.apps.reshape.models import Person

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "demo_project"))

from shop import transforms

# Names as the demo stores them: words separated by single spaces.
word = st.text(
    alphabet=st.sampled_from("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZéñøÅ'-."),
    min_size=1,
    max_size=10,
)
name = st.lists(word, min_size=1, max_size=4).map(" ".join)
cents = st.integers(min_value=-(10**9), max_value=10**9)
price = st.decimals(min_value=-(10**7), max_value=10**7, places=2, allow_nan=False)
DB_EXAMPLES = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@given(name)
def test_a_name_survives_split_then_join(value: str) -> None:
    assert transforms.join_name(*transforms.split_name(value)) == value


@given(word, st.lists(word, max_size=3).map(" ".join))
def test_a_one_word_first_name_survives_join_then_split(first: str, last: str) -> None:
    assert transforms.split_name(transforms.join_name(first, last)) == (first, last)


def test_a_first_name_with_a_space_does_not_survive_a_rollback() -> None:
    # What a flip to new refuses on for such rows: the shop must keep first names
    # to one word while the transition is reversible.
    joined = transforms.join_name("Mary Ann", "Evans")
    assert transforms.split_name(joined) == ("Mary", "Ann Evans")


@given(cents)
def test_cents_survive_price_then_cents(value: int) -> None:
    assert transforms.price_to_cents(transforms.cents_to_price(value)) == value


@given(price)
def test_a_price_survives_cents_then_price(value: Decimal) -> None:
    assert transforms.cents_to_price(transforms.price_to_cents(value)) == value


@pytest.mark.django_db
@DB_EXAMPLES
@given(name)
def test_the_split_in_sql_gives_what_split_name_gives(value: str) -> None:
    # The test app's Person has the demo's old column, `name`.
    person = Person.objects.create(name=value)
    text = models.CharField(max_length=200)
    row = (
        Person.objects.filter(pk=person.pk)
        .annotate(
            f=Cast(transforms.NAME_FORWARD_SQL["first_name"], text),
            l=Cast(transforms.NAME_FORWARD_SQL["last_name"], text),
        )
        .values_list("f", "l")
        .get()
    )
    person.delete()
    assert row == transforms.split_name(value)


@pytest.mark.django_db
@DB_EXAMPLES
@given(word, st.lists(word, max_size=3).map(" ".join))
def test_the_join_in_sql_gives_what_join_name_gives(first: str, last: str) -> None:
    person = Person.objects.create(first_name=first, last_name=last)
    with flagschema.reading("reshape.Person.name_split", "new"):
        joined = (
            Person.objects.filter(pk=person.pk)
            .annotate(n=Cast(transforms.NAME_BACKWARD_SQL["name"], models.CharField()))
            .values_list("n", flat=True)
            .get()
        )
    person.delete()
    assert joined == transforms.join_name(first, last)


@pytest.mark.django_db
@DB_EXAMPLES
@given(cents)
def test_the_price_in_sql_gives_what_cents_to_price_gives(old: int) -> None:
    # The test app's Product has the demo's columns, `price_cents` and `price`.
    product = Product.objects.create()
    Product.objects.filter(pk=product.pk).update(price_cents=old)
    decimal = models.DecimalField(max_digits=12, decimal_places=2)
    price = (
        Product.objects.filter(pk=product.pk)
        .annotate(p=Cast(transforms.PRICE_FORWARD_SQL, decimal))
        .values_list("p", flat=True)
        .get()
    )
    product.delete()
    assert price == transforms.cents_to_price(old)


@pytest.mark.django_db
@DB_EXAMPLES
@given(price)
def test_the_cents_in_sql_give_what_price_to_cents_gives(new: Decimal) -> None:
    product = Product.objects.create(price=new)
    with flagschema.reading("convert.Product.price", "new"):  # F("price"): its own column
        cents_sql = (
            Product.objects.filter(pk=product.pk)
            .annotate(c=transforms.PRICE_BACKWARD_SQL)
            .values_list("c", flat=True)
            .get()
        )
    product.delete()
    assert cents_sql == transforms.price_to_cents(new)
