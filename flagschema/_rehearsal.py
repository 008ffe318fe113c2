"""The pytest plugin behind :mod:`flagschema.testing`: pins, the run on both sides, the report.

Imported by ``flagschema.testing.pytest_configure``, so only inside a pytest run.

- Which side a test reads is decided at collection and kept in the item's stash: the id
  parameter ``[flagschema-old]``/``[flagschema-new]`` under ``--flagschema-read=both``, a test
  method pinned by :func:`~flagschema.testing.rehearse` or ``read_side(ALL, ...)``, the markers
  ``flagschema_read(side)`` and ``flagschema_unpinned`` (the closest wins), then the option.
- The pin is entered around the whole run protocol of the test (set-up, call, teardown), so
  fixtures are covered; fixtures of a wider scope are set up under the side of the first test
  that needs them.
- ``both``: test functions get a parameter (so parametrized tests, classes and fixtures work as
  usual); ``unittest.TestCase`` classes, which pytest cannot parametrize, get each test method
  split into ``test_x[flagschema-old]`` and ``test_x[flagschema-new]`` before pytest collects
  them (the class is changed in place, for this run).
"""

from __future__ import annotations

import os
import re
import sys
import unittest
from collections.abc import Generator, Iterable
from pathlib import Path
from typing import Any

import pytest

from flagschema.testing import ALL, pinned_side, read_side, split_test
from flagschema.transitions import SIDES, Side

PARAM = "_flagschema_side"
SIDE_KEY = pytest.StashKey[Any]()

MARKERS = (
    "flagschema_read(side): read every flagschema transition from side ('old' or 'new') in "
    "this test, its fixtures and the views it calls, with or without --flagschema-read",
    "flagschema_unpinned: never pin this test: it reads what the flags say even with "
    "--flagschema-read (a test that flips switches itself)",
    "flagschema_rehearse: with --flagschema-only-marked, the tests --flagschema-read pins",
)

_SIDE_IN_ID = re.compile(r"([\[-])flagschema-(old|new)([\]-])")


def configure(config: pytest.Config) -> None:
    for line in MARKERS:
        config.addinivalue_line("markers", line)
    mode = config.getoption("flagschema_read", None)
    only_marked = bool(config.getoption("flagschema_only_marked", False))
    if only_marked and not mode:
        raise pytest.UsageError("--flagschema-only-marked goes with --flagschema-read.")
    only_marked = only_marked or bool(config.getini("flagschema_only_marked"))
    config.pluginmanager.register(Pins(mode, only_marked), "flagschema-pins")
    if mode == "both":
        config.pluginmanager.register(BothSides(), "flagschema-both-sides")


def split_id(nodeid: str) -> tuple[str, Side] | None:
    """``path::test_x[1-flagschema-new]`` -> ``("path::test_x[1]", "new")``."""
    match = _SIDE_IN_ID.search(nodeid)
    if match is None:
        return None
    left, side, right = match.groups()
    if left == "[" and right == "]":
        base = nodeid[: match.start()] + nodeid[match.end() :]
    elif left == "[":
        base = nodeid[: match.start() + 1] + nodeid[match.end() :]
    else:
        base = nodeid[: match.start()] + right + nodeid[match.end() :]
    return base, side  # type: ignore[return-value]


def _from_invocation_dir(config: pytest.Config, nodeid: str) -> str:
    """*nodeid* with its path relative to where pytest was started, as pytest's summary says."""
    path, sep, rest = nodeid.partition("::")
    try:
        relative = os.path.relpath(config.rootpath / path, config.invocation_params.dir)
    except ValueError:  # another drive
        return nodeid
    return Path(relative).as_posix() + sep + rest


def _bracketed(name: str, side: Side) -> str:
    return f"{name}[flagschema-{side}]"


def _marks(obj: object) -> list[pytest.Mark]:
    marks = getattr(obj, "pytestmark", [])
    if not isinstance(marks, list):
        marks = [marks]
    return [getattr(mark, "mark", mark) for mark in marks]


def _closest(marks: Iterable[pytest.Mark]) -> pytest.Mark | None:
    for mark in marks:
        if mark.name in ("flagschema_read", "flagschema_unpinned"):
            return mark
    return None


def _marked_side(mark: pytest.Mark, where: str) -> Side | None:
    """The side a ``flagschema_read``/``flagschema_unpinned`` marker asks for."""
    if mark.name == "flagschema_unpinned":
        return None
    side = mark.args[0] if mark.args else mark.kwargs.get("side")
    if side not in SIDES or len(mark.args) + len(mark.kwargs) != 1:
        raise pytest.UsageError(
            f"{where}: @pytest.mark.flagschema_read takes one side, 'old' or 'new' "
            f"(got args {mark.args!r}, kwargs {mark.kwargs!r})."
        )
    return side


def _declared_labels() -> list[str] | None:
    """The labels of the declared transitions, or None if Django is not set up."""
    if "django" not in sys.modules:
        return None
    from django.apps import apps
    from django.conf import settings

    if not settings.configured or not apps.ready:
        return None
    from flagschema.transitions import registry

    return registry.labels()


class BothSides:
    """Registered only under ``--flagschema-read=both``: the fixture every test function is
    parametrized on (``pytest_generate_tests`` needs a name in the fixture closure)."""

    @pytest.fixture(autouse=True, name=PARAM)
    def flagschema_side(self, request: pytest.FixtureRequest) -> Side | None:
        return getattr(request, "param", None)


