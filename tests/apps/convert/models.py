"""Scenario: type changes. ``Product.price_cents`` (integer cents) becomes ``price`` (Decimal),
with SQL expressions both ways; ``stock_text`` (a number kept as text) becomes ``stock``
(integer), with Python transforms only."""

from __future__ import annotations

from decimal import Decimal

from django.db import models
from django.db.models import F
from django.db.models.functions import Cast, Round

import flagschema


def cents_to_price(cents: int) -> Decimal:
    return Decimal(cents) / 100


def price_to_cents(price: Decimal) -> int:
    return int((Decimal(str(price)) * 100).quantize(Decimal(1)))


class Product(models.Model):
    sku = models.CharField(max_length=20, default="")
    # was: price_cents = models.IntegerField(default=0)
    price = flagschema.ConvertedField(
        models.DecimalField(max_digits=12, decimal_places=2, default=Decimal("0")),
        old=models.IntegerField(default=0, db_column="price_cents"),
        forward=cents_to_price,
        backward=price_to_cents,
        # 100.0, not 100: integer columns divide as integers on SQLite and PostgreSQL.
        forward_sql=F("price_cents") / 100.0,
        backward_sql=Cast(Round(F("price") * 100), models.IntegerField()),
        flag="products.price",
        samples=[0, 1, 99, 1234, -250],
    )
    # was: stock_text = models.CharField(max_length=10, null=True)
    stock = flagschema.ConvertedField(
        models.IntegerField(null=True),
        old=models.CharField(max_length=10, null=True, db_column="stock_text"),
        forward=int,
        backward=str,
        flag="products.stock",
        samples=["0", "7", "-3"],
    )

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.sku


class LineItem(models.Model):
    """A plain model pointing at ``Product``: joins, ``select_related``, ``prefetch_related`` and
    the related manager ``product.line_items`` reach the converted fields across a relation."""

    product = models.ForeignKey(Product, related_name="line_items", on_delete=models.CASCADE)
    quantity = models.IntegerField(default=1)
    # The unit price when ordered: a column named like Product's old column, so that an
    # expression resolved against the wrong model would read it silently.
    price_cents = models.IntegerField(default=0)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.quantity} x {self.product_id}"
