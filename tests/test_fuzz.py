"""Bad input (issue 6): fuzzed declarations and command arguments give clear errors and write
nothing, and a crafted table or column name reaches SQL only quoted by the connection.

What "a clear error" means, checked on every input hypothesis generates:

* **A declaration** (``RenamedField``, ``ConvertedField``, ``Transition``, and the model class
  that declares it) raises ``TypeError`` or :class:`flagschema.TransitionError`, never another
  exception and never nothing, and its message is one line that names the bad argument: the
  parameter's name appears in it as a word (``flag``, ``old_name``, ``forward_sql``; ``old`` is
  not found in ``old_name``). A value of the right type that is wrong only on the model it is
  declared on (an empty flag, an ``old_name`` that is no field name, a proxy model, an old
  field the migrations do not know) may be accepted and reported by a system check instead: its
  check id is asserted.
* **A command** (``call_command("flagschema", ...)``, argv as a shell passes it) raises
  ``CommandError`` (argparse's errors are ``CommandError`` under ``call_command``) whose message
  is one line without a traceback; no other exception (no database error, no ``SystemExit``);
  and the database holds the same rows afterwards: flips, verify runs, backfill progress,
  waffle's switches and flags, and every table of the test apps.

Every hypothesis test is derandomized, so a CI run is reproducible; ``FUZZ`` sizes them.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable
from decimal import Decimal
from io import StringIO
from typing import Any

import pytest
from django.apps import apps
from django.conf import settings as django_settings
from django.core import checks
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, models, transaction
from django.db.models import F, Value
from django.db.models.functions import Cast, Round
from django.test.utils import isolate_apps
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st
from waffle.models import Flag, Switch

import flagschema
from flagschema.checks import (
    _types_connection,
    check_against_migrations,
    check_round_trip_samples,
)
from flagschema.fields import transition_of
from flagschema.management.commands._flagschema.backfill import MAX_SLEEP_SECONDS
from flagschema.management.commands.flagschema import MAX_ROWS, verbs
from flagschema.models import BackfillProgress, FlipEvent, VerifyRun
from flagschema.runbook.backfill import backfill
from flagschema.runbook.roundtrip import check_rows
from flagschema.runbook.rows import count_unfilled
from flagschema.runbook.status import transition_status
from flagschema.runbook.verify import verify
from flagschema.transitions import Transition
from tests.apps.convert.models import Product
from tests.apps.rename.models import Customer
from tests.apps.reshape.models import Person
from tests.helpers import put, set_switch

pytestmark = pytest.mark.fuzz

FUZZ = settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    database=None,
    # One falsifying example per test: the first is the one to read.
    report_multiple_bugs=False,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def fuzz(max_examples: int) -> settings:
    return settings(FUZZ, max_examples=max_examples)


# --- generated values ------------------------------------------------------------------------

WHITESPACE = "".join(c for c in map(chr, range(0x3001)) if c.isspace())
IDENTIFIER_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789_"

blank = st.text(alphabet=WHITESPACE, max_size=6)
identifiers = st.builds(
    lambda first, rest: first + rest,
    st.sampled_from("abcdefghijklmnopqrstuvwxyz"),
    st.text(alphabet=IDENTIFIER_CHARS, max_size=11),
).filter(lambda s: "__" not in s and not s.endswith("_"))
# Field names that are no attribute of a model (`check`, `save`, `objects` would shadow one).
field_names = identifiers.map(lambda s: f"f_{s}")
not_identifiers = st.one_of(
    st.text(max_size=20).filter(lambda s: not s.isidentifier()),
    st.builds(lambda a, b: f"{a}__{b}", identifiers, identifiers),
    st.builds(lambda a: f"{a} x", identifiers),
    st.sampled_from(["", "1st", "a-b", "a.b", "name'; DROP TABLE x; --", "ñ ame", "__"]),
)
not_strings = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False),
    st.binary(max_size=8),
    st.lists(st.text(max_size=4), max_size=2),
    st.tuples(st.text(max_size=4)),
    st.builds(object),
)
not_callables = st.one_of(
    st.none(), st.integers(), st.text(max_size=8), st.lists(st.integers(), max_size=2)
).filter(lambda v: not callable(v))
not_fields = st.one_of(
    st.text(max_size=10),
    st.integers(),
    st.lists(st.integers(), max_size=2),
    st.sampled_from(
        [models.CharField, models.IntegerField, "CharField", F("name"), Value(1), object()]
    ),
)
not_iterables = st.one_of(st.integers(), st.floats(allow_nan=False), st.builds(object))
not_expressions = st.one_of(
    st.text(max_size=10), st.integers(), st.lists(st.integers(), max_size=2), st.builds(object)
)
relations = st.sampled_from(
    [
        lambda: models.ForeignKey("auth.User", models.CASCADE),
        lambda: models.OneToOneField("auth.User", models.CASCADE),
        lambda: models.ManyToManyField("auth.User"),
    ]
).map(lambda make: make())
not_plain_fields = st.one_of(not_fields, relations)
flag_types = st.one_of(
    st.text(max_size=10), st.sampled_from(["Switch", "FLAG", " switch", "flag ", "waffle"])
).filter(lambda v: v not in ("switch", "flag"))
bad_flag_types = st.one_of(flag_types, not_strings)


# --- the property of a declaration error -----------------------------------------------------


def mentions(message: str, name: str) -> bool:
    """Whether *message* names the parameter *name* as a word of its own."""
    return re.search(rf"(?<![\w]){re.escape(name)}(?![\w])", message) is not None


def assert_clear_declaration_error(declare: Callable[[], Any], *names: str) -> str:
    """*declare* raises TypeError or TransitionError, one line naming every one of *names*."""
    try:
        declared = declare()
    except (TypeError, flagschema.TransitionError) as exc:
        message = str(exc)
    except Exception as exc:
        raise AssertionError(f"{type(exc).__name__} instead of a clear error: {exc}") from exc
    else:
        raise AssertionError(f"accepted: {declared!r}")
    assert len(message.splitlines()) == 1, f"not one line: {message!r}"
    missing = [n for n in names if not mentions(message, n)]
    assert not missing, f"the message does not name {missing}: {message!r}"
    return message


def assert_error_or_check(declare: Callable[[], Any], name: str, check_id: str) -> None:
    """Either a clear declaration error naming *name*, or a model whose checks say
    *check_id*."""
    try:
        model = declare()
    except (TypeError, flagschema.TransitionError) as exc:
        message = str(exc)
        assert len(message.splitlines()) == 1 and mentions(message, name), message
        return
    except Exception as exc:
        raise AssertionError(f"{type(exc).__name__} instead of a clear error: {exc}") from exc
    found = [m.id for m in model.check() if m.id and m.id.startswith("flagschema.")]
    assert check_id in found, f"accepted, and the checks say {found}, not {check_id}"


def on_model(field: Callable[[], Any], *, name: str = "full_name", app: str = "rename") -> Any:
    """The model class ``Person`` declaring ``field()`` as *name*, in isolated apps."""
    return declare_model("Person", lambda: {name: field()}, app=app)


def declare_model(
    class_name: str,
    attributes: Callable[[], dict[str, Any]],
    *,
    app: str = "rename",
    bases: tuple[type, ...] = (models.Model,),
    **meta: Any,
) -> Any:
    """A model class of *app* built in isolated apps, with *attributes()* built inside them."""
    with isolate_apps(f"tests.apps.{app}"):
        meta_class = type("Meta", (), {"app_label": app, **meta})
        attrs = {"__module__": __name__, "Meta": meta_class, **attributes()}
        return type(class_name, bases, attrs)


# --- Transition ------------------------------------------------------------------------------


def split_name(name: str) -> tuple[str, str]:
    first, _, last = name.partition(" ")
    return first, last


def join_name(first: str, last: str) -> str:
    return f"{first} {last}" if last else first


def good_transition() -> dict[str, Any]:
    return {
        "old": {"name": models.CharField(max_length=10)},
        "new": {"a": models.CharField(max_length=5), "b": models.CharField(max_length=5)},
        "forward": split_name,
        "backward": join_name,
        "flag": "x.y",
    }


def bad_fields(what: str) -> st.SearchStrategy[tuple[Any, tuple[str, ...]]]:
    """Invalid values of Transition(old=...) or (new=...), with the names the error names."""
    other = "new" if what == "old" else "old"
    fields = {"old": ["name"], "new": ["a", "b"]}[what]
    char = st.builds(models.CharField, max_length=st.integers(1, 50))
    return st.one_of(
        st.one_of(not_strings, st.text(max_size=5), st.just({})).map(lambda v: (v, (what,))),
        # a key that is not a field name, next to good ones
        st.builds(
            lambda key, field: ({**dict.fromkeys(fields, field), key: field}, (what,)),
            st.one_of(not_identifiers, st.integers(), st.none()),
            char,
        ),
        # a value that is not a plain field instance
        st.builds(
            lambda value: ({fields[0]: value, "z": models.CharField()}, (what,)), not_plain_fields
        ),
        # a name that is on both sides
        st.just(({"name": models.CharField(), "a": models.CharField()}, (what, other)))
        if what == "new"
        else st.just(({"a": models.CharField()}, (what, other))),
    )


def bad_sql(what: str) -> st.SearchStrategy[tuple[Any, tuple[str, ...]]]:
    fields = {"forward_sql": ["a", "b"], "backward_sql": ["name"]}[what]
    return st.one_of(
        st.one_of(not_expressions, st.just(F("a"))).map(lambda v: (v, (what,))),
        st.builds(
            lambda key: ({key: F("name")}, (what,)),
            st.one_of(st.text(max_size=8), st.integers()).filter(lambda k: k not in fields),
        ),
        st.builds(lambda value: ({fields[0]: value}, (what,)), not_expressions),
    )


TRANSITION_ARGUMENTS: dict[str, st.SearchStrategy[tuple[Any, tuple[str, ...]]]] = {
    "old": bad_fields("old"),
    "new": bad_fields("new"),
    "forward": not_callables.map(lambda v: (v, ("forward",))),
    "backward": not_callables.map(lambda v: (v, ("backward",))),
    "flag": st.one_of(not_strings, blank).map(lambda v: (v, ("flag",))),
    "flag_type": bad_flag_types.map(lambda v: (v, ("flag_type",))),
    "forward_sql": bad_sql("forward_sql"),
    "backward_sql": bad_sql("backward_sql"),
    "samples": not_iterables.map(lambda v: (v, ("samples",))),
    "comparator": not_callables.filter(lambda v: v is not None).map(
        lambda v: (v, ("comparator",))
    ),
}


@pytest.mark.parametrize(
    "argument",
    [
        *(a for a in TRANSITION_ARGUMENTS if a not in ("samples", "comparator")),
        "samples",
        "comparator",
    ],
)
def test_a_bad_transition_argument_is_a_clear_error(argument: str) -> None:
    @FUZZ
    @given(TRANSITION_ARGUMENTS[argument])
    def check(bad: tuple[Any, tuple[str, ...]]) -> None:
        value, names = bad
        arguments = {**good_transition(), argument: value}
        assert_clear_declaration_error(lambda: Transition(**arguments), *names)

    check()


# --- RenamedField and ConvertedField ---------------------------------------------------------


def renamed(**change: Any) -> Callable[[], Any]:
    """A model declaring ``full_name = RenamedField(...)`` with *change* to good arguments."""
    arguments = {"old_name": "name", "flag": "customers.fuzz", **change}
    field = arguments.pop("field", models.CharField(max_length=10))
    return lambda: on_model(lambda: flagschema.RenamedField(field, **arguments))


def converted(**change: Any) -> Callable[[], Any]:
    """A model declaring ``price = ConvertedField(...)`` with *change* to good arguments."""
    arguments = {
        "old": models.IntegerField(db_column="cents"),
        "forward": Decimal,
        "backward": int,
        "flag": "products.fuzz",
        **change,
    }
    field = arguments.pop("field", models.DecimalField(max_digits=5, decimal_places=2))
    return lambda: on_model(lambda: flagschema.ConvertedField(field, **arguments), name="price")


RENAMED_ARGUMENTS: dict[str, st.SearchStrategy[Any]] = {
    "field": not_fields,
    "field omitted": st.just(None),
    "old": not_fields,
    "old_name": not_strings.filter(lambda v: v != ""),
    "flag": not_strings,
    "flag_type": bad_flag_types,
    "comparator": not_callables.filter(lambda v: v is not None),
}


@pytest.mark.parametrize(
    "argument",
    [
        "field",
        "flag_type",
        "field omitted",
        "old",
        "old_name",
        "flag",
        "comparator",
    ],
)
def test_a_bad_renamed_field_argument_is_a_clear_error(argument: str) -> None:
    name = argument.split()[0]

    @FUZZ
    @given(RENAMED_ARGUMENTS[argument])
    def check(value: Any) -> None:
        assert_clear_declaration_error(renamed(**{name: value}), name)

    check()


CONVERTED_ARGUMENTS: dict[str, st.SearchStrategy[Any]] = {
    "field": not_fields,
    "field omitted": st.just(None),
    "old": st.one_of(st.none(), not_fields),
    "forward": not_callables,
    "backward": not_callables,
    "flag_type": bad_flag_types,
    "forward_sql": not_expressions,
    "backward_sql": not_expressions,
    "old_name": not_strings.filter(lambda v: v != ""),
    "flag": not_strings,
    "samples": not_iterables,
    "comparator": not_callables.filter(lambda v: v is not None),
}


@pytest.mark.parametrize(
    "argument",
    [
        "field",
        "old",
        "forward",
        "backward",
        "flag_type",
        "field omitted",
        "forward_sql",
        "backward_sql",
        "old_name",
        "flag",
        "samples",
        "comparator",
    ],
)
def test_a_bad_converted_field_argument_is_a_clear_error(argument: str) -> None:
    name = argument.split()[0]

    @FUZZ
    @given(CONVERTED_ARGUMENTS[argument])
    def check(value: Any) -> None:
        assert_clear_declaration_error(converted(**{name: value}), name)

    check()


@FUZZ
@given(
    st.one_of(
        blank.map(lambda v: ("flag", v, "flagschema.E003")),
        not_identifiers.map(lambda v: ("old_name", v, "flagschema.E006")),
        st.just(("old_name", "full_name", "flagschema.E006")),
    )
)
def test_a_renamed_field_with_a_bad_name_is_refused_or_reported(
    case: tuple[str, str, str],
) -> None:
    argument, value, check_id = case
    assert_error_or_check(renamed(**{argument: value}), argument, check_id)


@FUZZ
@given(
    st.one_of(
        blank.map(lambda v: ("flag", v, "flagschema.E003")),
        # an empty old_name means old.db_column: not bad
        not_identifiers.filter(bool).map(lambda v: ("old_name", v, "flagschema.E006")),
        st.just(("old_name", "price", "flagschema.E006")),
    )
)
def test_a_converted_field_with_a_bad_name_is_refused_or_reported(
    case: tuple[str, str, str],
) -> None:
    argument, value, check_id = case
    assert_error_or_check(converted(**{argument: value}), argument, check_id)


# --- declarations the checks refuse ----------------------------------------------------------
# Accepted as Python, wrong for the model they are on: reported by system checks with an id.


def flagschema_ids(messages: list[checks.CheckMessage]) -> list[str]:
    return [m.id for m in messages if m.id and m.id.startswith("flagschema.")]


@pytest.fixture(scope="module")
def customer_fields_in_migrations() -> frozenset[str]:
    from django.db.migrations.loader import MigrationLoader

    state = MigrationLoader(None, ignore_no_migrations=True).project_state()
    return frozenset(state.models["rename", "customer"].fields)


def transition_on(model: Any, attribute: str) -> Transition:
    found = model.__dict__.get(attribute)
    if isinstance(found, Transition):
        return found
    transition = transition_of(model._meta.get_field(attribute))
    assert transition is not None
    return transition


@fuzz(8)
@given(old_name=field_names, kind=st.sampled_from(["rename", "convert", "split"]))
def test_an_old_field_the_migrations_do_not_know_is_error_e001(
    customer_fields_in_migrations: frozenset[str], old_name: str, kind: str
) -> None:
    assume(old_name not in customer_fields_in_migrations)
    declarations: dict[str, Callable[[], Any]] = {
        "rename": lambda: flagschema.RenamedField(
            models.CharField(max_length=200), old_name=old_name, flag="f"
        ),
        "convert": lambda: flagschema.ConvertedField(
            models.DecimalField(max_digits=5, decimal_places=2),
            old=models.IntegerField(db_column=old_name),
            forward=Decimal,
            backward=int,
            flag="f",
        ),
        "split": lambda: flagschema.Transition(
            old={old_name: models.CharField(max_length=200)},
            new={"f_first": models.CharField(max_length=9), "f_last": models.CharField()},
            forward=split_name,
            backward=join_name,
            flag="f",
        ),
    }
    # Customer of the app `rename`, whose migrations know its fields.
    model = declare_model("Customer", lambda: {"changed": declarations[kind]()})
    found = check_against_migrations([transition_on(model, "changed")])
    assert flagschema_ids(found) == ["flagschema.E001"], found
    assert repr(old_name) in found[0].msg


@FUZZ
@given(old_name=field_names, flag=identifiers)
def test_a_transition_on_a_proxy_model_is_error_e004(old_name: str, flag: str) -> None:
    parent = declare_model("Base", lambda: {old_name: models.CharField(max_length=10)})
    proxy = declare_model(
        "Proxied",
        lambda: {
            "f_new": flagschema.RenamedField(
                models.CharField(max_length=10), old_name=old_name, flag=flag
            )
        },
        bases=(parent,),
        proxy=True,
    )
    assert "flagschema.E004" in flagschema_ids(proxy.check())


@FUZZ
@given(old_name=field_names)
def test_an_old_field_still_declared_is_error_e005(old_name: str) -> None:
    model = declare_model(
        "Person",
        lambda: {
            old_name: models.CharField(max_length=10),
            "f_new": flagschema.RenamedField(
                models.CharField(max_length=10), old_name=old_name, flag="f"
            ),
        },
    )
    assert "flagschema.E005" in flagschema_ids(model.check())


FIELD_TYPES: list[Callable[[], models.Field]] = [
    lambda: models.CharField(max_length=10),
    lambda: models.CharField(max_length=20),
    models.TextField,
    models.IntegerField,
    models.BigIntegerField,
    models.BooleanField,
    models.DateField,
    models.FloatField,
    lambda: models.DecimalField(max_digits=5, decimal_places=2),
]


@FUZZ
@given(new=st.sampled_from(FIELD_TYPES), old=st.sampled_from(FIELD_TYPES), old_name=field_names)
def test_a_rename_that_changes_the_column_type_is_error_e002(
    new: Callable[[], models.Field], old: Callable[[], models.Field], old_name: str
) -> None:
    # Types as the checks compare them: without connecting (MariaDB's would ask the server).
    types = _types_connection()
    assume(new().db_type(types) != old().db_type(types))
    model = on_model(
        lambda: flagschema.RenamedField(new(), old_name=old_name, old=old(), flag="f")
    )
    assert flagschema_ids(model.check()) == ["flagschema.E002"]


@FUZZ
@given(old_name=field_names, what=st.sampled_from(["foreign key", "one to one", "primary key"]))
def test_renaming_a_relation_or_the_primary_key_is_error_e007(old_name: str, what: str) -> None:
    def attributes() -> dict[str, Any]:
        target = type(
            "Target",
            (models.Model,),
            {"__module__": __name__, "Meta": type("Meta", (), {"app_label": "rename"})},
        )
        field = {
            "foreign key": lambda: models.ForeignKey(target, models.CASCADE),
            "one to one": lambda: models.OneToOneField(target, models.CASCADE),
            "primary key": lambda: models.IntegerField(primary_key=True),
        }[what]()
        return {"f_new": flagschema.RenamedField(field, old_name=old_name, flag="f")}

    model = declare_model("Person", attributes)
    assert "flagschema.E007" in flagschema_ids(model.check())


@FUZZ
@given(
    samples=st.lists(st.integers(-(10**6), 10**6), min_size=1, max_size=4),
    shift=st.integers(-5, 5).filter(bool),
)
def test_a_sample_that_does_not_come_back_is_error_e010(samples: list[int], shift: int) -> None:
    model = on_model(
        lambda: flagschema.ConvertedField(
            models.IntegerField(),
            old=models.IntegerField(db_column="f_old"),
            forward=lambda old: old + shift,
            backward=lambda new: new,  # not old - shift: no sample survives
            flag="f",
            samples=samples,
        ),
        name="f_new",
    )
    transition = transition_on(model, "f_new")
    transition.label = "rename.Person.f_fuzz"  # the registry keeps isolated models out
    flagschema.registry.register(transition)
    try:
        found = [m for m in check_round_trip_samples() if m.obj is transition.field]
    finally:
        flagschema.registry.unregister(transition.label)
    assert flagschema_ids(found) == ["flagschema.E010"] * len(samples)


# --- command arguments -----------------------------------------------------------------------

LABELS = flagschema.registry.labels()
TEST_APPS = ("rename", "convert", "reshape", "rollout")
SQLISH = [
    "x'; DROP TABLE waffle_switch; --",
    '"; DELETE FROM flagschema_flipevent; --',
    "rename.Customer.full_name'; DROP TABLE rename_customer; --",
    'rename.Customer.full_name" OR "1"="1',
    "rename.Customer.full_name`; DROP TABLE rename_customer; #",
    "rename.Customer.full_name) UNION SELECT * FROM auth_user --",
    "1 OR 1=1",
    "%s",
    "%(label)s",
    "{label}",
    "\\'",
    "rename.%",
    "rename.Customer.*",
    "../../etc/passwd",
]
MUTATIONS: list[Callable[[str], str]] = [
    str.upper,
    str.lower,
    str.swapcase,
    lambda label: f" {label}",
    lambda label: f"{label}\n",
    lambda label: label.replace(".", "_"),
    lambda label: label.replace(".", ":"),
    lambda label: label.rsplit(".", 1)[0],
    lambda label: label.split(".", 1)[1],
    lambda label: label[:-1],
    lambda label: f"{label}.{label}",
]
unknown_labels = st.one_of(
    st.text(max_size=40),
    st.sampled_from(SQLISH),
    st.builds(
        lambda label, change: change(label), st.sampled_from(LABELS), st.sampled_from(MUTATIONS)
    ),
    st.builds(
        lambda label, junk: label + junk, st.sampled_from(LABELS), st.text(min_size=1, max_size=8)
    ),
    # very long
    st.builds(lambda part, n: part * n, st.text(min_size=1, max_size=8), st.integers(200, 3000)),
).filter(lambda label: label not in LABELS)


def parses(kind: type, text: str) -> bool:
    try:
        kind(text)
    except ValueError:
        return False
    return True


def not_a(kind: type) -> st.SearchStrategy[str]:
    """Text that argparse's ``type=kind`` refuses."""
    return st.one_of(
        st.text(max_size=12),
        st.sampled_from(["", " ", "1.5", "1e3", "0x10", "1,000", "ten", "--", "\uff11e", "NaN%"]),
    ).filter(lambda text: not parses(kind, text))


