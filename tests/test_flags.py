"""Flag resolution: the TTL cache, one state per statement, one per request, and pins."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import django
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

import flagschema
from flagschema import flags
from tests.apps.rename.models import Customer
from tests.helpers import put, set_switch

pytestmark = pytest.mark.django_db

LABEL = "rename.Customer.full_name"


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    fake = FakeClock()
    monkeypatch.setattr(flags, "clock", fake)
    return fake


@pytest.fixture
def ada() -> Customer:
    c = Customer.objects.create(full_name="x")
    put(Customer, c.pk, name="Ada (old)", full_name="Ada (new)")
    return c


def flip_without_telling_this_process(active: bool) -> None:
    """What another process's flip looks like from here: the switch and waffle's cache change,
    this process's held state does not."""
    from waffle.models import Switch

    switch, _ = Switch.objects.update_or_create(
        name="customers.full_name", defaults={"active": active}
    )
    switch.flush()


def test_a_flip_takes_effect_within_the_ttl(ada: Customer, clock: FakeClock, settings) -> None:
    settings.FLAGSCHEMA_FLAG_TTL = 5
    set_switch("customers.full_name", False)
    assert Customer.objects.get(pk=ada.pk).full_name == "Ada (old)"
    flip_without_telling_this_process(True)
    clock.now += 4.9
    assert Customer.objects.get(pk=ada.pk).full_name == "Ada (old)"  # still held
    clock.now += 0.2
    assert Customer.objects.get(pk=ada.pk).full_name == "Ada (new)"
    flip_without_telling_this_process(False)  # the rollback
    clock.now += 5.1
    assert Customer.objects.get(pk=ada.pk).full_name == "Ada (old)"


def test_the_default_ttl_is_one_second(ada: Customer, clock: FakeClock) -> None:
    set_switch("customers.full_name", False)
    assert Customer.objects.get(pk=ada.pk).full_name == "Ada (old)"
    flip_without_telling_this_process(True)
    clock.now += 0.9
    assert Customer.objects.get(pk=ada.pk).full_name == "Ada (old)"
    clock.now += 0.2
    assert Customer.objects.get(pk=ada.pk).full_name == "Ada (new)"


