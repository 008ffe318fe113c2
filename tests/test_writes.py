"""Every ORM write path stores both columns, whichever side reads come from."""

from __future__ import annotations

import pytest
from django.db.models import F, Value
from django.db.models.functions import Concat, Upper

from tests.apps.rename.models import Customer, Order, Tag
from tests.helpers import all_rows, columns, put

pytestmark = pytest.mark.django_db


def both(pk: int) -> tuple[str, str]:
    return columns(Customer, pk, "name", "full_name")


def assert_all_agree() -> None:
    for _, old, new in all_rows(Customer, "name", "full_name"):
        assert old == new


def test_create(side: str) -> None:
    c = Customer.objects.create(full_name="Ada Lovelace")
    assert both(c.pk) == ("Ada Lovelace", "Ada Lovelace")


def test_create_through_the_old_name(side: str) -> None:
    c = Customer.objects.create(name="Ada Lovelace")
    assert c.full_name == "Ada Lovelace"
    assert both(c.pk) == ("Ada Lovelace", "Ada Lovelace")


def test_save_of_a_loaded_instance(side: str) -> None:
    c = Customer.objects.create(full_name="Ada")
    loaded = Customer.objects.get(pk=c.pk)
    loaded.full_name = "Ada Lovelace"
    loaded.save()
    assert both(c.pk) == ("Ada Lovelace", "Ada Lovelace")


def test_save_through_the_alias_attribute(side: str) -> None:
    c = Customer.objects.create(full_name="Ada")
    c.name = "Ada King"
    c.save()
    assert both(c.pk) == ("Ada King", "Ada King")


@pytest.mark.parametrize("named", ["full_name", "name"])
def test_save_with_update_fields_writes_both_columns(side: str, named: str) -> None:
    c = Customer.objects.create(full_name="Ada", email="a@example.com")
    c.full_name = "Ada Lovelace"
    c.email = "changed@example.com"
    c.save(update_fields=[named])
    assert both(c.pk) == ("Ada Lovelace", "Ada Lovelace")
    assert columns(Customer, c.pk, "email") == ("a@example.com",)


def test_save_of_an_instance_loaded_with_only(side: str) -> None:
    c = Customer.objects.create(full_name="Ada")
    partial = Customer.objects.only("full_name").get(pk=c.pk)
    partial.full_name = "Ada Lovelace"
    partial.save()  # Django saves only the loaded fields here
    assert both(c.pk) == ("Ada Lovelace", "Ada Lovelace")


def test_get_or_create(side: str) -> None:
    c, created = Customer.objects.get_or_create(full_name="Ada", defaults={"email": "a@x"})
    assert created
    again, created = Customer.objects.get_or_create(full_name="Ada")
    assert not created and again.pk == c.pk
    by_alias, created = Customer.objects.get_or_create(name="Bob")
    assert created
    assert both(c.pk) == ("Ada", "Ada")
    assert both(by_alias.pk) == ("Bob", "Bob")


def test_update_or_create(side: str) -> None:
    c, created = Customer.objects.update_or_create(email="a@x", defaults={"full_name": "Ada"})
    assert created and both(c.pk) == ("Ada", "Ada")
    c2, created = Customer.objects.update_or_create(
        email="a@x", defaults={"full_name": "Ada Lovelace"}
    )
    assert not created and c2.pk == c.pk
    assert both(c.pk) == ("Ada Lovelace", "Ada Lovelace")
    Customer.objects.update_or_create(email="a@x", defaults={"name": "Ada King"})
    assert both(c.pk) == ("Ada King", "Ada King")


def test_bulk_create(side: str) -> None:
    made = Customer.objects.bulk_create(
        [Customer(full_name=f"c{i}") for i in range(5)] + [Customer(name="by alias")]
    )
    assert len(made) == 6
    rows = all_rows(Customer, "name", "full_name")
    assert [(old, new) for _, old, new in rows] == [(f"c{i}", f"c{i}") for i in range(5)] + [
        ("by alias", "by alias")
    ]


def test_bulk_update(side: str) -> None:
    Customer.objects.bulk_create([Customer(full_name=f"c{i}") for i in range(3)])
    objs = list(Customer.objects.all())
    for obj in objs:
        obj.full_name = obj.full_name.upper()
    assert Customer.objects.bulk_update(objs, ["full_name"]) == 3
    assert [(o, n) for _, o, n in all_rows(Customer, "name", "full_name")] == [
        ("C0", "C0"),
        ("C1", "C1"),
        ("C2", "C2"),
    ]
    for obj in objs:
        obj.name = obj.full_name + "!"
    Customer.objects.bulk_update(objs, ["name"])
    assert_all_agree()
    assert all(o.endswith("!") for _, o, _ in all_rows(Customer, "name", "full_name"))


