"""The demo shop's own tests. They pass whichever side its three transitions read from; from the
repository root, each test runs once per side:

    .venv/bin/python -m pytest --flagschema-read=both demo_project/tests

(``--flagschema-read=old`` or ``new`` runs them once, on that side; without the option they
read what the switches say, which in a fresh test database is old.)
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from django.db import connection
from django.db.models import F
from django.test import Client, TestCase
from waffle.models import Switch

import flagschema
from flagschema.runbook.flip import flip
from shop.models import Customer, Order, Product

LABELS = ("shop.Customer.name_split", "shop.Product.price", "shop.Order.reference")


def rows(sql: str) -> list[tuple[Any, ...]]:
    """The table as stored, by raw SQL: both shapes, whatever the read side."""
    with connection.cursor() as cursor:
        cursor.execute(sql)
        return [tuple(row) for row in cursor.fetchall()]


def sides() -> dict[str, str]:
    """The side each transition reads from here: the pin of the run, or the switch."""
    return {label: flagschema.registry[label].read_side() for label in LABELS}


@pytest.fixture
def shop(db: None) -> dict[str, Any]:
    """What the new code writes: every ORM write stores both shapes."""
    ada = Customer.objects.create(first_name="Ada", last_name="Lovelace", email="ada@example.com")
    grace = Customer.objects.create(first_name="Grace", last_name="", email="grace@example.com")
    mug = Product.objects.create(sku="MUG-1", title="Mug", price=Decimal("12.50"))
    pen = Product.objects.create(sku="PEN-1", title="Pen", price=Decimal("3.49"))
    Order.objects.create(reference=1001, customer=ada, product=mug, quantity=2)
    Order.objects.create(reference=1002, customer=grace, product=pen, quantity=1)
    return {"ada": ada, "grace": grace, "mug": mug, "pen": pen}


def test_the_shop_page_shows_names_prices_and_references(client: Client, shop: Any) -> None:
    page = client.get("/").content.decode()

    for cell in ("Ada", "Lovelace", "Grace", "MUG-1", "12.50", "3.49", "1001", "1002"):
        assert f"<td>{cell}</td>" in page
    assert "<td>Ada Lovelace</td>" in page  # an order's customer
    assert "<td>28.49</td>" in page  # 2 x 12.50 + 3.49
    # Each table names the side its fields were read from in this request.
    for label, side in sides().items():
        columns = flagschema.registry[label].new_columns if side == "new" else ()
        assert f'<strong class="side-{side}">{side}</strong>' in page
        for column in columns:
            assert column in page


def test_writes_store_both_shapes(shop: Any) -> None:
    assert rows("SELECT name, first_name, last_name FROM shop_customer ORDER BY id") == [
        ("Ada Lovelace", "Ada", "Lovelace"),
        ("Grace", "Grace", ""),
    ]
    assert rows("SELECT price_cents, price FROM shop_product ORDER BY id") in (
        [(1250, Decimal("12.50")), (349, Decimal("3.49"))],
        [(1250, 12.5), (349, 3.49)],  # SQLite's raw decimals are floats
    )
    assert rows("SELECT number, reference FROM shop_order ORDER BY id") == [
        (1001, 1001),
        (1002, 1002),
    ]


def test_filters_ordering_and_old_names(shop: Any) -> None:
    assert Customer.objects.get(last_name="Lovelace") == shop["ada"]
    assert Customer.objects.get(name="Ada Lovelace") == shop["ada"]  # the old name
    assert list(Customer.objects.order_by("first_name").values_list("first_name", flat=True)) == [
        "Ada",
        "Grace",
    ]
    assert list(Product.objects.filter(price__gt=5).values_list("sku", flat=True)) == ["MUG-1"]
    assert Product.objects.get(sku="PEN-1").price_cents == 349
    assert Order.objects.get(reference=1002).customer == shop["grace"]
    assert Order.objects.get(number=1001).reference == 1001  # the old name
    assert list(
        Order.objects.filter(customer__last_name="Lovelace").values_list("reference", flat=True)
    ) == [1001]
    assert list(Order.objects.order_by("-product__price").values_list("reference", flat=True)) == [
        1001,
        1002,
    ]


def test_updates_store_both_shapes(shop: Any) -> None:
    Customer.objects.filter(pk=shop["grace"].pk).update(first_name="Grace", last_name="Hopper")
    Product.objects.update(price=F("price") * 2)
    order = Order.objects.get(reference=1002)
    order.reference = 2002
    order.save()

    assert Customer.objects.get(pk=shop["grace"].pk).last_name == "Hopper"
    assert rows("SELECT name FROM shop_customer ORDER BY id") == [
        ("Ada Lovelace",),
        ("Grace Hopper",),
    ]
    assert list(Product.objects.values_list("price", flat=True)) == [
        Decimal("25.00"),
        Decimal("6.98"),
    ]
    assert rows("SELECT price_cents FROM shop_product ORDER BY id") == [(2500,), (698,)]
    assert rows("SELECT number, reference FROM shop_order ORDER BY id") == [
        (1001, 1001),
        (2002, 2002),
    ]


def test_admin_search_and_ordering_follow_the_read_side(admin_client: Client, shop: Any) -> None:
    page = admin_client.get("/admin/shop/customer/", {"q": "Lovelace"}).content.decode()
    assert "ada@example.com" in page
    assert "grace@example.com" not in page

    page = admin_client.get("/admin/shop/order/", {"q": "Lovelace"}).content.decode()
    assert "1001" in page
    assert "1002" not in page

    # The product list is ordered by price: the pen first.
    page = admin_client.get("/admin/shop/product/").content.decode()
    assert page.index("PEN-1") < page.index("MUG-1")


class OrderLookupTests(TestCase):
    """A Django TestCase: under --flagschema-read=both pytest runs each method once per side too
    (test_x[flagschema-old], test_x[flagschema-new])."""

    @classmethod
    def setUpTestData(cls) -> None:
        ada = Customer.objects.create(first_name="Ada", last_name="Lovelace")
        mug = Product.objects.create(sku="MUG-1", title="Mug", price=Decimal("12.50"))
        Order.objects.create(reference=1001, customer=ada, product=mug, quantity=3)

    def test_order_by_reference(self) -> None:
        order = Order.objects.select_related("customer", "product").get(reference=1001)
        self.assertEqual(str(order), "Order 1001")
        self.assertEqual(str(order.customer), "Ada Lovelace")
        self.assertEqual(order.product.price * order.quantity, Decimal("37.50"))

    def test_new_order(self) -> None:
        order = Order.objects.create(
            reference=1002,
            customer=Customer.objects.get(first_name="Ada"),
            product=Product.objects.get(sku="MUG-1"),
        )
        self.assertEqual(Order.objects.filter(reference__gt=1000).count(), 2)
        self.assertEqual(rows(f"SELECT number FROM shop_order WHERE id = {order.pk}"), [(1002,)])


@pytest.mark.flagschema_unpinned
def test_flipping_a_switch_changes_the_page(client: Client, shop: Any) -> None:
    """Flips the switches itself, so the run's pin must not decide its reads."""
    for label in LABELS:
        flip(flagschema.registry[label], "new", reason="test")
    assert set(sides().values()) == {"new"}
    assert client.get("/").content.decode().count('<strong class="side-new">new</strong>') == 3

    for label in LABELS:
        flip(flagschema.registry[label], "old", reason="test")
    assert set(sides().values()) == {"old"}
    assert Switch.objects.filter(active=False).count() == 3
