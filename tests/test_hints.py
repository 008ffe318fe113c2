"""Hints that work when pasted: every command the command layer can print (in the commands'
output, the runbook's refusals and the system checks) parses and runs as printed.

The hints are collected from the source (each string that says ``manage.py <command> ...`` or
`` `flagschema <verb> ...` ``), their placeholders filled with real values, and each is run
through ``call_command``, which parses it as the command line would."""

from __future__ import annotations

import ast
import re
import shlex
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from waffle.models import Switch

import flagschema
from flagschema.exceptions import ContractRefused
from flagschema.models import FlipEvent
from flagschema.runbook.contract import contract
from tests.apps.rename.models import Customer

ROOT = Path(flagschema.__file__).resolve().parent
# Where printed text is written: the commands, the runbook (its refusals become the commands'
# one-line errors) and the system checks.
SOURCES = [
    *sorted((ROOT / "management").rglob("*.py")),
    *sorted((ROOT / "runbook").rglob("*.py")),
    ROOT / "checks.py",
]
LABEL = "rename.Customer.full_name"
FLAG = "customers.full_name"
# What each placeholder of a hint stands for when it is printed.
VALUES = {
    "label": LABEL,
    "transition.label": LABEL,
    "report.label": LABEL,
    "result.label": LABEL,
    "result.from_side": "old",
    "result.event_id": "1",
    "first": "rename.0002_expand",
}
HINT = re.compile(r"(?:manage\.py |`(?=flagschema ))([^`\n()]+)")


def _text(node: ast.expr) -> str:
    """A string literal's text, each f-string placeholder as ``{expression}``."""
    if isinstance(node, ast.Constant):
        return str(node.value)
    assert isinstance(node, ast.JoinedStr)
    parts = []
    for value in node.values:
        if isinstance(value, ast.FormattedValue):
            parts.append("{" + ast.unparse(value.value) + "}")
        else:
            parts.append(str(getattr(value, "value", "")))
    return "".join(parts)


def printed_hints() -> list[tuple[str, str]]:
    """(where, hint) of every command written in a string of the command layer (docstrings
    and comments are not printed)."""
    found = []
    for path in SOURCES:
        tree = ast.parse(path.read_text(), str(path))
        skip: set[int] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.JoinedStr):
                skip.update(id(v) for v in node.values)
            if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
                skip.add(id(node.value))  # a docstring
        for node in ast.walk(tree):
            is_text = isinstance(node, ast.JoinedStr) or (
                isinstance(node, ast.Constant) and isinstance(node.value, str)
            )
            if not is_text or id(node) in skip:
                continue
            for match in HINT.finditer(_text(node)):  # type: ignore[arg-type]
                where = f"{path.relative_to(ROOT.parent)}:{node.lineno}"
                found.append((where, match.group(1).strip().rstrip(".;,")))
    return found


def filled(hint: str) -> str:
    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        assert name in VALUES, f"a hint holds {{{name}}}: say in VALUES what it stands for"
        return VALUES[name]

    return re.sub(r"\{([^{}]+)\}", value, hint)


def run(hint: str) -> str:
    argv = shlex.split(hint)
    out, err = StringIO(), StringIO()
    try:
        call_command(*argv, stdout=out, stderr=err)
    except SystemExit as exc:  # a verb's exit status: the report was printed
        assert not exc.code, f"{hint!r} exited {exc.code}: {out.getvalue()}{err.getvalue()}"
    return out.getvalue()


HINTS = printed_hints()


def test_the_hints_are_found() -> None:
    # The refusals of flip and contract, the next steps of backfill, verify and flip, lint's
    # acceptance, the checks' and contract's own commands.
    commands = {" ".join(shlex.split(filled(h))[:2]) for _, h in HINTS}
    assert {
        "flagschema backfill",
        "flagschema verify",
        "flagschema flip",
        "flagschema lint",
        "makemigrations --merge",
    } <= commands
    assert "migrate" in {shlex.split(h)[0] for _, h in HINTS}


@pytest.mark.django_db
@pytest.mark.parametrize(("where", "hint"), HINTS, ids=[w for w, _ in HINTS])
def test_every_printed_hint_runs_as_printed(side: str, where: str, hint: str) -> None:
    Customer.objects.create(full_name="Ada Lovelace")
    run(filled(hint))


@pytest.mark.django_db
def test_the_contract_refusal_is_pasted_and_runs() -> None:
    Switch.objects.update_or_create(name=FLAG, defaults={"active": False})
    Customer.objects.create(full_name="Ada Lovelace")
    with pytest.raises(ContractRefused) as info:
        contract(flagschema.registry[LABEL], write=False)
    (pasted,) = re.findall(r"`manage\.py ([^`]+)`", str(info.value))
    assert "--reason" in pasted
    output = run(pasted)
    assert "Undo: manage.py flagschema flip" in output
    event = FlipEvent.objects.get()
    assert (event.label, event.to_side, event.reason) == (
        LABEL,
        "new",
        "reads new before the contract",
    )
    # The undo it printed runs too.
    (undo,) = re.findall(r"Undo: manage\.py (.+)", output)
    run(undo)
    assert FlipEvent.objects.latest("id").reason == f"undo of flip #{event.pk}"
    assert not Switch.objects.get(name=FLAG).active