class Pins:
    """Always registered: without the option it only honours the markers."""

    def __init__(self, mode: str | None, only_marked: bool) -> None:
        self.mode = mode
        self.only_marked = only_marked
        self.labels: list[str] = []
        # nodeid without the side -> side -> outcome, for the summary of a run on both sides
        self.outcomes: dict[str, dict[Side, str]] = {}
        self.config: pytest.Config | None = None

    # --- the session -------------------------------------------------------------------------
    def pytest_sessionstart(self, session: pytest.Session) -> None:
        self.config = session.config
        if not self.mode:
            return
        labels = _declared_labels()
        if labels is None:
            raise pytest.UsageError(
                f"--flagschema-read={self.mode}: Django is not set up, so no transition can be "
                "pinned. Point pytest-django at your settings (DJANGO_SETTINGS_MODULE in the "
                "pytest configuration, or --ds), or call django.setup() in a conftest.py."
            )
        self.labels = labels

    def pytest_report_header(self, config: pytest.Config) -> str | None:
        if not self.mode:
            return None
        option = f"--flagschema-read={self.mode}"
        if self.only_marked:
            option += " (tests marked flagschema_rehearse)"
        if not self.labels:
            return f"flagschema: {option}: no transition is declared, nothing is pinned"
        sides = "on each read side" if self.mode == "both" else f"on the {self.mode} side"
        return (
            f"flagschema: {option}: tests run {sides} of {len(self.labels)} transition"
            f"{'s' if len(self.labels) != 1 else ''}: {', '.join(self.labels)}"
        )

    # --- collection --------------------------------------------------------------------------
    def _rehearsed(self, closest: pytest.Mark | None, marked: bool) -> bool:
        """Whether a test that is not pinned by its own decorator follows the option."""
        if closest is not None:  # flagschema_read or flagschema_unpinned: run once, as asked
            return False
        return marked or not self.only_marked

    @pytest.hookimpl(trylast=True)  # after @pytest.mark.parametrize: ids [1-flagschema-old]
    def pytest_generate_tests(self, metafunc: pytest.Metafunc) -> None:
        if self.mode != "both" or not self.labels:
            return
        if pinned_side(metafunc.function) is not None:
            return
        node = metafunc.definition
        closest = _closest(node.iter_markers())
        marked = node.get_closest_marker("flagschema_rehearse") is not None
        if self._rehearsed(closest, marked):
            metafunc.parametrize(PARAM, SIDES, ids=[f"flagschema-{side}" for side in SIDES])

    @pytest.hookimpl(tryfirst=True)
    def pytest_pycollect_makeitem(
        self, collector: pytest.Collector, name: str, obj: object
    ) -> None:
        """Split each test method of a unittest ``TestCase`` into one per side, before
        pytest's unittest plugin collects the class."""
        if self.mode != "both" or not self.labels:
            return
        if not (isinstance(obj, type) and issubclass(obj, unittest.TestCase)):
            return
        if not getattr(obj, "__test__", True):
            return
        from flagschema.testing import _test_method_names

        class_marks = _marks(obj)
        for method in _test_method_names(obj):
            func = getattr(obj, method)
            marks = [*_marks(func), *class_marks, *collector.iter_markers()]
            closest = _closest(marks)
            marked = any(mark.name == "flagschema_rehearse" for mark in marks)
            if self._rehearsed(closest, marked):
                split_test(obj, method, _bracketed)

    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        for item in items:
            item.stash[SIDE_KEY] = self._side_of(item)
        # unittest sorts a class's methods by name, so [flagschema-new] came first: old first,
        # as for test functions.
        for i in range(len(items) - 1):
            first, second = split_id(items[i].nodeid), split_id(items[i + 1].nodeid)
            if first and second and first[0] == second[0] and first[1] == "new":
                items[i], items[i + 1] = items[i + 1], items[i]

    def _side_of(self, item: pytest.Item) -> Side | None:
        callspec = getattr(item, "callspec", None)
        if callspec is not None and PARAM in callspec.params:
            return callspec.params[PARAM]
        if isinstance(item, pytest.Function):
            side = pinned_side(item.obj)
            if side is not None:
                return side
        closest = _closest(item.iter_markers())
        if closest is not None:
            return _marked_side(closest, item.nodeid)
        if self.mode in SIDES and (
            not self.only_marked or item.get_closest_marker("flagschema_rehearse") is not None
        ):
            return self.mode
        return None

    # --- running -----------------------------------------------------------------------------
    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_protocol(
        self, item: pytest.Item, nextitem: pytest.Item | None
    ) -> Generator[None, Any, None]:
        side = item.stash.get(SIDE_KEY, None)
        if side is None:
            yield
            return
        with read_side(ALL, side):
            yield

    # --- the report of a run on both sides ---------------------------------------------------
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if self.mode != "both":
            return
        found = split_id(report.nodeid)
        if found is None:
            return
        base, side = found
        if report.when == "call" or report.outcome != "passed":
            if hasattr(report, "wasxfail"):
                outcome = "xfailed" if report.skipped else "xpassed"
            else:
                outcome = "error" if report.failed and report.when != "call" else report.outcome
            sides = self.outcomes.setdefault(base, {})
            if sides.get(side) not in ("failed", "error"):
                sides[side] = outcome

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.mode != "both" or not self.outcomes:
            return
        both = {base: sides for base, sides in self.outcomes.items() if len(sides) == 2}
        differ = {base: sides for base, sides in both.items() if sides["old"] != sides["new"]}
        write = terminalreporter.write_line
        terminalreporter.write_sep("=", "flagschema: old and new read sides")
        write(
            f"{len(both)} test{'s' if len(both) != 1 else ''} ran on both sides; "
            f"{len(both) - len(differ)} with the same outcome on each, "
            f"{len(differ)} with a different one{':' if differ else '.'}"
        )
        for base, sides in sorted(differ.items()):
            where = _from_invocation_dir(self.config, base) if self.config else base
            write(f"  {where}: old {sides['old']}, new {sides['new']}")
