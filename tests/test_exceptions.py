"""One root for every exception flagschema raises on purpose (flagschema/exceptions.py), and one
rule for misuse: a DeclarationError (a TransitionError and a TypeError) or an ArgumentError (a
ValueError), so that code catching the built-in exception keeps working."""

from __future__ import annotations

import inspect

import pytest
from django.db import models

import flagschema
from flagschema import exceptions
from flagschema.runbook.backfill import backfill
from flagschema.runbook.verify import verify


def test_every_public_exception_is_under_one_root() -> None:
    public = [
        obj
        for name in exceptions.__all__
        if inspect.isclass(obj := getattr(exceptions, name)) and issubclass(obj, BaseException)
    ]
    assert {cls.__name__ for cls in public} == {
        "ArgumentError",
        "ContractRefused",
        "DeclarationError",
        "FlagschemaError",
        "FlipRefused",
        "LintError",
        "TransitionError",
    }
    for cls in public:
        assert issubclass(cls, flagschema.FlagschemaError), cls
        assert getattr(flagschema, cls.__name__) is cls


def test_the_runbook_refusals_are_the_same_classes_everywhere() -> None:
    from flagschema.runbook import contract, flip, lint

    assert contract.ContractRefused is flagschema.ContractRefused
    assert lint.LintError is flagschema.LintError
    assert flip.FlipRefused is flagschema.FlipRefused
    assert issubclass(flagschema.FlipRefused, flagschema.TransitionError)


def test_a_wrong_field_declaration_is_a_declaration_error_and_a_type_error() -> None:
    with pytest.raises(flagschema.DeclarationError) as info:
        flagschema.RenamedField("not a field", old_name="x", flag="f")  # type: ignore[arg-type]
    assert isinstance(info.value, TypeError)
    assert isinstance(info.value, flagschema.TransitionError)


def test_a_wrong_transition_declaration_is_a_declaration_error_and_a_transition_error() -> None:
    with pytest.raises(flagschema.DeclarationError) as info:
        flagschema.Transition(
            old={"name": models.CharField(max_length=10)},
            new={"name2": models.CharField(max_length=10)},
            forward=str,
            backward=str,
            flag="f",
        )
    assert isinstance(info.value, flagschema.TransitionError)
    assert isinstance(info.value, TypeError)


@pytest.mark.parametrize(
    "call",
    [
        lambda: backfill("rename.Customer.full_name", batch_size=0),
        lambda: verify("rename.Customer.full_name", limit=-1),
    ],
    ids=["backfill-batch-size", "verify-limit"],
)
def test_an_argument_out_of_range_is_an_argument_error_and_a_value_error(call) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(flagschema.ArgumentError) as info:
        call()
    assert isinstance(info.value, ValueError)
