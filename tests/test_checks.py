"""Mis-declared transitions give system-check errors that say what to change, not tracebacks."""

from __future__ import annotations

import pytest
from django.core import checks
from django.db import models
from django.test.utils import isolate_apps

import flagschema
from flagschema.checks import check_against_migrations, check_transitions_against_migrations


def ids(messages) -> list[str]:
    return [m.id for m in messages]


def field_checks(model, name: str) -> list[checks.CheckMessage]:
    return [m for m in model.check() if m.id and m.id.startswith("flagschema.")]


@isolate_apps("tests.apps.rename")
def test_empty_flag() -> None:
    class Person(models.Model):
        full_name = flagschema.RenamedField(
            models.CharField(max_length=10), old_name="name", flag=""
        )

        class Meta:
            app_label = "rename"

    (error,) = field_checks(Person, "full_name")
    assert error.id == "flagschema.E003"
    assert "flag='<waffle switch name>'" in error.hint


@isolate_apps("tests.apps.rename")
def test_old_name_that_is_not_a_field_name() -> None:
    class Person(models.Model):
        full_name = flagschema.RenamedField(
            models.CharField(max_length=10), old_name="first name", flag="f"
        )

        class Meta:
            app_label = "rename"

    assert ids(field_checks(Person, "full_name")) == ["flagschema.E006"]


@isolate_apps("tests.apps.rename")
def test_old_name_equal_to_the_new_name() -> None:
    class Person(models.Model):
        full_name = flagschema.RenamedField(
            models.CharField(max_length=10), old_name="full_name", flag="f"
        )

        class Meta:
            app_label = "rename"

    assert ids(field_checks(Person, "full_name")) == ["flagschema.E006"]


@isolate_apps("tests.apps.rename")
def test_new_column_equal_to_the_old_column() -> None:
    class Person(models.Model):
        full_name = flagschema.RenamedField(
            models.CharField(max_length=10, db_column="name"), old_name="name", flag="f"
        )

        class Meta:
            app_label = "rename"

    (error,) = field_checks(Person, "full_name")
    assert error.id == "flagschema.E006" and "is the old column" in error.msg


@isolate_apps("tests.apps.rename")
def test_old_field_still_declared() -> None:
    class Person(models.Model):
        full_name = flagschema.RenamedField(
            models.CharField(max_length=10), old_name="name", flag="f"
        )
        name = models.CharField(max_length=10)

        class Meta:
            app_label = "rename"

    messages = field_checks(Person, "full_name")
    assert "flagschema.E005" in ids(messages)
    assert "Remove `name = ...`" in next(m.hint for m in messages if m.id == "flagschema.E005")


@isolate_apps("tests.apps.rename")
def test_old_field_of_another_type() -> None:
    class Person(models.Model):
        full_name = flagschema.RenamedField(
            models.CharField(max_length=10),
            old_name="name",
            flag="f",
            old=models.IntegerField(),
        )

        class Meta:
            app_label = "rename"

    (error,) = field_checks(Person, "full_name")
    assert error.id == "flagschema.E002"
    assert "a rename keeps the column type" in error.msg


@isolate_apps("tests.apps.rename")
def test_relation_fields_cannot_be_renamed() -> None:
    class Target(models.Model):
        class Meta:
            app_label = "rename"

    class Person(models.Model):
        owner = flagschema.RenamedField(
            models.ForeignKey(Target, on_delete=models.CASCADE), old_name="user", flag="f"
        )

        class Meta:
            app_label = "rename"

    assert "flagschema.E007" in ids(field_checks(Person, "owner"))


@isolate_apps("tests.apps.rename")
def test_proxy_model() -> None:
    class Person(models.Model):
        name = models.CharField(max_length=10)

        class Meta:
            app_label = "rename"

    class PersonProxy(Person):
        full_name = flagschema.RenamedField(
            models.CharField(max_length=10), old_name="name", flag="f"
        )

        class Meta:
            app_label = "rename"
            proxy = True

    messages = [m for m in PersonProxy.check() if m.id == "flagschema.E004"]
    assert len(messages) == 1
    assert "Declare it on the concrete model rename.Person" in messages[0].hint


