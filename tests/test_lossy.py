"""Lossy transforms are named as such: a split whose new values do not survive the trip through
the old shape ("Mary Ann" / "Evans" -> "Mary Ann Evans" -> "Mary" / "Ann Evans") is caught by
the declared ``new_samples`` (E010), reported by verify as rows the transforms lose (not as
rows written around the ORM), and never rewritten by the repair without ``--rewrite-lossy``."""

from __future__ import annotations

from decimal import Decimal
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import models
from django.test.utils import isolate_apps

import flagschema
from flagschema import checks as fs_checks
from flagschema.runbook.roundtrip import check_samples
from flagschema.runbook.verify import verify
from tests.apps.convert.models import Product
from tests.apps.reshape.models import Person, join_name, split_name
from tests.helpers import columns, put

pytestmark = pytest.mark.django_db

LABEL = "reshape.Person.name_split"


def run_verify(*args: str) -> tuple[int, str]:
    out = StringIO()
    try:
        call_command("flagschema", "verify", *args, stdout=out, no_color=True)
    except SystemExit as exc:
        return int(exc.code or 0), out.getvalue()
    return 0, out.getvalue()


# --- the declaration and the check -----------------------------------------------------------


def test_old_samples_alone_cannot_catch_it() -> None:
    # "Mary Ann Evans" splits and joins back: the old-shape samples pass.
    assert check_samples(flagschema.registry[LABEL]).ok


@isolate_apps("tests.apps.reshape")
def test_new_samples_are_converted_backward_then_forward() -> None:
    class Author(models.Model):
        name_split = flagschema.Transition(
            old={"name": models.CharField(max_length=200)},
            new={
                "first_name": models.CharField(max_length=100),
                "last_name": models.CharField(max_length=100),
            },
            forward=split_name,
            backward=join_name,
            flag="authors.name_split",
            samples=["Mary Ann Evans"],
            new_samples=[("Ada", "Lovelace"), ("Mary Ann", "Evans")],
        )

        class Meta:
            app_label = "reshape"

    transition = Author.name_split  # type: ignore[attr-defined]
    report = check_samples(transition)
    assert report.checked == 3 and report.failed == 1
    (problem,) = report.problems
    assert problem.where == "new sample 1 (('Mary Ann', 'Evans'))"
    assert problem.path == "new -> old -> new"
    assert problem.detail == "backward then forward gives ('Mary', 'Ann Evans')"
    flagschema.registry.register(transition)
    try:
        errors = [e for e in fs_checks.check_round_trip_samples() if e.id == "flagschema.E010"]
    finally:
        flagschema.registry.unregister(transition.label)
    (error,) = errors
    assert error.msg.startswith(f"{transition.label}: new sample 1")
    assert "forward(backward(new)) == new" in (error.hint or "")


@isolate_apps("tests.apps.convert")
def test_a_converted_field_takes_new_samples_too() -> None:
    class Item(models.Model):
        price = flagschema.ConvertedField(
            models.DecimalField(max_digits=12, decimal_places=3),
            old=models.IntegerField(db_column="price_cents"),
            forward=lambda cents: Decimal(cents) / 100,
            backward=lambda price: int(price * 100),
            flag="items.price",
            new_samples=[Decimal("1.25"), Decimal("1.255")],
        )

        class Meta:
            app_label = "convert"

    field: Any = Item._meta.get_field("price")
    (problem,) = check_samples(field._flagschema_transition).problems
    assert problem.where.startswith("new sample 1") and problem.path == "new -> old -> new"
    with pytest.raises(TypeError, match=r"new_samples=\.\.\.\) takes a list of new values"):
        flagschema.ConvertedField(
            models.IntegerField(),
            old=models.CharField(max_length=3),
            forward=int,
            backward=str,
            flag="x",
            new_samples="12",
        )


# --- verify and the repair -------------------------------------------------------------------


@pytest.fixture
def people(side: str) -> dict[str, int]:
    """Three people, as the columns hold them: one the transforms lose (an ORM write of the
    new shape "Mary Ann" / "Evans"), one written around the ORM, one that agrees."""
    pks = {
        key: Person.objects.create(first_name="x", last_name="x").pk
        for key in ("mary", "ada", "grace")
    }
    put(Person, pks["mary"], name="Mary Ann Evans", first_name="Mary Ann", last_name="Evans")
    put(Person, pks["ada"], name="Ada Lovelace", first_name="Ada", last_name="Byron")
    put(Person, pks["grace"], name="Grace Hopper", first_name="Grace", last_name="Hopper")
    return pks


