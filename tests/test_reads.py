"""Every ORM read path follows the read side.

Each test writes different values into the old and the new column with raw SQL, so a read that
used the wrong column shows the wrong value.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest
from django.core import serializers
from django.db.models import Count, Max, Q

from tests.apps.rename.forms import CustomerForm
from tests.apps.rename.models import Customer, Order, Tag
from tests.helpers import put

pytestmark = pytest.mark.django_db

# Old values sort in the reverse order of the new ones, so ordering shows which column was used.
OLD = {"ada": "Zed Ada", "bob": "Yon Bob", "cy": "Xu Cy", "dee": "Wu Dee"}
NEW = {"ada": "Ada Lovelace", "bob": "Bob Babbage", "cy": "Cy Young", "dee": None}


@dataclass
class World:
    side: str
    customers: dict[str, Customer]
    orders: dict[str, Order]

    def value(self, key: str) -> str | None:
        return (NEW if self.side == "new" else OLD)[key]

    def other(self, key: str) -> str | None:
        return (OLD if self.side == "new" else NEW)[key]

    def keys_of(self, customers) -> list[str]:
        by_pk = {c.pk: k for k, c in self.customers.items()}
        return [by_pk[c.pk] for c in customers]


@pytest.fixture
def world(side: str) -> World:
    customers = {}
    orders = {}
    for i, key in enumerate(OLD):
        c = Customer.objects.create(full_name="placeholder", email=f"{key}@example.com")
        put(Customer, c.pk, name=OLD[key], full_name=NEW[key])
        customers[key] = c
        order = Order.objects.create(customer=c, number=i, reference="same")
        put(Order, order.pk, ref=f"old-{key}", reference=f"new-{key}")
        orders[key] = order
    return World(side, customers, orders)


def test_attribute_access(world: World) -> None:
    for key, c in world.customers.items():
        assert Customer.objects.get(pk=c.pk).full_name == world.value(key)


def test_get(world: World) -> None:
    assert Customer.objects.get(full_name=world.value("ada")).pk == world.customers["ada"].pk
    with pytest.raises(Customer.DoesNotExist):
        Customer.objects.get(full_name=world.other("ada"))


@pytest.mark.parametrize(
    "lookup, arg, expected",
    [
        ("exact", lambda w: w.value("bob"), ["bob"]),
        ("iexact", lambda w: w.value("bob").upper(), ["bob"]),
        ("icontains", lambda w: w.value("cy")[1:4].lower(), ["cy"]),
        ("startswith", lambda w: w.value("ada")[:3], ["ada"]),
        ("in", lambda w: [w.value("ada"), w.value("cy"), w.other("bob")], ["ada", "cy"]),
    ],
)
def test_filter_lookups(world: World, lookup: str, arg, expected: list[str]) -> None:
    found = Customer.objects.filter(**{f"full_name__{lookup}": arg(world)})
    assert world.keys_of(found) == expected


def test_isnull(world: World) -> None:
    nulls = Customer.objects.filter(full_name__isnull=True)
    assert world.keys_of(nulls) == (["dee"] if world.side == "new" else [])


def test_exclude(world: World) -> None:
    rest = Customer.objects.exclude(full_name=world.value("ada")).exclude(full_name__isnull=True)
    expected = ["bob", "cy"] if world.side == "new" else ["bob", "cy", "dee"]
    assert world.keys_of(rest) == expected


def test_q_objects(world: World) -> None:
    found = Customer.objects.filter(
        Q(full_name=world.value("ada")) | Q(full_name__startswith=world.value("cy")[:2])
    )
    assert world.keys_of(found) == ["ada", "cy"]
    ada_or_bob = [world.customers["ada"].pk, world.customers["bob"].pk]
    found = Customer.objects.filter(~Q(full_name=world.value("bob")), pk__in=ada_or_bob)
    assert world.keys_of(found) == ["ada"]


def test_order_by(world: World) -> None:
    ordered = Customer.objects.exclude(pk=world.customers["dee"].pk).order_by("full_name")
    expected = ["ada", "bob", "cy"] if world.side == "new" else ["cy", "bob", "ada"]
    assert world.keys_of(ordered) == expected
    assert world.keys_of(ordered.reverse()) == expected[::-1]


def test_values_and_values_list(world: World) -> None:
    qs = Customer.objects.filter(pk=world.customers["ada"].pk)
    assert list(qs.values("full_name")) == [{"full_name": world.value("ada")}]
    assert list(qs.values_list("full_name", flat=True)) == [world.value("ada")]
    assert list(qs.values_list("id", "full_name")) == [
        (world.customers["ada"].pk, world.value("ada"))
    ]


def test_only_and_defer(world: World) -> None:
    pk = world.customers["bob"].pk
    assert Customer.objects.only("full_name").get(pk=pk).full_name == world.value("bob")
    assert Customer.objects.defer("email").get(pk=pk).full_name == world.value("bob")
    deferred = Customer.objects.defer("full_name").get(pk=pk)
    assert "full_name" in deferred.get_deferred_fields()
    assert deferred.full_name == world.value("bob")  # loaded on access


def test_refresh_from_db(world: World) -> None:
    c = Customer.objects.get(pk=world.customers["cy"].pk)
    put(Customer, c.pk, name="refreshed-old", full_name="refreshed-new")
    c.refresh_from_db()
    assert c.full_name == f"refreshed-{world.side}"
    put(Customer, c.pk, name="again-old", full_name="again-new")
    c.refresh_from_db(fields=["full_name"])
    assert c.full_name == f"again-{world.side}"


def test_annotate_and_aggregate(world: World) -> None:
    totals = Customer.objects.aggregate(n=Count("full_name"), top=Max("full_name"))
    assert totals == {
        "n": 3 if world.side == "new" else 4,
        "top": "Cy Young" if world.side == "new" else "Zed Ada",
    }
    grouped = (
        Customer.objects.filter(pk=world.customers["ada"].pk)
        .values("full_name")
        .annotate(orders=Count("orders"))
    )
    assert list(grouped) == [{"full_name": world.value("ada"), "orders": 1}]
    with_max = Order.objects.annotate(top=Max("customer__full_name")).get(
        pk=world.orders["ada"].pk
    )
    assert with_max.top == world.value("ada")


def test_filter_through_a_foreign_key(world: World) -> None:
    found = Order.objects.filter(customer__full_name=world.value("bob"))
    assert [o.pk for o in found] == [world.orders["bob"].pk]
    assert not Order.objects.filter(customer__full_name=world.other("bob")).exists()
    by_reference = Customer.objects.filter(orders__reference=f"{world.side}-cy")
    assert world.keys_of(by_reference) == ["cy"]


def test_select_related(world: World) -> None:
    orders = Order.objects.select_related("customer").order_by("pk")
    assert [o.customer.full_name for o in orders] == [world.value(k) for k in OLD]
    assert [o.reference for o in orders] == [f"{world.side}-{k}" for k in OLD]


def test_prefetch_related(world: World) -> None:
    orders = Order.objects.prefetch_related("customer").order_by("pk")
    assert [o.customer.full_name for o in orders] == [world.value(k) for k in OLD]
    customers = Customer.objects.prefetch_related("orders").order_by("pk")
    assert [[o.reference for o in c.orders.all()] for c in customers] == [
        [f"{world.side}-{k}"] for k in OLD
    ]
    tag = Tag.objects.create(slug="t")
    tag.customers.add(*world.customers.values())
    (loaded,) = Tag.objects.prefetch_related("customers")
    assert sorted(c.full_name or "" for c in loaded.customers.all()) == sorted(
        world.value(k) or "" for k in OLD
    )


def test_serializers(world: World) -> None:
    ada_and_bob = [world.customers["ada"].pk, world.customers["bob"].pk]
    out = json.loads(serializers.serialize("json", Customer.objects.filter(pk__in=ada_and_bob)))
    assert [row["fields"]["full_name"] for row in out] == [world.value("ada"), world.value("bob")]
    # The hidden companion is not part of the model's public shape.
    assert set(out[0]["fields"]) == {"full_name", "email", "vip"}


def test_model_form(world: World) -> None:
    c = Customer.objects.get(pk=world.customers["ada"].pk)
    form = CustomerForm(instance=c)
    assert form.initial["full_name"] == world.value("ada")
    assert f'value="{world.value("ada")}"' in str(form["full_name"])
    assert list(form.fields) == ["full_name", "email"]
    bound = CustomerForm({"full_name": "Edited", "email": "e@x"}, instance=c)
    assert bound.is_valid(), bound.errors
    bound.save()
    from tests.helpers import columns

    assert columns(Customer, c.pk, "name", "full_name") == ("Edited", "Edited")


@pytest.fixture
def admin_client_logged_in(client, django_user_model):
    user = django_user_model.objects.create_superuser("admin", "admin@example.com", "pw")
    client.force_login(user)
    return client


def _changelist_names(response, world: World) -> list[str]:
    body = response.content.decode()
    start = body.index('id="result_list"')
    body = body[start : body.index("</table>", start)]
    present = [(body.find(f">{world.value(k)}<"), k) for k in OLD if world.value(k)]
    return [k for pos, k in sorted(present) if pos >= 0]


def test_admin_changelist_ordering(world: World, admin_client_logged_in) -> None:
    response = admin_client_logged_in.get("/admin/rename/customer/")
    assert response.status_code == 200
    expected = ["ada", "bob", "cy"] if world.side == "new" else ["dee", "cy", "bob", "ada"]
    assert _changelist_names(response, world) == expected
    for key in OLD:
        if world.other(key):
            assert f">{world.other(key)}<" not in response.content.decode()


def test_admin_search(world: World, admin_client_logged_in) -> None:
    term = world.value("bob").split()[0]
    response = admin_client_logged_in.get("/admin/rename/customer/", {"q": term})
    assert response.status_code == 200
    assert response.context["cl"].result_count == 1
    assert _changelist_names(response, world) == ["bob"]
    other_term = world.other("bob")
    response = admin_client_logged_in.get("/admin/rename/customer/", {"q": other_term})
    assert response.context["cl"].result_count == 0


def test_admin_list_filter(world: World, admin_client_logged_in) -> None:
    response = admin_client_logged_in.get(
        "/admin/rename/customer/", {"full_name": world.value("cy")}
    )
    assert response.status_code == 200
    assert response.context["cl"].result_count == 1
    choices = [
        c["display"]
        for spec in response.context["cl"].filter_specs
        for c in spec.choices(response.context["cl"])
    ]
    assert world.value("cy") in choices
    assert world.other("cy") not in choices
