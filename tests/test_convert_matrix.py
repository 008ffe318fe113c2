"""The ORM matrix for ``ConvertedField``, on both read sides.

``Product.price`` (Decimal) converts from ``price_cents`` (integer) with SQL expressions both
ways; ``Product.stock`` (integer) converts from ``stock_text`` (text) with Python transforms
only, so on the old side a filter, an ordering or an aggregate on it is refused (README, "Type
changes"). ``LineItem`` points at ``Product`` for the paths that cross a relation.

Writes: after each one, raw SQL shows both shapes stored and agreeing.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from django.db import connection, transaction
from django.db.models import F

import flagschema
from tests.apps.convert.forms import ProductForm
from tests.apps.convert.models import LineItem, Product, price_to_cents
from tests.helpers import all_rows, columns, put

pytestmark = pytest.mark.django_db

CENT = Decimal("0.01")
SHAPES = ("price_cents", "price", "stock_text", "stock")

# --- what is stored ------------------------------------------------------------------------


def stored(pk: Any) -> tuple[Any, ...]:
    """The raw (price_cents, price, stock_text, stock) of row *pk*."""
    cents, price, text, stock = columns(Product, pk, *SHAPES)
    return cents, _decimal(price), text, stock


def _decimal(value: Any) -> Decimal | None:
    # SQLite hands back a float for a decimal column.
    return None if value is None else Decimal(str(value)).quantize(CENT)


def shapes(price: str | Decimal, stock: int | None) -> tuple[Any, ...]:
    """Both shapes of a logical (price, stock), as every write must store them."""
    value = Decimal(price).quantize(CENT)
    return price_to_cents(value), value, None if stock is None else str(stock), stock


def stored_rows() -> list[tuple[Any, ...]]:
    return [(c, _decimal(p), t, s) for _, c, p, t, s in all_rows(Product, *SHAPES)]


# --- writes --------------------------------------------------------------------------------


def test_create(side: str) -> None:
    p = Product.objects.create(sku="a", price=Decimal("12.34"), stock=7)
    assert stored(p.pk) == shapes("12.34", 7)
    without_stock = Product.objects.create(sku="b", price=Decimal("0.05"))
    assert stored(without_stock.pk) == shapes("0.05", None)
    defaults = Product.objects.create(sku="c")
    assert stored(defaults.pk) == shapes("0", None)


def test_create_through_the_old_names(side: str) -> None:
    p = Product.objects.create(sku="a", price_cents=1999, stock_text="12")
    assert (p.price, p.stock) == (Decimal("19.99"), 12)
    assert stored(p.pk) == shapes("19.99", 12)


def test_save_of_a_loaded_instance(side: str) -> None:
    p = Product.objects.create(sku="a", price=Decimal("1.00"), stock=1)
    loaded = Product.objects.get(pk=p.pk)
    loaded.price = Decimal("99.95")
    loaded.stock = 0
    loaded.save()
    assert stored(p.pk) == shapes("99.95", 0)
    loaded.stock = None
    loaded.save()
    assert stored(p.pk) == shapes("99.95", None)


def test_save_through_the_old_names(side: str) -> None:
    p = Product.objects.create(sku="a", price=Decimal("1.00"), stock=1)
    loaded = Product.objects.get(pk=p.pk)
    loaded.price_cents = 250
    loaded.stock_text = "3"
    assert (loaded.price, loaded.stock) == (Decimal("2.50"), 3)
    loaded.save()
    assert stored(p.pk) == shapes("2.50", 3)


@pytest.mark.parametrize(
    "named, price, stock",
    [
        ("price", "2.00", 1),
        ("price_cents", "2.00", 1),
        ("stock", "1.00", 2),
        ("stock_text", "1.00", 2),
    ],
)
def test_save_with_update_fields_writes_both_columns(
    side: str, named: str, price: str, stock: int
) -> None:
    p = Product.objects.create(sku="before", price=Decimal("1.00"), stock=1)
    p.sku = "after"
    p.price = Decimal("2.00")
    p.stock = 2
    p.save(update_fields=[named])
    assert stored(p.pk) == shapes(price, stock)
    assert columns(Product, p.pk, "sku") == ("before",)


def test_save_of_an_instance_loaded_with_only_or_defer(side: str) -> None:
    p = Product.objects.create(sku="a", price=Decimal("1.00"), stock=1)
    partial = Product.objects.only("price").get(pk=p.pk)
    partial.price = Decimal("3.00")
    partial.save()  # Django saves only the loaded fields here
    assert stored(p.pk) == shapes("3.00", 1)
    deferred = Product.objects.defer("price", "stock").get(pk=p.pk)
    deferred.stock = 5
    deferred.save()
    assert stored(p.pk) == shapes("3.00", 5)


def test_get_or_create(side: str) -> None:
    p, created = Product.objects.get_or_create(
        sku="a", defaults={"price": Decimal("2.50"), "stock": 4}
    )
    assert created
    assert stored(p.pk) == shapes("2.50", 4)
    # Looked up by the converted field: forward_sql on the old side.
    again, created = Product.objects.get_or_create(price=Decimal("2.50"), defaults={"sku": "x"})
    assert not created and again.pk == p.pk
    by_old_name, created = Product.objects.get_or_create(sku="b", price_cents=99)
    assert created and by_old_name.price == Decimal("0.99")
    assert stored(by_old_name.pk) == shapes("0.99", None)


def test_update_or_create(side: str) -> None:
    p, created = Product.objects.update_or_create(
        sku="a", defaults={"price": Decimal("1.00"), "stock": 1}
    )
    assert created
    assert stored(p.pk) == shapes("1.00", 1)
    same, created = Product.objects.update_or_create(
        sku="a", defaults={"price": Decimal("7.77"), "stock": 8}
    )
    assert not created and same.pk == p.pk
    assert stored(p.pk) == shapes("7.77", 8)
    Product.objects.update_or_create(sku="a", defaults={"price_cents": 1050, "stock_text": "9"})
    assert stored(p.pk) == shapes("10.50", 9)


def test_bulk_create(side: str) -> None:
    made = Product.objects.bulk_create(
        [Product(sku=f"p{i}", price=Decimal(i) / 4, stock=i) for i in range(4)]
        + [Product(sku="by-old-names", price_cents=125, stock_text="5")]
    )
    assert len(made) == 5
    assert stored_rows() == [shapes(Decimal(i) / 4, i) for i in range(4)] + [shapes("1.25", 5)]


def test_bulk_create_with_update_conflicts(side: str) -> None:
    p = Product.objects.create(sku="a", price=Decimal("1.00"), stock=1)
    options: dict[str, Any] = {"update_conflicts": True, "update_fields": ["price", "stock"]}
    if connection.features.supports_update_conflicts_with_target:
        options["unique_fields"] = ["id"]
    Product.objects.bulk_create(
        [
            Product(pk=p.pk, sku="a", price=Decimal("6.50"), stock=6),
            Product(sku="b", price=Decimal("0.10"), stock=0),
        ],
        **options,
    )
    assert stored(p.pk) == shapes("6.50", 6)
    assert sorted(stored_rows()) == [shapes("0.10", 0), shapes("6.50", 6)]


def test_bulk_update(side: str) -> None:
    Product.objects.bulk_create(
        [Product(sku=f"p{i}", price=Decimal(i), stock=i) for i in range(3)]
    )
    objs = list(Product.objects.order_by("id"))
    for i, obj in enumerate(objs):
        obj.price = Decimal(i) + Decimal("0.25")
        obj.stock = i * 10
    assert Product.objects.bulk_update(objs, ["price", "stock"]) == 3
    assert stored_rows() == [shapes(Decimal(i) + Decimal("0.25"), i * 10) for i in range(3)]
    for obj in objs:
        obj.price += 1
        obj.stock = -1  # not named below: not written
    Product.objects.bulk_update(objs, ["price"], batch_size=2)
    assert stored_rows() == [shapes(Decimal(i) + Decimal("1.25"), i * 10) for i in range(3)]


def test_bulk_update_naming_the_old_names(side: str) -> None:
    p = Product.objects.create(sku="a", price=Decimal("12.34"), stock=7)
    loaded = Product.objects.get(pk=p.pk)
    loaded.price_cents = 250
    loaded.stock_text = "3"
    assert (loaded.price, loaded.stock) == (Decimal("2.50"), 3)
    Product.objects.bulk_update([loaded], ["price_cents", "stock_text"])
    assert stored(p.pk) == shapes("2.50", 3)


def test_update_with_a_value(side: str) -> None:
    a = Product.objects.create(sku="a", price=Decimal("1.00"), stock=1)
    b = Product.objects.create(sku="b", price=Decimal("2.00"), stock=2)
    assert Product.objects.filter(pk=a.pk).update(price=Decimal("4.20"), stock=3) == 1
    assert stored(a.pk) == shapes("4.20", 3)
    assert stored(b.pk) == shapes("2.00", 2)
    # Filtered on the converted field (forward_sql on the old side).
    assert Product.objects.filter(price__gt=Decimal("3")).update(price=Decimal("0.01")) == 1
    assert stored(a.pk) == shapes("0.01", 3)
    assert Product.objects.update(stock=None) == 2
    assert stored_rows() == [shapes("0.01", None), shapes("2.00", None)]


def test_update_naming_the_old_names(side: str) -> None:
    p = Product.objects.create(sku="a", price=Decimal("12.34"), stock=7)
    assert Product.objects.filter(pk=p.pk).update(price_cents=250, stock_text="3") == 1
    assert stored(p.pk) == shapes("2.50", 3)


def test_update_with_an_f_expression(side: str) -> None:
    p = Product.objects.create(sku="a", price=Decimal("12.34"), stock=2)
    Product.objects.filter(pk=p.pk).update(price=F("price") * 2)
    assert stored(p.pk) == shapes("24.68", 2)
    Product.objects.update(price=F("price") + Decimal("0.32"))
    assert stored(p.pk) == shapes("25.00", 2)
    Product.objects.filter(price__gte=Decimal("25")).update(price=F("price") - Decimal("5"))
    assert stored(p.pk) == shapes("20.00", 2)


def test_update_with_an_f_expression_reads_the_read_side(side: str) -> None:
    p = Product.objects.create(sku="a", price=Decimal("1.00"), stock=2)
    put(Product, p.pk, price_cents=1000, price=Decimal("20.00"))  # the shapes disagree
    Product.objects.update(price=F("price") + Decimal("1"))
    assert stored(p.pk) == shapes("11.00" if side == "old" else "21.00", 2)


def test_update_of_stock_with_an_f_expression_is_refused(side: str) -> None:
    """``stock`` has no backward_sql: README, "Type changes"."""
    p = Product.objects.create(sku="a", price=Decimal("1.00"), stock=2)
    with pytest.raises(flagschema.TransitionError, match="backward_sql"), transaction.atomic():
        Product.objects.update(stock=F("stock") + 1)
    assert stored(p.pk) == shapes("1.00", 2)


def test_update_filtered_across_the_relation(side: str) -> None:
    a = Product.objects.create(sku="a", price=Decimal("1.00"), stock=1)
    b = Product.objects.create(sku="b", price=Decimal("2.00"), stock=2)
    LineItem.objects.create(product=a, quantity=5)
    LineItem.objects.create(product=b, quantity=1)
    assert Product.objects.filter(line_items__quantity__gte=5).update(price=Decimal("9.00")) == 1
    assert stored(a.pk) == shapes("9.00", 1)
    assert Product.objects.filter(line_items__quantity__lt=5).update(price=F("price") * 3) == 1
    assert stored(b.pk) == shapes("6.00", 2)


def test_writes_through_the_related_manager(side: str) -> None:
    """``LineItem`` has no converted field: ``product.line_items`` writes line items and leaves
    the product's two shapes as they were; the product reached through an item, and the base
    manager that related descriptors use, write both shapes."""
    p = Product.objects.create(sku="p", price=Decimal("5.00"), stock=5)
    other = Product.objects.create(sku="o", price=Decimal("1.00"), stock=1)
    first = p.line_items.create(quantity=2)
    second, created = p.line_items.get_or_create(quantity=3)
    assert created
    p.line_items.update_or_create(pk=first.pk, defaults={"quantity": 4})
    assert p.line_items.update(quantity=F("quantity") + 1) == 2
    items = list(p.line_items.order_by("pk"))
    for item in items:
        item.quantity *= 10
    p.line_items.bulk_update(items, ["quantity"])
    moved = LineItem.objects.create(product=other, quantity=7)
    p.line_items.add(moved)
    assert [row[1:] for row in all_rows(LineItem, "product_id", "quantity")] == [
        (p.pk, 50),
        (p.pk, 40),
        (p.pk, 7),
    ]
    # The products' own rows are as written.
    assert stored(p.pk) == shapes("5.00", 5)
    assert stored(other.pk) == shapes("1.00", 1)
    item = LineItem.objects.get(pk=second.pk)
    item.product.price = Decimal("6.00")
    item.product.stock = 6
    item.product.save()
    assert stored(p.pk) == shapes("6.00", 6)
    # Related descriptors load through the base manager, which writes both shapes too.
    Product._base_manager.filter(line_items=item).update(price=Decimal("6.50"))
    assert stored(p.pk) == shapes("6.50", 6)


def test_model_form_save(side: str) -> None:
    form = ProductForm({"sku": "f", "price": "12.34", "stock": "5"})
    assert form.is_valid(), form.errors
    p = form.save()
    assert stored(p.pk) == shapes("12.34", 5)
    edit = ProductForm(
        {"sku": "f", "price": "0.99", "stock": "6"}, instance=Product.objects.get(pk=p.pk)
    )
    assert edit.is_valid(), edit.errors
    edit.save()
    assert stored(p.pk) == shapes("0.99", 6)


def test_admin_add_and_change(side: str, admin_client) -> None:
    response = admin_client.post(
        "/admin/convert/product/add/", {"sku": "adm", "price": "3.21", "stock": "4"}
    )
    assert response.status_code == 302, response.content.decode()
    p = Product.objects.get(sku="adm")
    assert stored(p.pk) == shapes("3.21", 4)
    url = f"/admin/convert/product/{p.pk}/change/"
    response = admin_client.post(url, {"sku": "adm", "price": "4.32", "stock": "5"})
    assert response.status_code == 302, response.content.decode()
    assert stored(p.pk) == shapes("4.32", 5)