@isolate_apps("tests.apps.rename")
def test_abstract_model_copies_the_transition_to_each_child_with_the_same_flag() -> None:
    class Named(models.Model):
        full_name = flagschema.RenamedField(
            models.CharField(max_length=10), old_name="name", flag="shared"
        )

        class Meta:
            abstract = True
            app_label = "rename"

    class Author(Named):
        class Meta:
            app_label = "rename"

    class Editor(Named):
        class Meta:
            app_label = "rename"

    assert field_checks(Author, "full_name") == []
    transitions = [
        f._flagschema_transition
        for f in (Author._meta.get_field("full_name"), Editor._meta.get_field("full_name"))
    ]
    assert [t.label for t in transitions] == ["rename.Author.full_name", "rename.Editor.full_name"]
    assert Author._meta.get_field("name") is Author._meta.get_field("full_name")
    (warning,) = [m for m in check_against_migrations(transitions) if m.id == "flagschema.W002"]
    assert "flip together" in warning.msg


@isolate_apps("tests.apps.rename")
def test_unknown_old_name_against_the_migrations() -> None:
    class Customer(models.Model):  # the app's Customer, with a typo in old_name
        full_name = flagschema.RenamedField(
            models.CharField(max_length=200), old_name="nmae", flag="f"
        )

        class Meta:
            app_label = "rename"

    transition = Customer._meta.get_field("full_name")._flagschema_transition
    (error,) = check_against_migrations([transition])
    assert error.id == "flagschema.E001"
    assert "old_name 'nmae' is not a field of rename.Customer" in error.msg
    assert "email" in error.hint and "name" in error.hint


@isolate_apps("tests.apps.rename")
def test_old_column_type_differs_from_the_migrations() -> None:
    class Customer(models.Model):
        full_name = flagschema.RenamedField(
            models.CharField(max_length=100), old_name="name", flag="f"
        )

        class Meta:
            app_label = "rename"

    transition = Customer._meta.get_field("full_name")._flagschema_transition
    (error,) = check_against_migrations([transition])
    assert error.id == "flagschema.E002"
    assert "varchar(200)" in error.msg.lower() and "varchar(100)" in error.msg.lower()


@isolate_apps("tests.apps.rename")
def test_old_field_options_differ_from_the_migrations() -> None:
    class Order(models.Model):
        reference = flagschema.RenamedField(
            models.CharField(max_length=50, default="", db_index=True), old_name="ref", flag="f"
        )

        class Meta:
            app_label = "rename"

    transition = Order._meta.get_field("reference")._flagschema_transition
    (warning,) = check_against_migrations([transition])
    assert warning.id == "flagschema.W001"
    assert "db_index" in warning.msg and "old=" in warning.hint


def test_the_installed_test_app_is_clean() -> None:
    assert check_transitions_against_migrations() == []


def test_a_non_field_first_argument_is_a_clear_type_error() -> None:
    with pytest.raises(TypeError, match="RenamedField takes the new field"):
        flagschema.RenamedField("name", old_name="name", flag="f")  # type: ignore[arg-type]


CHECK_WITHOUT_DATABASES = (
    "import django; django.setup(); from django.core.management import call_command; "
    "call_command('check', databases=[])"
)


@pytest.mark.parametrize("command", ["check", "flagschema lint"])
@pytest.mark.parametrize("vendor", ["mariadb", "postgresql"])
def test_the_checks_connect_to_no_database(vendor: str, command: str) -> None:
    """`manage.py check` (and every command it precedes, such as `flagschema lint` in a CI job
    without a database) must not need a reachable server.

    Since Django 6.1 (ticket #36663) `check` runs Django's own field checks against every
    database in DATABASES, and MySQL's backend connects for them (its ``data_types`` asks the
    server for a native UUID type), in any project: there every check runs as `check` ran them
    before, with no database (``databases=[]``). The flagschema command runs its checks that way
    on every version."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    import django

    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "FLAGSCHEMA_TEST_DB": vendor,
        "FLAGSCHEMA_TEST_DB_HOST": "127.0.0.1",
        "FLAGSCHEMA_TEST_DB_PORT": "1",  # nothing listens there
    }
    env.pop("FLAGSCHEMA_TEST_REDIS", None)
    if command == "check" and django.VERSION >= (6, 1):
        argv = [sys.executable, "-c", CHECK_WITHOUT_DATABASES]
    else:
        argv = [sys.executable, "-m", "django", *command.split()]
    done = subprocess.run(
        argv,
        cwd=Path(__file__).resolve().parent.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    if command == "check":
        assert "System check identified" in done.stdout + done.stderr
    else:
        assert "flagschema.E" not in done.stdout + done.stderr
