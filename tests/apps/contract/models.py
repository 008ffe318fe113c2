"""Scenario: contracting. A rename, a type change and a split, each with its expand migration
applied, as they stand when their old columns are about to be dropped. The expand installs the
sync triggers of the rename (in the two-argument form users write) and of the conversion (in
the self-contained form), so that the history must replay once both are contracted.

This app is not installed in the test settings: ``tests/test_contract.py`` copies it to a
temporary directory, runs ``flagschema contract`` there for each transition, rewrites the copy's
``models.py`` as the command says, and migrates and uses the result in a subprocess.
"""

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


def split_name(name: str) -> tuple[str, str]:
    first, _, last = name.partition(" ")
    return first, last


def join_name(first: str | None, last: str | None) -> str:
    first, last = first or "", last or ""
    return f"{first} {last}" if last else first


class Customer(models.Model):
    # was: name = models.CharField(max_length=200)
    full_name = flagschema.RenamedField(
        models.CharField(max_length=200, db_index=True),
        old_name="name",
        flag="contract.customer_full_name",
        old=models.CharField(max_length=200),
    )

    class Meta:
        ordering = ["id"]


class Product(models.Model):
    sku = models.CharField(max_length=20, unique=True)
    # was: price_cents = models.IntegerField(default=0)
    price = flagschema.ConvertedField(
        models.DecimalField(
            max_digits=10,
            decimal_places=2,
            default=Decimal("0.00"),
        ),
        old=models.IntegerField(default=0, db_column="price_cents"),
        forward=cents_to_price,
        backward=price_to_cents,
        forward_sql=F("price_cents") / 100.0,
        backward_sql=Cast(Round(F("price") * 100), models.IntegerField()),
        flag="contract.product_price",
    )

    class Meta:
        ordering = ["id"]


class Person(models.Model):
    customer = models.ForeignKey(
        Customer, related_name="people", null=True, on_delete=models.SET_NULL
    )
    # was: name = models.CharField(max_length=200)
    name_split = flagschema.Transition(
        old={"name": models.CharField(max_length=200)},
        new={
            "first_name": models.CharField(max_length=100, default=""),
            "last_name": models.CharField(max_length=100, default="", blank=True),
        },
        forward=split_name,
        backward=join_name,
        flag="contract.person_name_split",
    )

    class Meta:
        ordering = ["id"]


class Order(models.Model):
    customer = models.ForeignKey(Customer, related_name="orders", on_delete=models.CASCADE)
    product = models.ForeignKey(Product, related_name="orders", on_delete=models.CASCADE)
    quantity = models.IntegerField(default=1)

    class Meta:
        ordering = ["id"]
