"""The companion holds the other column: written on every save, never needed on reads.

Its value on an instance is derived from the logical field, so an instance that did not load it
(``only()``, ``defer()``, ``raw()``) costs no query for it, and ``values()`` without names lists
the model's own fields only.
"""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.models import Count
from django.db.models.signals import post_save
from django.test.utils import CaptureQueriesContext

from tests.apps.rename.models import Customer, Order
from tests.helpers import columns, put

pytestmark = pytest.mark.django_db

COMPANION = next(f for f in Customer._meta.concrete_fields if f.name == "name")


def selected_sql(queryset) -> str:
    with CaptureQueriesContext(connection) as ctx:
        list(queryset)
    return ctx.captured_queries[-1]["sql"]


def test_a_companion_not_loaded_is_derived_without_a_query(side: str) -> None:
    c = Customer.objects.create(full_name="Ada")
    put(Customer, c.pk, name="Old Ada", full_name="New Ada")
    for loaded in (
        Customer.objects.only("full_name").get(pk=c.pk),
        Customer.objects.raw(
            f"SELECT id, {Customer._meta.db_table}.full_name FROM "
            f"{Customer._meta.db_table} WHERE id = %s",
            [c.pk],
        )[0],
    ):
        assert COMPANION.attname not in loaded.__dict__
        with CaptureQueriesContext(connection) as ctx:
            assert getattr(loaded, COMPANION.attname) == loaded.full_name
        assert ctx.captured_queries == []


def test_save_of_a_loaded_instance_writes_every_field(side: str) -> None:
    """The companion is not a deferred field: save() does not turn into save(update_fields=)."""
    c = Customer.objects.create(full_name="Ada", email="a@example.com")
    loaded = Customer.objects.get(pk=c.pk)
    seen: list[object] = []

    def receiver(sender, update_fields, **kwargs):
        seen.append(update_fields)

    post_save.connect(receiver, sender=Customer)
    try:
        loaded.full_name = "Ada Lovelace"
        loaded.save()
    finally:
        post_save.disconnect(receiver, sender=Customer)
    assert seen == [None]
    assert columns(Customer, c.pk, "name", "full_name") == ("Ada Lovelace", "Ada Lovelace")


def test_refresh_from_db_loads_the_read_side(side: str) -> None:
    c = Customer.objects.create(full_name="Ada")
    put(Customer, c.pk, name="Old Ada", full_name="New Ada")
    c.refresh_from_db()
    assert c.full_name == ("New Ada" if side == "new" else "Old Ada")
    assert getattr(c, COMPANION.attname) == ("Old Ada" if side == "new" else "New Ada")


def test_only_and_defer_still_work(side: str) -> None:
    c = Customer.objects.create(full_name="Ada", email="a@example.com")
    only = Customer.objects.only("email").get(pk=c.pk)
    assert only.get_deferred_fields() == {"full_name", COMPANION.attname, "vip"}
    assert only.full_name == "Ada"  # loaded on access, from the read side
    deferred = Customer.objects.defer("full_name").get(pk=c.pk)
    assert deferred.get_deferred_fields() == {"full_name"}  # defer() by either name
    assert Customer.objects.defer("name").get(pk=c.pk).get_deferred_fields() == {"full_name"}
    deferred.email = "b@example.com"
    deferred.save()
    assert columns(Customer, c.pk, "name", "full_name", "email") == ("Ada", "Ada", "b@example.com")


def test_values_without_names_lists_the_model_fields_only(side: str) -> None:
    c = Customer.objects.create(full_name="Ada", email="a@example.com")
    assert list(Customer.objects.filter(pk=c.pk).values()) == [
        {"id": c.pk, "full_name": "Ada", "email": "a@example.com", "vip": False}
    ]
    assert list(Customer.objects.filter(pk=c.pk).values_list()) == [
        (c.pk, "Ada", "a@example.com", False)
    ]
    annotated = Customer.objects.annotate(n=Count("orders")).filter(pk=c.pk)
    assert list(annotated.values()) == [
        {"id": c.pk, "full_name": "Ada", "email": "a@example.com", "vip": False, "n": 0}
    ]
    o = Order.objects.create(customer=c, number=7, reference="R-7")
    assert list(c.orders.values()) == [
        {"id": o.pk, "customer_id": c.pk, "number": 7, "reference": "R-7"}
    ]


def test_only_and_defer_accept_the_old_name_through_relations(side: str) -> None:
    c = Customer.objects.create(full_name="Ada")
    o = Order.objects.create(customer=c, number=1, reference="R-1")
    only = Customer.objects.only("name").get(pk=c.pk)
    assert "full_name" not in only.get_deferred_fields()
    assert "email" in only.get_deferred_fields()
    loaded = Order.objects.select_related("customer").only("ref", "customer__name").get(pk=o.pk)
    assert "reference" not in loaded.get_deferred_fields()
    assert "full_name" not in loaded.customer.get_deferred_fields()
    with CaptureQueriesContext(connection) as ctx:
        assert (loaded.ref, loaded.customer.name) == ("R-1", "Ada")
    assert ctx.captured_queries == []