too_many_rows = st.integers(min_value=MAX_ROWS + 1).map(str)
bad_batch_sizes = st.one_of(st.integers(max_value=0).map(str), too_many_rows, not_a(int))
bad_limits = st.one_of(st.integers(max_value=-1).map(str), too_many_rows, not_a(int))
bad_sleeps = st.one_of(
    st.floats(max_value=-(10**-9)).map(repr),
    st.floats(min_value=MAX_SLEEP_SECONDS, exclude_min=True).map(repr),
    st.sampled_from(["nan", "NaN", "-nan", "inf", "infinity", "-inf", "1e999", "86400.5"]),
    not_a(float),
)
with_nul = st.builds(lambda a, b: f"{a}\x00{b}", st.text(max_size=8), st.text(max_size=8))
with_surrogate = st.builds(
    lambda a, c: a + c, st.text(max_size=8), st.characters(categories=["Cs"])
)
bad_reasons = st.one_of(blank, with_nul, with_surrogate)
bad_actors = st.one_of(
    with_nul,
    with_surrogate,
    st.builds(lambda c, n: c * n, st.sampled_from(["a", "é", "名"]), st.integers(151, 400)),
)
bad_databases = st.one_of(
    st.text(max_size=20), st.sampled_from(["Default", "default ", "other", "'; --"])
).filter(lambda alias: alias not in django_settings.DATABASES)


