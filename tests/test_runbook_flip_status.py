"""`flagschema status` and `flagschema flip`: the state on-call reads first, and the flip with
its safety rules and its audit record (issue 4)."""

from __future__ import annotations

import json
import socket
from decimal import Decimal
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import models
from django.test import override_settings
from django.test.utils import isolate_apps
from waffle.models import Switch

import flagschema
from flagschema import checks as fs_checks
from flagschema.models import FlipEvent
from tests.apps.convert.models import Product
from tests.apps.rename.models import Customer
from tests.helpers import put, set_switch

pytestmark = pytest.mark.django_db

LABEL = "rename.Customer.full_name"
FLAG = "customers.full_name"


def run(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("flagschema", *args, stdout=out, stderr=err, no_color=True)
    return out.getvalue(), err.getvalue()


def run_json(*args: str) -> Any:
    return json.loads(run(*args, "--json")[0])


def switch_active() -> bool:
    return Switch.objects.filter(name=FLAG, active=True).exists()


# --- status ---------------------------------------------------------------------------------


def test_status_lists_every_transition_with_its_state() -> None:
    set_switch(FLAG, False)
    Customer.objects.create(full_name="Ada")
    late = Customer.objects.create(full_name="Bob")
    put(Customer, late.pk, full_name=None)  # written by the previous release: no new shape
    found = {s["label"]: s for s in run_json("status")}
    assert set(found) == set(flagschema.registry.labels())
    ada = found[LABEL]
    assert ada["model"] == "rename.Customer" and ada["kind"] == "rename"
    assert (ada["old_columns"], ada["new_columns"]) == (["name"], ["full_name"])
    assert (ada["flag"], ada["read_side"]) == (FLAG, "old")
    assert (ada["rows"], ada["unfilled"]) == (2, 1)
    assert ada["backfill"] is None and ada["last_verify"] is None and ada["last_flip"] is None
    split = found["reshape.Person.name_split"]
    assert (split["old_columns"], split["new_columns"]) == (["name"], ["first_name", "last_name"])

    out, _ = run("status", LABEL)
    assert out.splitlines()[0].startswith(LABEL)
    assert "reads      OLD" in out and "2, 1 without the new shape" in out
    assert "never flipped" in out


def test_status_shows_the_last_flip_and_verify() -> None:
    set_switch(FLAG, False)
    Customer.objects.create(full_name="Ada")
    run("flip", LABEL, "--to", "new", "--reason", "INC-7 go", "--actor", "alice")
    (item,) = run_json("status", LABEL)
    assert item["read_side"] == "new"
    assert item["last_flip"]["actor"] == "alice" and item["last_flip"]["reason"] == "INC-7 go"
    assert (item["last_flip"]["from"], item["last_flip"]["to"]) == ("old", "new")
    assert item["last_verify"]["clean"] is True and item["last_verify"]["checked"] == 1
    out, _ = run("status", LABEL)
    assert "old -> new" in out and "by alice via command: 'INC-7 go'" in out
    assert "verify     clean (1 rows)" in out


def test_status_of_an_unknown_label_is_one_clear_error() -> None:
    with pytest.raises(CommandError, match=r"No transition is labelled 'rename\.Nope'"):
        run("status", "rename.Nope")


# --- flip -----------------------------------------------------------------------------------


def test_flip_to_new_and_back_records_who_when_why() -> None:
    set_switch(FLAG, False)
    Customer.objects.create(full_name="Ada")
    result = run_json("flip", LABEL, "--to", "new", "--reason", "release 42", "--actor", "bob")
    assert result["changed"] is True and switch_active()
    assert (result["from_side"], result["to_side"]) == ("old", "new")
    assert result["verify"]["clean"] is True
    assert "FLAGSCHEMA_FLAG_TTL" in result["propagation"]
    assert flagschema.registry[LABEL].read_side() == "new"  # this process, at once

    out, _ = run("flip", LABEL, "--to", "old", "--reason", "INC-9 rollback", "--actor", "carol")
    assert "now reads OLD (was NEW)" in out and "Undo:" in out
    assert not switch_active()
    events = list(FlipEvent.objects.filter(label=LABEL).order_by("id"))
    assert [(e.from_side, e.to_side, e.actor, e.reason) for e in events] == [
        ("old", "new", "bob", "release 42"),
        ("new", "old", "carol", "INC-9 rollback"),
    ]
    assert all(e.source == "command" and e.host == socket.gethostname() for e in events)
    assert events[0].pk == result["event_id"] and not events[0].forced


def test_flip_to_new_is_refused_while_rows_lack_the_new_shape() -> None:
    set_switch(FLAG, False)
    c = Customer.objects.create(full_name="Ada")
    put(Customer, c.pk, full_name=None)
    with pytest.raises(CommandError) as info:
        run("flip", LABEL, "--to", "new", "--reason", "go")
    message = str(info.value)
    assert "was not flipped to new" in message and "1 unfilled" in message
    assert f"pk {c.pk}" in message and "--force" in message and "backfill" in message
    assert not switch_active() and not FlipEvent.objects.exists()

    result = run_json("flip", LABEL, "--to", "new", "--reason", "go anyway", "--force")
    assert result["changed"] and result["forced"] and switch_active()
    assert FlipEvent.objects.get().forced is True


def test_flip_to_new_is_refused_on_a_mismatching_row() -> None:
    set_switch("products.stock", False)
    p = Product.objects.create(sku="a", price=Decimal("1.00"), stock=3)
    put(Product, p.pk, stock_text="4")  # drift: the old shape says 4, the new one 3
    with pytest.raises(CommandError, match="1 mismatching"):
        run("flip", "convert.Product.stock", "--to", "new", "--reason", "go")


def test_flip_to_new_is_refused_when_a_sample_is_lost_by_the_round_trip() -> None:
    set_switch("products.stock", False)
    transition = flagschema.registry["convert.Product.stock"]
    saved = transition.samples
    transition.samples = ("007",)
    try:
        with pytest.raises(CommandError, match=r"declared sample\(s\) do not survive"):
            run("flip", "convert.Product.stock", "--to", "new", "--reason", "go")
    finally:
        transition.samples = saved


def test_a_rollback_is_never_refused() -> None:
    set_switch(FLAG, True)
    c = Customer.objects.create(full_name="Ada")
    put(Customer, c.pk, name="drifted")
    out, _ = run("flip", LABEL, "--to", "old", "--reason", "INC-1")
    assert "now reads OLD" in out and not switch_active()


def test_a_flip_to_the_current_side_changes_nothing() -> None:
    set_switch(FLAG, False)
    result = run_json("flip", LABEL, "--to", "old", "--reason", "make sure")
    assert result["changed"] is False and not FlipEvent.objects.exists()
    out, _ = run("flip", LABEL, "--to", "old", "--reason", "make sure")
    assert "already reads OLD; nothing was changed" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--to", "new"], "--reason"),
        (["--reason", "x"], "--to"),
        (["--to", "sideways", "--reason", "x"], "invalid choice"),
        (["--to", "new", "--reason", "  "], "needs a reason"),
    ],
)
def test_flip_arguments_are_checked(args: list[str], message: str) -> None:
    with pytest.raises(CommandError, match=message):
        run("flip", LABEL, *args)
    assert not FlipEvent.objects.exists()


