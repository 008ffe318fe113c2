"""ConvertedField: a type change behind a flag (issue 3, first part).

``Product.price`` (Decimal) converts from ``price_cents`` (integer) with SQL expressions both
ways; ``Product.stock`` (integer) converts from ``stock_text`` (text) with Python transforms
only. Raw SQL shows what is stored.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import connection, transaction
from django.db.models import Count, F, Max
from django.test.utils import CaptureQueriesContext

import flagschema
from tests.apps.convert.models import Product
from tests.helpers import columns, put

pytestmark = pytest.mark.django_db


def stored(product: Product) -> tuple:
    cents, price, text, stock = columns(
        Product, product.pk, "price_cents", "price", "stock_text", "stock"
    )
    if price is not None:  # SQLite hands back a float
        price = Decimal(str(price)).quantize(Decimal("0.01"))
    return cents, price, text, stock


def test_every_write_path_stores_both_shapes(side: str) -> None:
    a = Product.objects.create(sku="a", price=Decimal("12.34"), stock=7)
    assert stored(a) == (1234, Decimal("12.34"), "7", 7)
    a.price = Decimal("1.05")
    a.save()
    assert stored(a)[:2] == (105, Decimal("1.05"))
    b, _ = Product.objects.get_or_create(sku="b", defaults={"price": Decimal("2.50")})
    assert stored(b)[:2] == (250, Decimal("2.50"))
    Product.objects.update_or_create(sku="b", defaults={"price": Decimal("3.00"), "stock": 1})
    assert stored(b) == (300, Decimal("3.00"), "1", 1)
    c, d = Product.objects.bulk_create(
        [Product(sku="c", price=Decimal("0.99")), Product(sku="d", price=Decimal("100"))]
    )
    c.pk = c.pk or Product.objects.get(sku="c").pk
    d.pk = d.pk or Product.objects.get(sku="d").pk
    assert stored(c)[:2] == (99, Decimal("0.99"))
    c.price, d.price = Decimal("9.99"), Decimal("0.01")
    Product.objects.bulk_update([c, d], ["price"])
    assert stored(c)[:2] == (999, Decimal("9.99"))
    assert stored(d)[:2] == (1, Decimal("0.01"))
    Product.objects.filter(pk=a.pk).update(price=Decimal("4.20"), stock=3)
    assert stored(a) == (420, Decimal("4.20"), "3", 3)


def test_update_with_an_expression_uses_backward_sql(side: str) -> None:
    p = Product.objects.create(sku="p", price=Decimal("12.34"))
    Product.objects.filter(pk=p.pk).update(price=F("price") * 2)
    assert stored(p)[:2] == (2468, Decimal("24.68"))


def test_update_with_an_expression_and_no_backward_sql_raises(side: str) -> None:
    p = Product.objects.create(sku="p", stock=5)
    with pytest.raises(flagschema.TransitionError, match=r"convert\.Product\.stock.*backward_sql"):
        Product.objects.filter(pk=p.pk).update(stock=F("stock") + 1)
    assert stored(p)[2:] == ("5", 5)


def test_reads_follow_the_read_side_and_convert_the_old_column(side: str) -> None:
    p = Product.objects.create(sku="p", price=Decimal("1.00"), stock=1)
    # Different values in the two shapes show which one a read used.
    put(Product, p.pk, price_cents=1234, price=Decimal("56.78"), stock_text="12", stock=34)
    expect_price = Decimal("12.34") if side == "old" else Decimal("56.78")
    expect_stock = 12 if side == "old" else 34
    loaded = Product.objects.get(pk=p.pk)
    assert (loaded.price, loaded.stock) == (expect_price, expect_stock)
    assert list(Product.objects.values_list("price", "stock")) == [(expect_price, expect_stock)]
    assert Product.objects.values("price").get()["price"] == expect_price
    loaded.refresh_from_db()
    assert loaded.price == expect_price
    # The old name reads the old shape of the logical value.
    assert loaded.price_cents == int(expect_price * 100)
    assert loaded.stock_text == str(expect_stock)


def test_a_filter_on_the_old_side_uses_forward_sql(side: str) -> None:
    cheap = Product.objects.create(sku="cheap", price=Decimal("1.50"))
    dear = Product.objects.create(sku="dear", price=Decimal("99.00"))
    with CaptureQueriesContext(connection) as ctx:
        found = list(Product.objects.filter(price__gt=Decimal("10")).order_by("-price"))
    assert found == [dear]
    sql = ctx.captured_queries[-1]["sql"]
    where = sql.split("WHERE", 1)[1]
    if side == "old":
        assert "price_cents" in where and "100.0" in where, sql
    else:
        assert "price_cents" not in where, sql
    assert Product.objects.aggregate(top=Max("price"))["top"] == Decimal("99.00")
    assert list(Product.objects.order_by("price")) == [cheap, dear]


def test_a_filter_on_the_old_side_without_forward_sql_raises(side: str) -> None:
    Product.objects.create(sku="a", stock=5)
    queries = [
        lambda: list(Product.objects.filter(stock__gt=1)),
        lambda: list(Product.objects.order_by("stock")),
        lambda: Product.objects.aggregate(Max("stock")),
        lambda: Product.objects.filter(stock=5).update(sku="b"),
        lambda: list(Product.objects.annotate(n=Count("id")).filter(stock=5)),
    ]
    for query in queries:
        if side == "old":
            with (
                pytest.raises(flagschema.TransitionError, match=r"convert\.Product\.stock"),
                transaction.atomic(),
            ):
                query()
        else:
            query()
    assert Product.objects.get().sku == ("a" if side == "old" else "b")
    # Selecting it is fine: the old column is converted in Python.
    assert Product.objects.values_list("stock", flat=True).get() == 5


def test_filter_on_the_old_name_compares_with_the_old_column(side: str) -> None:
    p = Product.objects.create(sku="p", price=Decimal("12.34"), stock=3)
    assert list(Product.objects.filter(price_cents=1234)) == [p]
    assert list(Product.objects.filter(stock_text="3")) == [p]


def test_create_with_the_old_name_converts_forward(side: str) -> None:
    p = Product.objects.create(sku="p", price_cents=250, stock_text="4")
    assert stored(p) == (250, Decimal("2.50"), "4", 4)
    assert (p.price, p.stock) == (Decimal("2.50"), 4)


def test_a_raising_transform_names_the_transition_and_leaves_the_row(side: str) -> None:
    p = Product.objects.create(sku="p", price=Decimal("1.00"))
    p.price = "not a number"
    with pytest.raises(flagschema.TransitionError) as raised, transaction.atomic():
        p.save()
    message = str(raised.value)
    assert "convert.Product.price" in message and f"pk={p.pk}" in message
    assert "'price'" in message
    assert stored(p)[:2] == (100, Decimal("1.00"))


def test_makemigrations_sees_only_additive_operations() -> None:
    from django.apps import apps
    from django.db.migrations.autodetector import MigrationAutodetector
    from django.db.migrations.loader import MigrationLoader
    from django.db.migrations.state import ProjectState

    loader = MigrationLoader(None, ignore_no_migrations=True)
    changes = MigrationAutodetector(loader.project_state(), ProjectState.from_apps(apps)).changes(
        graph=loader.graph
    )
    assert "convert" not in changes
    expand = loader.get_migration("convert", "0002_expand")
    assert [type(op).__name__ for op in expand.operations] == ["AddField", "AddField"]


def test_a_refused_query_that_never_ran_does_not_refuse_the_next_one(side: str) -> None:
    Product.objects.create(sku="a", stock=5)
    str(Product.objects.filter(stock__gt=1).query)  # compiled, never executed
    assert Product.objects.get().sku == "a"


def test_a_subquery_selecting_the_raw_old_column_is_refused(side: str) -> None:
    a = Product.objects.create(sku="a")
    Product.objects.filter(pk=a.pk).update(stock=a.pk)  # a row whose stock is its own pk
    query = Product.objects.filter(pk__in=Product.objects.values("stock"))
    if side == "old":
        with pytest.raises(flagschema.TransitionError), transaction.atomic():
            list(query)
    else:
        assert len(list(query)) == 1


def test_forward_sql_across_a_relation_reads_the_related_models_column() -> None:
    """forward_sql names ``price_cents``; LineItem has a column of that name too. Reached from
    LineItem, the expression must read the product's column, not the line item's."""
    from tests.apps.convert.models import LineItem

    product = Product.objects.create(sku="p", price=Decimal("12.34"))
    LineItem.objects.create(product=product, price_cents=500)
    with flagschema.reading("convert.Product.price", "old"):
        assert LineItem.objects.filter(product__price=Decimal("12.34")).count() == 1
        assert LineItem.objects.filter(product__price=Decimal("5.00")).count() == 0
        assert list(LineItem.objects.values_list("product__price", flat=True)) == [
            Decimal("12.34")
        ]
        item = LineItem.objects.select_related("product").get()
        assert item.product.price == Decimal("12.34")


@pytest.mark.parametrize("price", ["0.29", "0.57", "1.15", "2.01", "10.07"])
def test_update_with_an_expression_rounds_to_whole_cents(side: str, price: str) -> None:
    """A REAL (SQLite) or float intermediate times 100 is just under the integer
    (0.29 * 100 = 28.999...): backward_sql must round, not truncate."""
    p = Product.objects.create(sku="p", price=Decimal(price))
    Product.objects.filter(pk=p.pk).update(price=F("price") * 1)
    assert stored(p)[:2] == (int(Decimal(price) * 100), Decimal(price))