def test_update_with_a_value(side: str) -> None:
    c = Customer.objects.create(full_name="Ada")
    assert Customer.objects.filter(pk=c.pk).update(full_name="Ada Lovelace") == 1
    assert both(c.pk) == ("Ada Lovelace", "Ada Lovelace")
    Customer.objects.filter(pk=c.pk).update(name="Ada King")
    assert both(c.pk) == ("Ada King", "Ada King")


def test_update_with_an_f_expression(side: str) -> None:
    c = Customer.objects.create(full_name="Ada", email="ada@example.com")
    Customer.objects.filter(pk=c.pk).update(full_name=F("email"))
    assert both(c.pk) == ("ada@example.com", "ada@example.com")
    Customer.objects.update(full_name=Concat(F("full_name"), Value("!")))
    assert both(c.pk) == ("ada@example.com!", "ada@example.com!")
    Customer.objects.update(full_name=Upper("name"))
    assert both(c.pk) == ("ADA@EXAMPLE.COM!", "ADA@EXAMPLE.COM!")


def test_update_from_the_read_side_copies_it_to_both(side: str) -> None:
    """An F() of the field reads the read side: after the update both columns hold it."""
    c = Customer.objects.create(full_name="same")
    put(Customer, c.pk, name="from-old", full_name="from-new")
    Customer.objects.update(full_name=Concat(F("full_name"), Value(".")))
    assert both(c.pk) == (f"from-{side}.", f"from-{side}.")


def test_update_on_a_custom_manager(side: str) -> None:
    Customer.objects.create(full_name="Ada", vip=True)
    Customer.objects.create(full_name="Bob", vip=False)
    assert Customer.vips.update(full_name="VIP") == 1
    assert Customer.objects.named("Bob").update(full_name="Robert") == 1
    assert [(o, n) for _, o, n in all_rows(Customer, "name", "full_name")] == [
        ("VIP", "VIP"),
        ("Robert", "Robert"),
    ]


def test_update_and_bulk_update_on_related_managers(side: str) -> None:
    ada = Customer.objects.create(full_name="Ada")
    Order.objects.create(customer=ada, number=1, reference="r1")
    Order.objects.create(customer=ada, number=2, reference="r2")
    assert ada.orders.update(reference="changed") == 2
    assert [(o, n) for _, o, n in all_rows(Order, "ref", "reference")] == [
        ("changed", "changed")
    ] * 2
    orders = list(ada.orders.all())
    for order in orders:
        order.reference = f"#{order.number}"
    ada.orders.bulk_update(orders, ["reference"])
    assert [(o, n) for _, o, n in all_rows(Order, "ref", "reference")] == [
        ("#1", "#1"),
        ("#2", "#2"),
    ]
    tag = Tag.objects.create(slug="t")
    tag.customers.add(ada)
    assert tag.customers.update(full_name="Tagged") == 1
    assert both(ada.pk) == ("Tagged", "Tagged")
    assert ada.tags.update(slug="u") == 1
    assert columns(Tag, tag.pk, "code", "slug") == ("u", "u")


def test_create_through_a_related_manager(side: str) -> None:
    ada = Customer.objects.create(full_name="Ada")
    order = ada.orders.create(number=1, ref="by-old-name")
    assert columns(Order, order.pk, "ref", "reference") == ("by-old-name", "by-old-name")


def test_base_manager_update_writes_both(side: str) -> None:
    c = Customer.objects.create(full_name="Ada")
    Customer._base_manager.filter(pk=c.pk).update(full_name="Base")
    assert both(c.pk) == ("Base", "Base")


def test_loaddata_writes_both_columns(side: str, tmp_path) -> None:
    """Fixtures are saved raw (no pre_save): the old column must still get the value."""
    from django.core import serializers
    from django.core.management import call_command

    c = Customer.objects.create(full_name="Ada Lovelace", email="ada@example.com")
    fixture = tmp_path / "customers.json"
    fixture.write_text(serializers.serialize("json", Customer.objects.all()))
    Customer.objects.all().delete()
    call_command("loaddata", str(fixture), verbosity=0)
    assert both(c.pk) == ("Ada Lovelace", "Ada Lovelace")
