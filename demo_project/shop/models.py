"""The demo shop, in the release that changes three things behind three waffle switches:

* ``Customer.name`` splits into ``first_name`` and ``last_name`` (a ``flagschema.Transition``,
  switch ``shop.customer_name_split``);
* ``Product.price_cents`` (integer cents) becomes ``price``, a Decimal (a ``ConvertedField``,
  switch ``shop.product_price``);
* ``Order.number`` is renamed ``reference`` (a ``RenamedField``, switch
  ``shop.order_reference``).

While a switch is off, reads come from the old columns; every ORM write stores both shapes.
"""

from __future__ import annotations

from decimal import Decimal

from django.db import models
from django.db.models import F, Value
from django.db.models.functions import Cast, Concat, Round, StrIndex, Substr
from django.db.models.lookups import Exact, GreaterThan

import flagschema


def split_name(name: str) -> tuple[str, str]:
    """``"Mary Ann Evans"`` -> ``("Mary", "Ann Evans")``: the first word, and the rest."""
    first, _, last = name.partition(" ")
    return first, last


def join_name(first: str | None, last: str | None) -> str:
    first, last = first or "", last or ""
    return f"{first} {last}" if last else first


# Where the first space of the old `name` column is (0: none).
_SPACE = StrIndex(F("name"), Value(" "))


class Customer(models.Model):
    email = models.EmailField()
    # was: name = models.CharField(max_length=200)
    name_split = flagschema.Transition(
        old={"name": models.CharField(max_length=200)},
        new={
            "first_name": models.CharField(max_length=100, default=""),
            "last_name": models.CharField(max_length=100, default="", blank=True),
        },
        forward=split_name,  # name -> (first_name, last_name)
        backward=join_name,  # (first_name, last_name) -> name
        # The same in SQL, so that filters and ordering run while reads come from `name`...
        forward_sql={
            "first_name": models.Case(
                models.When(GreaterThan(_SPACE, 0), then=Substr(F("name"), 1, _SPACE - 1)),
                default=F("name"),
            ),
            "last_name": models.Case(
                models.When(GreaterThan(_SPACE, 0), then=Substr(F("name"), _SPACE + 1)),
                default=Value(""),
            ),
        },
        # ... and so that update(first_name=F(...), ...) can compute `name`.
        backward_sql={
            "name": models.Case(
                models.When(Exact(F("last_name"), Value("")), then=F("first_name")),
                default=Concat(F("first_name"), Value(" "), F("last_name")),
            ),
        },
        flag="shop.customer_name_split",
        # `manage.py check` converts these forward and back (a value that does not come back
        # would be lost by a rollback).
        samples=["Ada Lovelace", "Grace", "Mary Ann Evans"],
    )

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return join_name(self.first_name, self.last_name)


def cents_to_price(cents: int) -> Decimal:
    return Decimal(cents) / 100


def price_to_cents(price: Decimal) -> int:
    return int((Decimal(str(price)) * 100).quantize(Decimal(1)))


class Product(models.Model):
    sku = models.CharField(max_length=20, unique=True)
    title = models.CharField(max_length=100)
    # was: price_cents = models.IntegerField()
    price = flagschema.ConvertedField(
        models.DecimalField(max_digits=12, decimal_places=2),
        old=models.IntegerField(db_column="price_cents"),
        forward=cents_to_price,  # old -> new
        backward=price_to_cents,  # new -> old
        # 100.0, not 100: integer columns divide as integers on SQLite and PostgreSQL.
        forward_sql=F("price_cents") / 100.0,
        # Round before the cast: a cast truncates, and 0.29 * 100 is 28.999... as a float.
        backward_sql=Cast(Round(F("price") * 100), models.IntegerField()),
        flag="shop.product_price",
        samples=[0, 1, 349, 1999, 123456],
    )

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.sku


class Order(models.Model):
    customer = models.ForeignKey(Customer, related_name="orders", on_delete=models.CASCADE)
    product = models.ForeignKey(Product, related_name="orders", on_delete=models.PROTECT)
    quantity = models.PositiveIntegerField(default=1)
    # was: number = models.PositiveIntegerField(unique=True)
    # Reads follow the waffle switch "shop.order_reference"; writes store both columns.
    reference = flagschema.RenamedField(
        models.PositiveIntegerField(unique=True),
        old_name="number",
        flag="shop.order_reference",
    )

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"Order {self.reference}"
