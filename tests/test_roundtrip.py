"""Round-trip safety: values whose forward-then-backward conversion does not give them back
are reported before a flip, from declared samples (``check``) and from the table's rows
(``check --database``). Hypothesis checks the transforms of the test apps as properties."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.db import models
from django.test.utils import isolate_apps
from hypothesis import given
from hypothesis import strategies as st

import flagschema
from flagschema.runbook.roundtrip import check_rows, check_samples
from tests.apps.convert.models import Product, cents_to_price, price_to_cents
from tests.apps.reshape.models import (
    Person,
    Place,
    from_address,
    join_name,
    split_name,
    to_address,
)
from tests.helpers import put, set_switch

# --- properties of the test apps' transforms ------------------------------------------------

words = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Zs", "Cc")), min_size=1, max_size=12
)


@given(st.integers(min_value=-(10**10), max_value=10**10))
def test_cents_survive_the_round_trip(cents: int) -> None:
    assert price_to_cents(cents_to_price(cents)) == cents


@given(st.decimals(min_value=-(10**8), max_value=10**8, places=2, allow_nan=False))
def test_prices_with_two_decimals_survive_the_round_trip(price: Decimal) -> None:
    assert cents_to_price(price_to_cents(price)) == price


@given(st.lists(words, min_size=1, max_size=4).map(" ".join))
def test_names_of_single_spaced_words_survive_the_round_trip(name: str) -> None:
    assert join_name(*split_name(name)) == name


@given(words, st.lists(words, max_size=3).map(" ".join))
def test_a_one_word_first_name_survives_the_round_trip(first: str, last: str) -> None:
    assert split_name(join_name(first, last)) == (first, last)


@given(st.none() | st.text(), st.none() | st.text())
def test_addresses_survive_the_round_trip(street: str | None, city: str | None) -> None:
    assert from_address(to_address(street, city)) == (street, city)


def test_the_test_apps_declare_samples_that_survive() -> None:
    for transition in flagschema.registry:
        report = check_samples(transition)
        assert report.ok, (transition.label, report.problems)
        if transition.kind != "rename":
            assert report.checked > 0, transition.label


# --- a lossy transform is reported by the system checks -------------------------------------


# Django 6.1's `check` runs the field checks against the databases too (a JSONField of a test
# app asks SQLite whether it supports JSON).
@pytest.mark.django_db
@isolate_apps("tests.apps.convert")
def test_a_lossy_backward_transform_is_an_error_of_check() -> None:
    class Lossy(models.Model):
        # backward drops the cents: a price written in the new shape loses them on rollback.
        price = flagschema.ConvertedField(
            models.DecimalField(max_digits=12, decimal_places=2),
            old=models.IntegerField(db_column="price_cents"),
            forward=cents_to_price,
            backward=lambda price: int(price) * 100,
            flag="lossy.price",
            samples=[100, 150, 2000],
        )

        class Meta:
            app_label = "convert"

    transition = Lossy._meta.get_field("price")._flagschema_transition  # type: ignore[union-attr]
    report = check_samples(transition)
    assert (report.checked, report.failed) == (3, 1)
    (problem,) = report.problems
    assert problem.where == "sample 1 (150)"
    assert problem.path == "old -> new -> old"
    assert problem.detail == "forward then backward gives 100"

    flagschema.registry.register(transition)
    try:
        with pytest.raises(SystemCheckError) as info:
            call_command("check")
    finally:
        flagschema.registry.unregister(transition.label)
    message = str(info.value)
    assert "flagschema.E010" in message and "convert.Lossy.price" in message
    assert "sample 1 (150)" in message


def test_a_value_hypothesis_finds_is_reported_as_a_sample() -> None:
    from hypothesis import find

    # Names outside the single-spaced domain do not come back: hypothesis finds one...
    name = find(st.text(), lambda n: join_name(*split_name(n)) != n)
    # ...and check() reports it once it is declared as a sample.
    transition = flagschema.registry["reshape.Person.name_split"]
    saved = transition.samples
    transition.samples = (*saved, name)
    try:
        report = check_samples(transition)
    finally:
        transition.samples = saved
    assert report.failed == 1
    assert report.problems[0].where == f"sample {len(saved)} ({name!r})"


# --- rows of the table (check --database) ---------------------------------------------------


@pytest.mark.django_db
def test_rows_that_do_not_survive_are_reported_by_key(side: str) -> None:
    good = Product.objects.create(sku="good", price=Decimal("1.50"), stock=7)
    padded = Product.objects.create(sku="padded", price=Decimal("2.00"), stock=7)
    put(Product, padded.pk, stock_text="007")  # int("007") -> 7 -> str -> "7"
    report = check_rows(flagschema.registry["convert.Product.stock"])
    assert (report.checked, report.failed) == (2, 1)
    (problem,) = report.problems
    assert (problem.pk, problem.path) == (padded.pk, "old -> new -> old")
    assert "007" not in problem.detail  # no values in reports of rows
    assert check_rows(flagschema.registry["convert.Product.price"]).ok
    assert good.pk not in report.sample_pks

    # The new shape, written by the new code, must survive a rollback too.
    Person.objects.create(first_name="Ada", last_name="Lovelace")
    mary = Person.objects.create(first_name="Mary Ann", last_name="Evans")
    report = check_rows(flagschema.registry["reshape.Person.name_split"])
    assert report.failed == 1
    assert (report.problems[0].pk, report.problems[0].path) == (mary.pk, "new -> old -> new")

    # A flip to new is refused while such rows exist: the rollback would change them.
    from django.core.management.base import CommandError

    set_switch("products.stock", False)
    with pytest.raises(CommandError, match="1 row\\(s\\) do not survive the round trip") as info:
        call_command(
            "flagschema", "flip", "convert.Product.stock", "--to", "new", "--reason", "go"
        )
    assert f"pk {padded.pk}" in str(info.value)


@pytest.mark.django_db
def test_rows_are_read_in_batches_up_to_a_limit() -> None:
    Place.objects.bulk_create(
        [Place(label=str(i), address={"street": f"{i} Main", "city": None}) for i in range(7)]
    )
    transition = flagschema.registry["reshape.Place.address_merge"]
    assert check_rows(transition, batch_size=3).checked == 7
    assert check_rows(transition, batch_size=3, limit=5).checked == 5
