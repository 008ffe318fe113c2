"""The benchmarks' tables. Each change has three models holding the same data: plain Django
before the change, the change through flagschema, and the same expand written by hand."""

from decimal import Decimal

from django.db import models
from django.db.models import F
from django.db.models.functions import Cast, Round

import flagschema


class PlainCustomer(models.Model):
    name = models.CharField(max_length=200, db_index=True)
    email = models.CharField(max_length=200, default="")

    class Meta:
        app_label = "benchmarks"

    def __str__(self) -> str:
        return str(self.pk)


class FlagCustomer(models.Model):
    full_name = flagschema.RenamedField(
        models.CharField(max_length=200, db_index=True), old_name="name", flag="bench.full_name"
    )
    email = models.CharField(max_length=200, default="")

    class Meta:
        app_label = "benchmarks"

    def __str__(self) -> str:
        return str(self.pk)


class HandWrittenCustomer(models.Model):
    """The same expand done by hand: both columns as plain fields, the code writing both."""

    name = models.CharField(max_length=200, db_index=True)
    # Nullable like the column a RenamedField adds: rows written before it have no value.
    full_name = models.CharField(max_length=200, db_index=True, null=True)  # noqa: DJ001
    email = models.CharField(max_length=200, default="")

    class Meta:
        app_label = "benchmarks"

    def __str__(self) -> str:
        return str(self.pk)


# --- a type change: integer cents become a Decimal price (bench_convert.py) -------------------


def cents_to_price(cents: int) -> Decimal:
    """Old value -> new value (``forward``)."""
    return Decimal(cents) / 100


def price_to_cents(price: Decimal) -> int:
    """New value -> old value (``backward``)."""
    return int(price * 100)


class PlainProduct(models.Model):
    """Plain Django before the change: integer cents only."""

    sku = models.CharField(max_length=20, default="")
    price_cents = models.IntegerField(default=0)

    class Meta:
        app_label = "benchmarks"

    def __str__(self) -> str:
        return str(self.pk)


class FlagProduct(models.Model):
    sku = models.CharField(max_length=20, default="")
    # was: price_cents = models.IntegerField(default=0)
    price = flagschema.ConvertedField(
        models.DecimalField(max_digits=12, decimal_places=2),
        old=models.IntegerField(default=0, db_column="price_cents"),
        forward=cents_to_price,
        backward=price_to_cents,
        forward_sql=F("price_cents") / 100.0,
        backward_sql=Cast(Round(F("price") * 100), models.IntegerField()),
        flag="bench.price",
    )

    class Meta:
        app_label = "benchmarks"

    def __str__(self) -> str:
        return str(self.pk)


class HandWrittenProduct(models.Model):
    """The same expand done by hand: both columns as plain fields, the code writing both."""

    sku = models.CharField(max_length=20, default="")
    price_cents = models.IntegerField(default=0)
    # Nullable like the column a ConvertedField adds: rows written before it have no value.
    price = models.DecimalField(max_digits=12, decimal_places=2, null=True)

    class Meta:
        app_label = "benchmarks"

    def __str__(self) -> str:
        return str(self.pk)


class FlagProductPython(models.Model):
    """The same change declared without ``forward_sql``: reads of the old side convert each
    value with ``forward`` in Python (and filters on ``price`` are refused until the flip)."""

    sku = models.CharField(max_length=20, default="")
    price = flagschema.ConvertedField(
        models.DecimalField(max_digits=12, decimal_places=2),
        old=models.IntegerField(default=0, db_column="price_cents"),
        forward=cents_to_price,
        backward=price_to_cents,
        flag="bench.price_python",
    )

    class Meta:
        app_label = "benchmarks"

    def __str__(self) -> str:
        return str(self.pk)
