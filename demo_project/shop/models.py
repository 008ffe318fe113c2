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

from django.db import models

import flagschema
from shop.transforms import (
    NAME_BACKWARD_SQL,
    NAME_FORWARD_SQL,
    PRICE_BACKWARD_SQL,
    PRICE_FORWARD_SQL,
    cents_to_price,
    join_name,
    price_to_cents,
    split_name,
)


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
        # The same in SQL, so that filters and ordering run while reads come from `name`,
        # and so that update(first_name=F(...), ...) can compute `name`.
        forward_sql=NAME_FORWARD_SQL,
        backward_sql=NAME_BACKWARD_SQL,
        flag="shop.customer_name_split",
        # `manage.py check` converts these forward and back (a value that does not come back
        # would be lost by a rollback).
        samples=["Ada Lovelace", "Grace", "Mary Ann Evans"],
    )

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return join_name(self.first_name, self.last_name)


class Product(models.Model):
    sku = models.CharField(max_length=20, unique=True)
    title = models.CharField(max_length=100)
    # was: price_cents = models.IntegerField()
    price = flagschema.ConvertedField(
        models.DecimalField(max_digits=12, decimal_places=2),
        old=models.IntegerField(db_column="price_cents"),
        forward=cents_to_price,  # old -> new
        backward=price_to_cents,  # new -> old
        forward_sql=PRICE_FORWARD_SQL,
        backward_sql=PRICE_BACKWARD_SQL,
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