def table_rows(model: Any) -> list[tuple[Any, ...]]:
    table = connection.ops.quote_name(model._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {table} ORDER BY 1")
        return [tuple(row) for row in cursor.fetchall()]


def database_state() -> dict[str, Any]:
    """Every row a command could write: the runbook's records, waffle's, the test apps'."""
    state: dict[str, Any] = {
        "flips": list(FlipEvent.objects.order_by("pk").values_list()),
        "verify runs": list(VerifyRun.objects.order_by("pk").values_list()),
        "backfill progress": list(BackfillProgress.objects.order_by("pk").values_list()),
        "waffle switches": list(Switch.objects.order_by("pk").values_list("name", "active")),
        "waffle flags": list(Flag.objects.order_by("pk").values_list("name", "everyone")),
    }
    for label in TEST_APPS:
        for model in apps.get_app_config(label).get_models(include_auto_created=True):
            state[model._meta.db_table] = table_rows(model)
    return state


def refused(*argv: str) -> str:
    """``flagschema *argv`` raises a one-line CommandError and writes nothing (rolled back to a
    savepoint either way, so the next example starts from the same rows)."""
    shown = shlex.join(argv)
    if len(shown) > 300:
        shown = f"{shown[:300]}... ({len(shown):,} characters)"
    before = database_state()
    # Django 6.1 names it savepoint_create() (and deprecates savepoint()).
    savepoint = getattr(transaction, "savepoint_create", transaction.savepoint)()
    try:
        try:
            call_command("flagschema", *argv, stdout=StringIO(), stderr=StringIO())
        except CommandError as exc:
            message = str(exc)
        except (Exception, SystemExit) as exc:
            raise AssertionError(
                f"flagschema {shown} raised {type(exc).__name__}: {str(exc)[:300]}"
            ) from exc
        else:
            raise AssertionError(f"flagschema {shown} was accepted")
        after = database_state()
    finally:
        transaction.savepoint_rollback(savepoint)
    assert after == before, f"flagschema {shown} wrote: {diff(before, after)}"
    assert len(message.splitlines()) == 1, f"flagschema {shown}: not one line: {message!r}"
    assert "Traceback (most recent call last)" not in message, message
    return message


def diff(before: dict[str, Any], after: dict[str, Any]) -> str:
    return "; ".join(
        f"{key}: {before[key]!r} -> {after[key]!r}" for key in before if before[key] != after[key]
    )[:1000]


@pytest.fixture
def seeded(db: None) -> None:
    """Rows a backfill would fill, and a switch a flip to old would change."""
    set_switch("customers.full_name", True)
    for name in ("Ada Lovelace", "Grace Hopper", "Alan Turing"):
        customer = Customer.objects.create(full_name=name)
        put(Customer, customer.pk, full_name=None)  # written before the expand
    for stock in (1, 2):
        product = Product.objects.create(stock=stock)
        put(Product, product.pk, stock=None)
    person = Person.objects.create(first_name="Ada", last_name="Lovelace")
    put(Person, person.pk, first_name=None, last_name=None)


# The arguments that make each verb write when its label is valid (a flip to the side the
# switch does not say).
VALID = {
    "status": [],
    "backfill": [],
    "verify": [],
    "flip": ["--to=old", "--reason=fuzz"],
    "contract": [],
}
LABELLED = ["backfill", "verify", "flip", "contract"]
json = st.sampled_from([[], ["--json"]])


@pytest.mark.parametrize("verb", [*LABELLED, "status"])
def test_an_unknown_label_is_refused(seeded: None, verb: str) -> None:
    @fuzz(40)
    @given(label=unknown_labels, extra=json)
    @example(label="", extra=[])
    @example(label="--help", extra=[])
    @example(label="rename.Customer.full_name ", extra=[])
    @example(label="x'; DROP TABLE waffle_switch; --", extra=["--json"])
    def check(label: str, extra: list[str]) -> None:
        message = refused(verb, *VALID[verb], *extra, "--", label)
        assert "No transition is labelled" in message and repr(label) in message

    check()


@fuzz(40)
@given(
    labels=st.lists(st.one_of(unknown_labels, st.sampled_from(LABELS)), min_size=1, max_size=4),
    extra=st.sampled_from([[], ["--json"], ["--no-count"]]),
)
@example(labels=["rename.Customer.full_name", "rename.Customer.name"], extra=[])
def test_status_refuses_a_list_with_an_unknown_label(
    seeded: None, labels: list[str], extra: list[str]
) -> None:
    assume(any(label not in LABELS for label in labels))
    refused("status", *extra, "--", *labels)


@fuzz(100)
@given(
    label=st.sampled_from(LABELS),
    bad=st.one_of(
        bad_batch_sizes.map(lambda v: [f"--batch-size={v}"]),
        bad_sleeps.map(lambda v: [f"--sleep={v}", "--batch-size=1"]),  # several ranges
    ),
    extra=st.sampled_from([[], ["--json"], ["--dry-run"], ["--restart"]]),
)
@example(label=LABELS[0], bad=["--batch-size=0"], extra=[])
@example(label=LABELS[0], bad=["--batch-size=--"], extra=[])
@example(label=LABELS[0], bad=[f"--batch-size={MAX_ROWS + 1}"], extra=[])
@example(label=LABELS[0], bad=["--sleep=nan", "--batch-size=1"], extra=[])
@example(label=LABELS[0], bad=["--sleep=inf", "--batch-size=1"], extra=[])
@example(label=LABELS[0], bad=["--sleep=1e300", "--batch-size=1"], extra=[])
@example(label=LABELS[0], bad=["--sleep=86401", "--batch-size=1"], extra=[])
@example(label=LABELS[0], bad=["--sleep=--", "--batch-size=1"], extra=[])
@example(label=LABELS[0], bad=["--sleep=-1", "--batch-size=1"], extra=[])
def test_backfill_refuses_bad_numbers(
    seeded: None, label: str, bad: list[str], extra: list[str]
) -> None:
    message = refused("backfill", *bad, *extra, "--", label)
    assert message.startswith(("Error: argument --", "--batch-size", "--sleep")), message


@fuzz(50)
@given(label=st.sampled_from(LABELS), limit=bad_limits, extra=json)
@example(label=LABELS[0], limit="--", extra=[])
@example(label=LABELS[0], limit=str(MAX_ROWS + 1), extra=[])
@example(label=LABELS[0], limit="-1", extra=[])
def test_verify_refuses_a_bad_limit(
    seeded: None, label: str, limit: str, extra: list[str]
) -> None:
    message = refused("verify", f"--limit={limit}", *extra, "--", label)
    assert message.startswith(("Error: argument --limit", "--limit")), message


TO_SIDE = "--to=<the side a flip would change>"
FLIPS = [
    # (label, the side the seeded switch does not say)
    ("rename.Customer.full_name", "old"),
    ("convert.Product.price", "new"),
    ("rollout.Article.body", "new"),  # a waffle Flag
]


@fuzz(100)
@given(
    flip=st.sampled_from(FLIPS),
    bad=st.one_of(
        st.text(max_size=8)
        .filter(lambda v: v not in ("old", "new"))
        .map(lambda v: ("--to", [f"--to={v}", "--reason=fuzz"])),
        st.just(("--to", ["--reason=fuzz"])),  # missing
        st.just(("--reason", [TO_SIDE])),  # missing
        bad_reasons.map(lambda v: ("reason", [TO_SIDE, f"--reason={v}"])),
        bad_actors.map(lambda v: ("--actor", [TO_SIDE, "--reason=fuzz", f"--actor={v}"])),
    ),
    extra=st.sampled_from([[], ["--json"], ["--force"]]),
)
@example(flip=FLIPS[0], bad=("--to", ["--to=--", "--reason=fuzz"]), extra=[])
@example(flip=FLIPS[0], bad=("--to", ["--to=OLD", "--reason=fuzz"]), extra=[])
@example(flip=FLIPS[0], bad=("reason", [TO_SIDE, "--reason=\x00"]), extra=[])
@example(flip=FLIPS[0], bad=("reason", [TO_SIDE, "--reason= \t"]), extra=[])
@example(flip=FLIPS[0], bad=("reason", [TO_SIDE, "--reason=--"]), extra=[])
@example(
    flip=FLIPS[0],
    bad=("--actor", [TO_SIDE, "--reason=fuzz", f"--actor={'a' * 151}"]),
    extra=[],
)
@example(flip=FLIPS[0], bad=("--actor", [TO_SIDE, "--reason=fuzz", "--actor=\udcff"]), extra=[])
def test_flip_refuses_bad_arguments(
    seeded: None, flip: tuple[str, str], bad: tuple[str, list[str]], extra: list[str]
) -> None:
    label, to = flip
    named, arguments = bad
    message = refused(
        "flip", *(f"--to={to}" if a is TO_SIDE else a for a in arguments), *extra, "--", label
    )
    assert named in message, message


@pytest.mark.parametrize("verb", [*LABELLED, "status"])
def test_an_unknown_database_is_refused(seeded: None, verb: str) -> None:
    label = ["--", "rename.Customer.full_name"] if verb in LABELLED else []

    @fuzz(25)
    @given(alias=bad_databases)
    @example(alias="")
    @example(alias="--")
    @example(alias="Default")
    def check(alias: str) -> None:
        message = refused(verb, f"--database={alias}", *VALID[verb], *label)
        assert message.startswith("--database"), message

    check()


APP_LABELS = [config.label for config in apps.get_app_configs()]
unknown_apps = st.one_of(
    st.text(max_size=20),
    st.sampled_from(APP_LABELS).map(str.upper),
    st.sampled_from(["tests.apps.rename", "rename ", "lintme", "'; DROP TABLE x; --"]),
).filter(lambda label: label not in APP_LABELS)


@fuzz(40)
@given(
    bad=st.one_of(
        st.lists(st.one_of(unknown_apps, st.sampled_from(TEST_APPS)), min_size=1, max_size=3)
        .filter(lambda labels: any(label not in APP_LABELS for label in labels))
        .map(lambda labels: ["--", *labels]),
        # not app_label.migration_name, or no such app, or no such migration
        st.text(max_size=20).filter(lambda v: "." not in v).map(lambda v: [f"--accept={v}"]),
        st.builds(
            lambda app, name: [f"--accept={app}.{name}"],
            st.one_of(unknown_apps, st.sampled_from(TEST_APPS)),
            st.text(max_size=12).filter(lambda name: not name[:1].isdigit()),
        ),
        st.one_of(st.text(max_size=12), blank).map(lambda v: [f"--reason={v}"]),
    ),
    extra=st.sampled_from([[], ["--json"], ["--strict"]]),
)
@example(bad=["--accept="], extra=[])
@example(bad=["--reason="], extra=[])
@example(bad=["--accept=--"], extra=[])
@example(bad=["--accept=rename."], extra=[])
@example(bad=["--accept=.0001"], extra=[])
@example(bad=["--", "rename", "nope"], extra=[])
def test_lint_refuses_unknown_apps_and_migrations(
    seeded: None, bad: list[str], extra: list[str]
) -> None:
    refused("lint", *extra, *bad)


@fuzz(60)
@given(
    argv=st.one_of(
        st.text(max_size=12)
        .filter(lambda v: v not in verbs() and not v.startswith("-"))
        .map(lambda v: [v]),
        st.builds(
            lambda verb, name: [verb, f"--x-{name}", *VALID[verb], "--", LABELS[0]],
            st.sampled_from(LABELLED),
            identifiers,
        ),
        st.sampled_from([["status", "--x"], ["verify"], ["flip", "--", LABELS[0]], []]),
    )
)
@example(argv=[])
@example(argv=["--"])
def test_an_unknown_verb_or_option_is_refused(seeded: None, argv: list[str]) -> None:
    assert refused(*argv).startswith("Error: ")


# --- identifiers -----------------------------------------------------------------------------
# Django's quote_name wraps a name in the dialect's quotes without escaping that quote inside it
# (its schema editor cannot create such a table, nor its queries read one): the names here hold
# the other dialects' quote, SQL and non-ASCII text, which a name interpolated unquoted would run.


def crafted_names() -> dict[str, str]:
    q = '"' if connection.vendor == "mysql" else "`"  # not the dialect's own
    return {
        "table": f"fz{q}t'; DROP TABLE rename_customer; --",
        "pk": f"i{q}d'); DELETE FROM waffle_switch; --",
        "title": f"ti{q}tle' OR '1'='1",
        "old_title": f"old title{q}; DROP TABLE waffle_switch",
        "amount": f"amount{q}) UNION SELECT 1 --",
        "cents": "cents'; UPDATE rename_customer SET name = 'x' --",
        "count": "zählung; --",
        "count_text": f"count{q}text",
        "full": "full name'); --",
        "first": f"first{q}; --",
        "last": "last 名前",
    }


def cents_to_price(cents: int) -> Decimal:
    return Decimal(cents) / 100


def price_to_cents(price: Decimal) -> int:
    return int((Decimal(str(price)) * 100).quantize(Decimal(1)))


def crafted_model(n: dict[str, str]) -> Any:
    """A rename and a conversion in SQL, a conversion and a split in Python, on those names."""
    return declare_model(
        "Crafted",
        lambda: {
            "id": models.AutoField(primary_key=True, db_column=n["pk"]),
            "title": flagschema.RenamedField(
                models.CharField(max_length=40, null=True, db_column=n["title"]),
                old_name="old_title",
                old=models.CharField(max_length=40, null=True, db_column=n["old_title"]),
                flag="fuzz.crafted.title",
            ),
            "amount": flagschema.ConvertedField(
                models.DecimalField(
                    max_digits=12, decimal_places=2, null=True, db_column=n["amount"]
                ),
                old=models.IntegerField(null=True, db_column=n["cents"]),
                old_name="cents",
                forward=cents_to_price,
                backward=price_to_cents,
                forward_sql=F("cents") / 100.0,
                backward_sql=Cast(Round(F("amount") * 100), models.IntegerField()),
                flag="fuzz.crafted.amount",
            ),
            "count": flagschema.ConvertedField(
                models.IntegerField(null=True, db_column=n["count"]),
                old=models.CharField(max_length=10, null=True, db_column=n["count_text"]),
                old_name="count_text",
                forward=int,
                backward=str,
                flag="fuzz.crafted.count",
            ),
            "name_split": flagschema.Transition(
                old={"full": models.CharField(max_length=40, null=True, db_column=n["full"])},
                new={
                    "first": models.CharField(max_length=20, null=True, db_column=n["first"]),
                    "last": models.CharField(max_length=20, null=True, db_column=n["last"]),
                },
                forward=split_name,
                backward=join_name,
                flag="fuzz.crafted.name_split",
            ),
        },
        db_table=n["table"],
    )


def everything_else() -> dict[str, Any]:
    """The tables of the database and the rows of those the names aim at."""
    tables = sorted(connection.introspection.table_names())
    return {
        "tables": tables,
        "customers": table_rows(Customer),
        "switches": list(Switch.objects.order_by("pk").values_list("name", "active")),
    }


@pytest.mark.django_db(transaction=True)  # MariaDB commits DDL
def test_crafted_table_and_column_names_are_quoted_by_every_runbook_function() -> None:
    n = crafted_names()
    model = crafted_model(n)
    assert not flagschema_ids(model.check())
    Customer.objects.create(full_name="Ada Lovelace")
    set_switch("customers.full_name", False)
    before = everything_else()
    with connection.schema_editor() as editor:
        editor.create_model(model)
    try:
        assert n["table"] in connection.introspection.table_names()
        for i in range(1, 7):
            model.objects.create(
                title=f"t{i}", amount=Decimal(i), count=i, first=f"F{i}", last=f"L{i}"
            )
        q = connection.ops.quote_name
        new_columns = {
            "title": [n["title"]],
            "amount": [n["amount"]],
            "count": [n["count"]],
            "name_split": [n["first"], n["last"]],
        }
        wrong = {"title": "other", "amount": 99, "count": 7, "name_split": "other"}
        with connection.cursor() as cursor:
            for attribute, columns in new_columns.items():
                # rows 1-3 were written before the expand; row 4 around the ORM
                nulls = ", ".join(f"{q(c)} = NULL" for c in columns)
                cursor.execute(f"UPDATE {q(n['table'])} SET {nulls} WHERE {q(n['pk'])} <= 3")
                cursor.execute(
                    f"UPDATE {q(n['table'])} SET {q(columns[0])} = %s WHERE {q(n['pk'])} = 4",
                    [wrong[attribute]],
                )
        for attribute, method in (
            ("title", "rename"),
            ("amount", "sql"),
            ("count", "python"),
            ("name_split", "python"),
        ):
            transition = transition_on(model, attribute)
            assert count_unfilled(transition) == 3
            state = transition_status(transition)
            assert (state.rows, state.unfilled, state.error) == (6, 3, None)
            found = verify(transition)
            assert (found.method, found.checked, found.mismatched, found.unfilled) == (
                "sql" if method == "rename" else method,
                6,
                1,
                3,
            )
            assert found.sample_pks == [4, 1, 2, 3]
            dry = backfill(transition, dry_run=True)
            assert dry.unfilled == 3
            assert all(q(c) in dry.statement for c in new_columns[attribute])
            done = backfill(transition, batch_size=2)
            assert (done.finished, done.done, done.written, done.failed) == (True, 6, 3, 0)
            after = verify(transition)
            assert (after.checked, after.mismatched, after.unfilled) == (6, 1, 0)
            round_trip = check_rows(transition)  # a rename has nothing to convert
            assert (round_trip.ok, round_trip.checked) == (True, 0 if method == "rename" else 6)
        row = model.objects.get(pk=2)  # read from the old shape, through every transition
        assert (row.title, row.amount, row.count, row.first, row.last) == (
            "t2",
            Decimal(2),
            2,
            "F2",
            "L2",
        )
    finally:
        with connection.schema_editor() as editor:
            editor.delete_model(model)
    assert everything_else() == before
