"""Shadow reads (issue 7): answered from the old side; a sample of reads also compares the new
column, selected by the same query; mismatches are signalled, logged (label and key, no values)
and counted across processes; a flip to new is refused while the mismatch rate is too high."""

from __future__ import annotations

import json
import logging
from decimal import Decimal
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.test.utils import CaptureQueriesContext

import flagschema
from flagschema import shadow
from flagschema.flags import shadowing
from tests.apps.convert.models import Product
from tests.apps.rename.models import Customer
from tests.apps.reshape.models import Person
from tests.helpers import put, set_switch

pytestmark = pytest.mark.django_db

LABEL = "rename.Customer.full_name"


@pytest.fixture(autouse=True)
def _every_read_sampled(settings) -> None:  # type: ignore[no-untyped-def]
    settings.FLAGSCHEMA_SHADOW_SAMPLE = 1.0
    for transition in flagschema.registry:
        shadow.reset(transition)


@pytest.fixture
def mismatches() -> list[dict[str, Any]]:
    seen: list[dict[str, Any]] = []

    def receiver(sender: Any, **kwargs: Any) -> None:
        seen.append({"sender": sender, **kwargs})

    shadow.shadow_mismatch.connect(receiver)
    yield seen
    shadow.shadow_mismatch.disconnect(receiver)


def app_queries(ctx: CaptureQueriesContext) -> list[str]:
    return [q["sql"] for q in ctx.captured_queries if "waffle_" not in q["sql"]]


def test_a_drifted_row_is_reported_by_label_and_key(mismatches, caplog) -> None:  # type: ignore[no-untyped-def]
    good = Customer.objects.create(full_name="Ada Lovelace")
    drifted = Customer.objects.create(full_name="Alan Turing")
    put(Customer, drifted.pk, full_name="Alan Mathison Turing")  # only the new column changed
    caplog.set_level(logging.WARNING, logger="flagschema.shadow")
    with flagschema.reading(LABEL, "shadow"), CaptureQueriesContext(connection) as ctx:
        names = [c.full_name for c in Customer.objects.order_by("pk")]
    assert names == ["Ada Lovelace", "Alan Turing"]  # answered from the old column
    (sql,) = app_queries(ctx)  # no extra query: the new column rides along
    assert sql.count(connection.ops.quote_name("full_name")) >= 1
    assert len(mismatches) == 1  # once per mismatching read
    (event,) = mismatches
    assert event["sender"] is Customer and event["pk"] == drifted.pk
    assert event["transition"].label == LABEL and event["fields"] == ["full_name"]
    (record,) = caplog.records
    assert LABEL in record.getMessage() and f"pk={drifted.pk}" in record.getMessage()
    assert "Turing" not in record.getMessage()  # never the values
    counts = shadow.stats(flagschema.registry[LABEL])
    assert (counts.compared, counts.mismatched) == (2, 1) and counts.since is not None
    assert good.pk != drifted.pk

    # Each further read of the drifted row is another mismatch.
    with flagschema.reading(LABEL, "shadow"):
        Customer.objects.get(pk=drifted.pk)
        Customer.objects.get(pk=good.pk)
    assert len(mismatches) == 2
    counts = shadow.stats(flagschema.registry[LABEL])
    assert (counts.compared, counts.mismatched) == (4, 2)


def test_a_shadow_read_makes_no_extra_query(django_assert_num_queries) -> None:  # type: ignore[no-untyped-def]
    c = Customer.objects.create(full_name="Ada")
    set_switch("customers.full_name", False)
    with flagschema.reading(LABEL, "shadow"), django_assert_num_queries(1):
        assert Customer.objects.get(pk=c.pk).full_name == "Ada"
    with flagschema.reading(LABEL, "old"), django_assert_num_queries(1):
        assert Customer.objects.get(pk=c.pk).full_name == "Ada"
    assert shadow.stats(flagschema.registry[LABEL]).compared == 1


def test_conversions_and_splits_are_compared_as_the_new_type(mismatches) -> None:  # type: ignore[no-untyped-def]
    p = Product.objects.create(sku="p", price=Decimal("12.34"), stock=5)
    ada = Person.objects.create(first_name="Ada", last_name="Lovelace")
    with (
        flagschema.reading("convert.Product.price", "shadow"),
        flagschema.reading("reshape.Person.name_split", "shadow"),
    ):
        assert Product.objects.get(pk=p.pk).price == Decimal("12.34")
        assert Person.objects.get(pk=ada.pk).last_name == "Lovelace"
        assert mismatches == []
        put(Product, p.pk, price="99.99")
        put(Person, ada.pk, last_name="Byron")
        assert Product.objects.get(pk=p.pk).price == Decimal("12.34")
        assert Person.objects.get(pk=ada.pk).last_name == "Lovelace"
    assert [(m["transition"].label, m["fields"]) for m in mismatches] == [
        ("convert.Product.price", ["price"]),
        ("reshape.Person.name_split", ["last_name"]),
    ]