def test_queries_cost_no_cache_round_trip_within_the_ttl(
    ada: Customer, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    from django.core.cache import cache

    set_switch("customers.full_name", True)
    Customer.objects.filter(full_name="warm").exists()
    gets = []
    original_get = cache.get
    monkeypatch.setattr(cache, "get", lambda *a, **k: gets.append(a) or original_get(*a, **k))
    calls_before = flags.cache.backend_calls
    for _ in range(1000):
        Customer.objects.filter(full_name="Ada (new)").exists()
    assert gets == []
    assert flags.cache.backend_calls == calls_before


def main_flag_only(answers: Iterator[bool]) -> Callable[[str], bool]:
    """A backend giving *answers* for the transition's flag; its shadow switch stays off."""
    return lambda flag: False if flag.endswith(".shadow") else next(answers)


def test_a_flip_during_compilation_cannot_mix_columns(
    ada: Customer, settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The backend flips the flag every time it is asked; TTL 0 asks it at every resolution.
    One statement still uses one column throughout, and the next statement the other."""
    settings.FLAGSCHEMA_FLAG_TTL = 0
    answers = iter([True, False, True, False, True, False])
    monkeypatch.setattr(flags.cache, "backend", lambda: main_flag_only(answers))
    qs = (
        Customer.objects.filter(full_name__startswith="Ada")
        .exclude(full_name="nobody")
        .order_by("full_name")
        .values_list("full_name", flat=True)
    )
    with CaptureQueriesContext(connection) as first:
        assert list(qs.all()) == ["Ada (new)"]
    with CaptureQueriesContext(connection) as second:
        assert list(qs.all()) == ["Ada (old)"]
    new_col = connection.ops.quote_name("full_name")
    old_col = connection.ops.quote_name("name")
    (sql1,) = [q["sql"] for q in first.captured_queries]
    (sql2,) = [q["sql"] for q in second.captured_queries]
    # The select list, the filter, the exclude and the order by all use the read side's column
    # (Django 5.2 orders by the select list's position, 4.2 repeats the column).
    assert sql1.count(f".{new_col}") >= 3 and sql1.count(f".{old_col}") == 0
    assert sql2.count(f".{old_col}") >= 3 and sql2.count(f".{new_col}") == 0


def test_a_flip_from_inside_the_resolution_cannot_mix_columns(
    ada: Customer, settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A backend that flips the real waffle switch while it is being asked (and so makes a
    query in the middle of the statement's compilation)."""
    from waffle.models import Switch

    settings.FLAGSCHEMA_FLAG_TTL = 0
    set_switch("customers.full_name", False)

    def flipping_backend(flag: str) -> bool:
        if flag.endswith(".shadow"):  # the shadow-mode switch, asked while reads are old
            return False
        active = flags.waffle_switch_is_active(flag)
        switch = Switch.objects.get(name=flag)
        switch.active = not active
        switch.save()
        switch.flush()
        return active

    monkeypatch.setattr(flags.cache, "backend", lambda: flipping_backend)
    rows = list(
        Customer.objects.filter(full_name__endswith="(old)")
        .order_by("full_name")
        .values("full_name", "name")
    )
    assert rows == [{"full_name": "Ada (old)", "name": "Ada (old)"}]
    rows = list(Customer.objects.filter(full_name__endswith="(new)").values("full_name"))
    assert rows == [{"full_name": "Ada (new)"}]


def test_the_middleware_pins_one_state_for_a_whole_request(
    ada: Customer, client, settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.FLAGSCHEMA_FLAG_TTL = 0
    answers = iter([True, False, True, False])
    monkeypatch.setattr(flags.cache, "backend", lambda: main_flag_only(answers))
    first = client.get("/customers/").json()
    assert first == {"first": ["Ada (new)"], "second": ["Ada (new)"]}
    second = client.get("/customers/").json()
    assert second == {"first": ["Ada (old)"], "second": ["Ada (old)"]}


def test_without_the_middleware_each_statement_resolves_alone(
    ada: Customer, client, settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.FLAGSCHEMA_FLAG_TTL = 0
    settings.MIDDLEWARE = [m for m in settings.MIDDLEWARE if "flagschema" not in m]
    answers = iter([True, False])
    monkeypatch.setattr(flags.cache, "backend", lambda: main_flag_only(answers))
    assert client.get("/customers/").json() == {"first": ["Ada (new)"], "second": ["Ada (old)"]}


def test_reading_pins_a_side(ada: Customer) -> None:
    set_switch("customers.full_name", False)
    with flagschema.reading(LABEL, "new"):
        assert Customer.objects.get(pk=ada.pk).full_name == "Ada (new)"
        with flagschema.reading(LABEL, "old"):
            assert Customer.objects.get(pk=ada.pk).full_name == "Ada (old)"
        assert Customer.objects.get(pk=ada.pk).full_name == "Ada (new)"
    assert Customer.objects.get(pk=ada.pk).full_name == "Ada (old)"

    @flagschema.reading(LABEL, "new")
    def decorated() -> str:
        return Customer.objects.get(pk=ada.pk).full_name

    assert decorated() == "Ada (new)"


def test_reading_rejects_unknown_labels_and_sides() -> None:
    with pytest.raises(flagschema.TransitionError, match="No transition is labelled 'nope'"):
        flagschema.reading("nope", "new")
    with pytest.raises(flagschema.TransitionError, match="not one of 'old', 'new' or 'shadow'"):
        flagschema.reading(LABEL, "newest")


def test_registry_lists_the_declared_transitions() -> None:
    # tests/apps/modern's transitions exist on the Djangos that have its model features.
    modern = ["modern.Author.full_name", "modern.Ticket.priority", "modern.Ticket.status"]
    if django.VERSION < (5, 0):
        modern = []
    elif django.VERSION >= (5, 2):
        modern[1:1] = ["modern.Enrollment.credits", "modern.Enrollment.grade"]
    labels = flagschema.registry.labels()
    assert [label for label in labels if label.startswith("modern.")] == modern
    assert [label for label in labels if not label.startswith("modern.")] == [
        "convert.Product.price",
        "convert.Product.stock",
        "rename.Customer.full_name",
        "rename.Order.reference",
        "rename.Tag.slug",
        "reshape.Person.name_split",
        "reshape.Place.address_merge",
        "rollout.Article.body",
        "writes.Book.page_count",
        "writes.Contact.name_split",
        "writes.Item.price",
        "writes.Item.title",
    ]
    t = flagschema.registry[LABEL]
    assert (t.kind, t.old_column, t.new_column, t.flag) == (
        "rename",
        "name",
        "full_name",
        "customers.full_name",
    )
    assert t.model is Customer


def test_a_callable_backend_replaces_waffle(ada: Customer, settings) -> None:
    settings.FLAGSCHEMA_FLAG_BACKEND = lambda flag: flag == "customers.full_name"
    assert Customer.objects.get(pk=ada.pk).full_name == "Ada (new)"
    settings.FLAGSCHEMA_FLAG_BACKEND = "tests.test_flags.never"
    assert Customer.objects.get(pk=ada.pk).full_name == "Ada (old)"


def never(flag: str) -> bool:
    return False


def test_reading_decorates_a_coroutine_function(ada: Customer) -> None:
    import asyncio

    from flagschema.flags import read_side

    transition = flagschema.registry[LABEL]

    @flagschema.reading(LABEL, "new")
    async def side_inside() -> str:
        await asyncio.sleep(0)
        return read_side(transition)

    set_switch("customers.full_name", False)
    assert asyncio.run(side_inside()) == "new"
    assert read_side(transition) == "old"
