"""The test configuration turns a deprecation warning raised from flagschema's own code into an
error (pyproject.toml, ``filterwarnings``), so that a Django upgrade that deprecates an API the
package calls fails the suite instead of printing thousands of warnings."""

from __future__ import annotations

import warnings
from typing import Any

import pytest
from django.db import connection
from django.utils import deprecation

from flagschema import fields
from tests.apps.rename.models import Customer

# Django's deprecation classes of this version: the next version's is a DeprecationWarning, the
# one after a PendingDeprecationWarning.
DJANGO_WARNINGS = [
    deprecation.RemovedInNextVersionWarning,
    deprecation.RemovedAfterNextVersionWarning,
]


def _warn_from(module: str, category: type[Warning]) -> None:
    """Warn as code of *module* does: the warning's stack level points at a frame whose module
    is *module* (how Python's filters attribute it)."""
    namespace: dict[str, Any] = {"__name__": module, "warnings": warnings}
    source = "def emit(category):\n    warnings.warn('old API', category, stacklevel=1)\n"
    exec(compile(source, module.replace(".", "/") + ".py", "exec"), namespace)
    namespace["emit"](category)


@pytest.mark.parametrize("category", [*DJANGO_WARNINGS, DeprecationWarning])
@pytest.mark.parametrize("module", ["flagschema", "flagschema.fields", "flagschema.runbook.flip"])
def test_a_deprecation_raised_from_flagschema_fails(module: str, category: type[Warning]) -> None:
    with pytest.raises(category, match="old API"):
        _warn_from(module, category)


def test_a_pending_deprecation_raised_from_flagschema_fails() -> None:
    # Django 6.1 deprecates quote_name_unless_alias() with a PendingDeprecationWarning.
    with pytest.raises(PendingDeprecationWarning):
        _warn_from("flagschema.fields", PendingDeprecationWarning)


@pytest.mark.parametrize("category", [*DJANGO_WARNINGS, PendingDeprecationWarning])
@pytest.mark.parametrize("module", ["tests.test_x", "django.db.models", "flagschema_extras"])
def test_a_deprecation_raised_elsewhere_only_warns(module: str, category: type[Warning]) -> None:
    with pytest.warns(category, match="old API"):
        _warn_from(module, category)


def test_every_django_deprecation_class_is_caught_by_the_filter() -> None:
    """Django's RemovedInDjango...Warning classes subclass the two categories filtered."""
    for category in DJANGO_WARNINGS:
        assert issubclass(category, (DeprecationWarning, PendingDeprecationWarning))


@pytest.mark.django_db
@pytest.mark.parametrize("side", ["old", "new"], indirect=True)
def test_compiling_a_transition_column_warns_nothing(side: str) -> None:
    """The query shim quotes identifiers with the API the running Django offers (Django 6.1:
    ``SQLCompiler.quote_name``; before it ``quote_name_unless_alias``, which 6.1 deprecates)."""
    Customer.objects.create(full_name="Ada")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        names = list(Customer.objects.filter(name="Ada").values_list("full_name", flat=True))
        sql = str(Customer.objects.filter(name="Ada").query)
    assert names == ["Ada"]
    column = "full_name" if side == "new" else "name"
    assert connection.ops.quote_name(column) in sql
    compiler = Customer.objects.all().query.get_compiler(connection=connection)
    assert fields._quoter(compiler).__name__ == (
        "quote_name" if hasattr(type(compiler), "quote_name") else "quote_name_unless_alias"
    )