def test_a_flag_backend_other_than_waffle_is_flipped_in_its_own_system() -> None:
    with (
        override_settings(FLAGSCHEMA_FLAG_BACKEND=lambda flag: False),
        pytest.raises(CommandError, match="not from a waffle switch"),
    ):
        run("flip", LABEL, "--to", "new", "--reason", "x")


# --- flips made in waffle -------------------------------------------------------------------


def test_flips_made_with_waffle_are_recorded_too() -> None:
    set_switch(FLAG, False)
    FlipEvent.objects.all().delete()
    call_command("waffle_switch", FLAG, "on", stdout=StringIO())
    switch = Switch.objects.get(name=FLAG)
    switch.note = "no change of state"
    switch.save()
    switch.active = False
    switch.save()  # waffle's admin saves the model the same way
    Switch.objects.create(name="unrelated.switch", active=True)
    switch.active = True
    switch.save()
    switch.delete()  # a deleted switch reads as off
    events = list(FlipEvent.objects.order_by("id"))
    assert [(e.label, e.from_side, e.to_side, e.source) for e in events] == [
        (LABEL, "old", "new", "waffle"),
        (LABEL, "new", "old", "waffle"),
        (LABEL, "old", "new", "waffle"),
        (LABEL, "new", "old", "waffle"),
    ]
    assert "waffle" in events[0].reason


# --- propagation and the checks -------------------------------------------------------------


def test_a_per_process_waffle_cache_is_warned_about() -> None:
    locmem = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    redis = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache"}}
    with override_settings(CACHES=locmem, DEBUG=False):
        (warning,) = fs_checks.check_flag_cache()
        assert warning.id == "flagschema.W010"
        set_switch(FLAG, True)
        result = run_json("flip", LABEL, "--to", "old", "--reason", "x")
        assert "LocMemCache" in result["warnings"][0]
    with override_settings(CACHES=locmem, DEBUG=True):
        assert fs_checks.check_flag_cache() == []
    with override_settings(CACHES=redis, DEBUG=False):
        assert fs_checks.check_flag_cache() == []


@isolate_apps("tests.apps.rename")
def test_missing_columns_are_reported_by_check_database() -> None:
    class Ghost(models.Model):
        # Its table exists (the rename app's Tag) but has no `title`/`heading` columns.
        heading = flagschema.RenamedField(
            models.CharField(max_length=10), old_name="title", flag="ghost.heading"
        )

        class Meta:
            app_label = "rename"
            db_table = "rename_tag"

    transition = Ghost._meta.get_field("heading")._flagschema_transition  # type: ignore[union-attr]
    flagschema.registry.register(transition)
    try:
        found = fs_checks.check_columns_exist(databases=["default"])
        Ghost._meta.db_table = "rename_not_created_yet"  # a new database: nothing to say
        assert fs_checks.check_columns_exist(databases=["default"]) == []
        assert fs_checks.check_columns_exist(databases=None) == []
    finally:
        flagschema.registry.unregister(transition.label)
    (warning,) = found
    assert warning.id == "flagschema.W012"  # a warning: migrate runs this before it migrates
    assert "'title', 'heading'" in warning.msg and "rename_tag" in warning.msg
