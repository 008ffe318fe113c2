"""The old name keeps working as an alias of the logical field."""

from __future__ import annotations

import pytest

from tests.apps.rename.models import Customer, Order
from tests.helpers import columns, put

pytestmark = pytest.mark.django_db


def test_attribute_access_reads_and_writes_the_logical_field(side: str) -> None:
    c = Customer(full_name="Ada")
    assert c.name == "Ada"
    c.name = "Ada Lovelace"
    assert c.full_name == "Ada Lovelace"


def test_create_kwargs(side: str) -> None:
    c = Customer.objects.create(name="Ada", email="a@x")
    assert Customer.objects.get(pk=c.pk).full_name == "Ada"


def test_filter_order_by_and_values_follow_the_read_side(side: str) -> None:
    a = Customer.objects.create(full_name="x")
    b = Customer.objects.create(full_name="x")
    put(Customer, a.pk, name="b-old", full_name="a-new")
    put(Customer, b.pk, name="a-old", full_name="b-new")
    expected_a = f"{'a' if side == 'new' else 'b'}-{side}"
    assert list(Customer.objects.filter(name=expected_a)) == [a]
    assert list(Customer.objects.filter(name__startswith=expected_a[:1])) == [a]
    assert [c.pk for c in Customer.objects.order_by("name")] == (
        [a.pk, b.pk] if side == "new" else [b.pk, a.pk]
    )
    assert list(Customer.objects.filter(pk=a.pk).values("name")) == [{"name": expected_a}]
    assert list(Customer.objects.filter(pk=a.pk).values_list("name", flat=True)) == [expected_a]
    assert Customer.objects.get(pk=a.pk).name == expected_a


def test_alias_through_a_foreign_key(side: str) -> None:
    c = Customer.objects.create(name="Ada")
    order = Order.objects.create(customer=c, number=1, ref="R-1")
    assert list(Order.objects.filter(customer__name="Ada")) == [order]
    assert list(Order.objects.filter(ref="R-1")) == [order]
    assert Order.objects.get(pk=order.pk).ref == "R-1"


def test_the_companion_is_hidden_from_the_model_shape() -> None:
    meta = Customer._meta
    assert meta.get_field("name") is meta.get_field("full_name")
    hidden = [f for f in meta.concrete_fields if f.name == "name"]
    assert len(hidden) == 1
    assert hidden[0].attname.startswith("_flagschema_")
    assert not hidden[0].editable and not hidden[0].serialize


def test_pickled_querysets_and_fields_keep_both_fields(side: str) -> None:
    import pickle

    companion = next(f for f in Customer._meta.concrete_fields if f.name == "name")
    assert pickle.loads(pickle.dumps(companion)) is companion
    logical = Customer._meta.get_field("full_name")
    assert pickle.loads(pickle.dumps(logical)) is logical
    c = Customer.objects.create(full_name="x")
    put(Customer, c.pk, name="pickled-old", full_name="pickled-new")
    qs = pickle.loads(pickle.dumps(Customer.objects.filter(pk=c.pk)))
    (loaded,) = qs
    assert loaded.full_name == f"pickled-{side}"
    assert getattr(loaded, companion.attname) == f"pickled-{'old' if side == 'new' else 'new'}"
    qs.update(full_name="after")  # and still writes both columns
    assert columns(Customer, c.pk, "name", "full_name") == ("after", "after")