def test_verify_names_the_rows_the_transforms_lose(side: str, people: dict[str, int]) -> None:
    mary = people["mary"]
    # What each read side shows of the same row: the old shape splits it elsewhere.
    shown = Person.objects.values_list("first_name", "last_name").get(pk=mary)
    assert shown == (("Mary Ann", "Evans") if side == "new" else ("Mary", "Ann Evans"))

    report = verify(flagschema.registry[LABEL], record=False)
    assert (report.mismatched, report.lossy, report.lossy_pks) == (2, 1, [mary])
    assert sorted(report.sample_pks) == sorted([mary, people["ada"]])

    status, out = run_verify(LABEL)
    assert status == 1
    assert (
        f"{LABEL}: 1 mismatching row(s) do not survive the round trip through the old shape "
        f"(primary keys: {mary})"
    ) in out
    assert "Mary" not in out and "Evans" not in out  # keys, never values
    # The other mismatching row is still one written around the ORM.
    assert "written around the ORM" in out
    assert f"manage.py flagschema verify {LABEL} --repair" in out


def test_the_repair_leaves_lossy_rows_alone_unless_told(side: str, people: dict[str, int]) -> None:
    mary, ada = people["mary"], people["ada"]
    status, out = run_verify(LABEL, "--repair")
    assert status == 1  # the lossy row is left, and still reported
    assert f"{LABEL}: repaired 1 mismatching row(s) (primary keys: {ada})" in out
    assert columns(Person, ada, "name", "first_name", "last_name") == (
        "Ada Lovelace",
        "Ada",
        "Lovelace",
    )
    assert columns(Person, mary, "name", "first_name", "last_name") == (
        "Mary Ann Evans",
        "Mary Ann",
        "Evans",
    )
    assert f"{LABEL}: 1 mismatching row(s) do not survive" in out
    assert "written around the ORM" not in out

    with pytest.raises(CommandError, match="--rewrite-lossy goes with --repair"):
        call_command("flagschema", "verify", LABEL, "--rewrite-lossy", stdout=StringIO())
    assert columns(Person, mary, "first_name", "last_name") == ("Mary Ann", "Evans")

    status, out = run_verify(LABEL, "--repair", "--rewrite-lossy")
    assert status == 0, out
    assert columns(Person, mary, "name", "first_name", "last_name") == (
        "Mary Ann Evans",
        "Mary",
        "Ann Evans",
    )


def test_the_repair_of_a_transition_without_sql(side: str) -> None:
    pk = Product.objects.create(sku="mug", stock=7).pk
    put(Product, pk, stock_text="7", stock=5)  # the new column written around the ORM
    report = verify(flagschema.registry["convert.Product.stock"], record=False)
    assert (report.method, report.mismatched, report.lossy) == ("python", 1, 0)
    status, out = run_verify("convert.Product.stock", "--repair")
    assert status == 0, out
    assert columns(Product, pk, "stock_text", "stock") == ("7", 7)


# --- the lossless split of docs/runbook-notes.md -----------------------------------------------


def split_last(name: str) -> tuple[str, str]:
    first, _, last = name.rpartition(" ")
    return first, last


def join_last(first: str | None, last: str | None) -> str:
    first, last = first or "", last or ""
    return f"{first} {last}" if first else last


@isolate_apps("tests.apps.reshape")
def test_the_documented_lossless_split_survives_both_ways() -> None:
    def declared(name: str, samples: list[Any]) -> Any:
        model = type(
            name,
            (models.Model,),
            {
                "__module__": __name__,
                "name_split": flagschema.Transition(
                    old={"name": models.CharField(max_length=200)},
                    new={
                        "first_name": models.CharField(max_length=100, blank=True),
                        "last_name": models.CharField(max_length=100),
                    },
                    forward=split_last,
                    backward=join_last,
                    flag=f"{name.lower()}.name_split",
                    samples=samples,
                    new_samples=[("Mary Ann", "Evans"), ("", "Grace"), ("Grace", ""), ("", "")],
                ),
                "Meta": type("Meta", (), {"app_label": "reshape"}),
            },
        )
        return model.name_split

    report = check_samples(declared("Writer", ["Ada Lovelace", "Grace", "Mary Ann Evans", ""]))
    assert report.ok and report.checked == 8
    # The value the docs say it still loses is found when declared.
    (problem,) = check_samples(declared("Poet", [" Ada"])).problems
    assert problem.path == "old -> new -> old"
