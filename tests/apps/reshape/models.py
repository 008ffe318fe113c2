"""Scenario: splits and merges. ``Person.name`` splits into ``first_name`` and ``last_name``,
with SQL expressions both ways; ``Place.street`` and ``Place.city`` merge into one JSON
``address``, with Python transforms only. ``Visit`` points at both, for reads across
relations."""

from __future__ import annotations

from typing import Any

from django.db import models
from django.db.models import F, Value
from django.db.models.functions import Concat, StrIndex, Substr
from django.db.models.lookups import Exact, GreaterThan

import flagschema


def split_name(name: str) -> tuple[str, str]:
    """``"Ada King Lovelace"`` -> ``("Ada", "King Lovelace")``: the first word, and the rest."""
    first, _, last = name.partition(" ")
    return first, last


def join_name(first: str | None, last: str | None) -> str:
    first, last = first or "", last or ""
    return f"{first} {last}" if last else first


_SPACE = StrIndex(F("name"), Value(" "))


class Team(models.Model):
    title = models.CharField(max_length=50, default="")

    def __str__(self) -> str:
        return self.title


class Person(models.Model):
    email = models.CharField(max_length=100, default="")
    team = models.ForeignKey(
        Team, related_name="people", null=True, blank=True, on_delete=models.SET_NULL
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
        backward_sql={
            "name": models.Case(
                models.When(Exact(F("last_name"), Value("")), then=F("first_name")),
                default=Concat(F("first_name"), Value(" "), F("last_name")),
            ),
        },
        flag="people.name_split",
        samples=["Ada Lovelace", "Grace", "Mary Ann Evans"],
    )

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()


def to_address(street: str | None, city: str | None) -> dict[str, Any]:
    return {"street": street, "city": city}


def from_address(address: dict[str, Any]) -> tuple[str | None, str | None]:
    return address["street"], address["city"]


class Place(models.Model):
    label = models.CharField(max_length=50, default="")
    # was: street = models.CharField(max_length=100, null=True)
    #      city = models.CharField(max_length=100, null=True)
    address_merge = flagschema.Transition(
        old={
            "street": models.CharField(max_length=100, null=True),
            "city": models.CharField(max_length=100, null=True),
        },
        new={"address": models.JSONField(null=True)},
        forward=to_address,
        backward=from_address,
        flag="places.address",
        samples=[("1 Main St", "Oslo"), (None, "Bergen"), (None, None)],
    )

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.label


class Visit(models.Model):
    person = models.ForeignKey(Person, related_name="visits", on_delete=models.CASCADE)
    place = models.ForeignKey(Place, related_name="visits", on_delete=models.CASCADE)
    note = models.CharField(max_length=50, default="")

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.note
