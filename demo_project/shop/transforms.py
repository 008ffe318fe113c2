"""The demo's transforms, in plain functions: the models use them, and the test suite checks
them as properties with hypothesis (tests/test_demo_transforms.py)."""

from __future__ import annotations

from decimal import Decimal

from django.db import models
from django.db.models import F, Value
from django.db.models.functions import Cast, Concat, Round, StrIndex, Substr
from django.db.models.lookups import Exact, GreaterThan


def split_name(name: str) -> tuple[str, str]:
    """``"Mary Ann Evans"`` -> ``("Mary", "Ann Evans")``: the first word, and the rest."""
    first, _, last = name.partition(" ")
    return first, last


def join_name(first: str | None, last: str | None) -> str:
    first, last = first or "", last or ""
    return f"{first} {last}" if last else first


# Where the first space of the old `name` column is (0: none).
SPACE = StrIndex(F("name"), Value(" "))


# The split in SQL: filters and ordering use it while reads come from `name`.
NAME_FORWARD_SQL = {
    "first_name": models.Case(
        models.When(GreaterThan(SPACE, 0), then=Substr(F("name"), 1, SPACE - 1)),
        default=F("name"),
    ),
    "last_name": models.Case(
        models.When(GreaterThan(SPACE, 0), then=Substr(F("name"), SPACE + 1)),
        default=Value(""),
    ),
}

# The join in SQL: update(first_name=F(...), last_name=...) computes `name` with it.
NAME_BACKWARD_SQL = {
    "name": models.Case(
        models.When(Exact(F("last_name"), Value("")), then=F("first_name")),
        default=Concat(F("first_name"), Value(" "), F("last_name")),
    ),
}


def cents_to_price(cents: int) -> Decimal:
    return Decimal(cents) / 100


def price_to_cents(price: Decimal) -> int:
    return int((Decimal(str(price)) * 100).quantize(Decimal(1)))


# 100.0, not 100: integer columns divide as integers on SQLite and PostgreSQL.
PRICE_FORWARD_SQL = F("price_cents") / 100.0
# Round before the cast: a cast truncates, and 0.29 * 100 is 28.999... as a float.
PRICE_BACKWARD_SQL = Cast(Round(F("price") * 100), models.IntegerField())
