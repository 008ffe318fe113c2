"""Scenario: the ORM's writes against the rules of docs/orm-writes.md. ``Item`` has a unique
``sku`` (for upserts), a rename (``name`` to ``title``) and the README's conversion of
``price_cents`` (NOT NULL, default 0) to a Decimal ``price`` without a default of its own;
``Contact`` splits ``name`` under a unique ``handle``; ``Book`` widens ``pages`` (an integer)
to ``page_count`` (a big integer)."""

from __future__ import annotations

from decimal import Decimal

from django.db import models
from django.db.models import F, Value
from django.db.models.functions import Cast, Round, StrIndex, Substr
from django.db.models.lookups import GreaterThan

import flagschema
from tests.apps.reshape.models import join_name, split_name


def cents_to_price(cents: int) -> Decimal:
    return Decimal(cents) / 100


def price_to_cents(price: Decimal) -> int:
    return int((Decimal(str(price)) * 100).quantize(Decimal(1)))


class Item(models.Model):
    sku = models.CharField(max_length=20, unique=True)
    # was: name = models.CharField(max_length=100, default="")
    title = flagschema.RenamedField(
        models.CharField(max_length=100, default=""), old_name="name", flag="items.title"
    )
    # was: price_cents = models.IntegerField(default=0)
    price = flagschema.ConvertedField(
        models.DecimalField(max_digits=12, decimal_places=2),
        old=models.IntegerField(default=0, db_column="price_cents"),
        forward=cents_to_price,
        backward=price_to_cents,
        forward_sql=F("price_cents") / 100.0,
        backward_sql=Cast(Round(F("price") * 100), models.IntegerField()),
        flag="items.price",
        samples=[0, 1, 99, 1234, -250],
    )

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.sku


def _space() -> StrIndex:
    # A new object at each use: this forward_sql shares no sub-expression (tests/apps/reshape
    # shares one).
    return StrIndex(F("name"), Value(" "))


class Contact(models.Model):
    handle = models.CharField(max_length=20, unique=True)
    # was: name = models.CharField(max_length=200, default="")
    name_split = flagschema.Transition(
        old={"name": models.CharField(max_length=200, default="")},
        new={
            "first_name": models.CharField(max_length=100, default=""),
            "last_name": models.CharField(max_length=100, default="", blank=True),
        },
        forward=split_name,
        backward=join_name,
        forward_sql={
            "first_name": models.Case(
                models.When(GreaterThan(_space(), 0), then=Substr(F("name"), 1, _space() - 1)),
                default=F("name"),
            ),
            "last_name": models.Case(
                models.When(GreaterThan(_space(), 0), then=Substr(F("name"), _space() + 1)),
                default=Value(""),
            ),
        },
        flag="contacts.name_split",
        samples=["Ada Lovelace", "Grace"],
    )

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.handle


class Book(models.Model):
    isbn = models.CharField(max_length=20, unique=True)
    # was: pages = models.IntegerField(default=0)
    page_count = flagschema.ConvertedField(
        models.BigIntegerField(default=0),
        old=models.IntegerField(default=0, db_column="pages"),
        forward=int,
        backward=int,
        forward_sql=Cast(F("pages"), models.BigIntegerField()),
        backward_sql=F("page_count"),
        flag="books.page_count",
        samples=[0, 1, 2_147_483_647, -2_147_483_648],
    )

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.isbn