def test_rows_not_backfilled_are_not_compared(mismatches) -> None:  # type: ignore[no-untyped-def]
    c = Customer.objects.create(full_name="Ada")
    put(Customer, c.pk, full_name=None)
    with flagschema.reading(LABEL, "shadow"):
        Customer.objects.get(pk=c.pk)
    assert mismatches == [] and shadow.stats(flagschema.registry[LABEL]).compared == 0


def test_a_custom_comparator(mismatches, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    transition = flagschema.registry[LABEL]
    monkeypatch.setattr(transition, "comparator", lambda read, new: read.lower() == new.lower())
    c = Customer.objects.create(full_name="Ada")
    put(Customer, c.pk, full_name="ADA")
    with flagschema.reading(LABEL, "shadow"):
        Customer.objects.get(pk=c.pk)
    assert mismatches == []


def test_the_mode_is_a_second_switch_and_the_sample_a_setting(settings) -> None:  # type: ignore[no-untyped-def]
    c = Customer.objects.create(full_name="Ada")
    transition = flagschema.registry[LABEL]
    set_switch("customers.full_name", False)
    set_switch("customers.full_name.shadow", True)
    assert shadowing(transition)
    column = connection.ops.quote_name("full_name")
    with CaptureQueriesContext(connection) as ctx:
        Customer.objects.get(pk=c.pk)
    (sampled,) = app_queries(ctx)
    assert shadow.stats(transition).compared == 1
    settings.FLAGSCHEMA_SHADOW_SAMPLE = 0.0
    with CaptureQueriesContext(connection) as ctx:
        Customer.objects.get(pk=c.pk)
    (unsampled,) = app_queries(ctx)
    # The sampled query selects the new column once more, as the shadow annotation.
    assert sampled.count(column) == unsampled.count(column) + 1
    assert shadow.stats(transition).compared == 1  # not sampled
    set_switch("customers.full_name", True)  # reads new: nothing to shadow
    assert not shadowing(transition)
    set_switch("customers.full_name.shadow", False)
    set_switch("customers.full_name", False)
    assert not shadowing(transition)


def test_status_shows_the_counts() -> None:
    c = Customer.objects.create(full_name="Ada")
    put(Customer, c.pk, full_name="Eve")
    with flagschema.reading(LABEL, "shadow"):
        Customer.objects.get(pk=c.pk)
    out = StringIO()
    call_command("flagschema", "status", LABEL, "--json", stdout=out)
    (item,) = json.loads(out.getvalue())
    assert item["shadow"]["compared"] == 1 and item["shadow"]["mismatched"] == 1
    out = StringIO()
    call_command("flagschema", "status", LABEL, stdout=out, no_color=True)
    assert "shadow     off: 1 mismatching of 1 compared" in out.getvalue()


def test_a_flip_to_new_is_refused_on_a_high_mismatch_rate(settings) -> None:  # type: ignore[no-untyped-def]
    set_switch("customers.full_name", False)
    c = Customer.objects.create(full_name="Ada")
    put(Customer, c.pk, full_name="Eve")
    with flagschema.reading(LABEL, "shadow"):
        Customer.objects.get(pk=c.pk)
    put(Customer, c.pk, full_name="Ada")  # the drift is repaired; the counts remain
    with pytest.raises(CommandError, match=r"shadow reads found 1 mismatching of 1 compared"):
        call_command("flagschema", "flip", LABEL, "--to", "new", "--reason", "go")
    settings.FLAGSCHEMA_SHADOW_MAX_MISMATCH_RATE = 1.0  # a tolerance the team chose
    call_command("flagschema", "flip", LABEL, "--to", "new", "--reason", "go", stdout=StringIO())
    assert shadow.stats(flagschema.registry[LABEL]).compared == 0  # a flip starts a new count


def test_the_override(settings) -> None:  # type: ignore[no-untyped-def]
    set_switch("customers.full_name", False)
    c = Customer.objects.create(full_name="Ada")
    put(Customer, c.pk, full_name="Eve")
    with flagschema.reading(LABEL, "shadow"):
        Customer.objects.get(pk=c.pk)
    put(Customer, c.pk, full_name="Ada")
    out = StringIO()
    call_command(
        "flagschema", "flip", LABEL, "--to", "new", "--reason", "go", "--force", stdout=out
    )
    assert "now reads NEW" in out.getvalue() and "(forced)" in out.getvalue()


def test_the_admin_shows_the_counts(admin_client) -> None:  # type: ignore[no-untyped-def]
    c = Customer.objects.create(full_name="Ada")
    put(Customer, c.pk, full_name="Eve")
    with flagschema.reading(LABEL, "shadow"):
        Customer.objects.get(pk=c.pk)
    page = admin_client.get(f"/admin/flagschema/flipevent/transitions/{LABEL}/").content.decode()
    assert "1 mismatching of 1 reads compared" in page
    page = admin_client.get(
        f"/admin/flagschema/flipevent/transitions/{LABEL}/flip/new/"
    ).content.decode()
    assert "1 mismatching of 1 reads compared" in page
