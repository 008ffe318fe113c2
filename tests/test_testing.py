"""flagschema.testing's pins for tests: read_side (a block, a decorator, sync and async) and
rehearse (a TestCase's methods once per side), run by unittest here and by Django's test
runner in a subprocess."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import unittest
from pathlib import Path
from typing import Any

import pytest

import flagschema
from flagschema.testing import ALL, read_side, rehearse

# Unpinned reads ask waffle, which reads its switch table.
pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parent.parent
RENAME = "rename.Customer.full_name"


def sides() -> dict[str, str]:
    return {t.label: t.read_side() for t in flagschema.registry}


def run(case: type[unittest.TestCase]) -> unittest.TestResult:
    suite = unittest.TestLoader().loadTestsFromTestCase(case)
    result = unittest.TestResult()
    suite.run(result)
    return result


def test_read_side_all_pins_every_transition_and_restores() -> None:
    before = sides()
    assert set(before.values()) == {"old"}  # no switch is on in the test database
    with read_side(ALL, "new"):
        assert set(sides().values()) == {"new"}
        assert len(sides()) == len(flagschema.registry) >= 8
        with read_side(RENAME, "old"):  # the inner pin wins
            assert sides()[RENAME] == "old"
            assert sides()["rename.Order.reference"] == "new"
        assert sides()[RENAME] == "new"
    assert sides() == before


def test_read_side_one_several_or_a_transition() -> None:
    with read_side(flagschema.registry[RENAME], "new"):
        assert {label for label, side in sides().items() if side == "new"} == {RENAME}
    with read_side([RENAME, "convert.Product.price"], "new"):
        assert {label for label, side in sides().items() if side == "new"} == {
            RENAME,
            "convert.Product.price",
        }
    assert set(sides().values()) == {"old"}


def test_read_side_refuses_a_bad_side_or_label() -> None:
    with pytest.raises(flagschema.TransitionError, match="'old' or 'new'"):
        read_side(ALL, "both")  # type: ignore[arg-type]
    with pytest.raises(flagschema.TransitionError, match="No transition is labelled"):
        read_side("shop.Nope.nothing", "new").__enter__()
    with pytest.raises(flagschema.TransitionError):
        read_side([RENAME, "shop.Nope.nothing"], "new").__enter__()
    assert set(sides().values()) == {"old"}  # the pin entered before the bad label is undone


def test_read_side_decorates_sync_and_async_functions() -> None:
    @read_side(ALL, "new")
    def sync() -> dict[str, str]:
        return sides()

    @read_side(RENAME, "new")
    async def in_a_coroutine() -> str:
        await asyncio.sleep(0)
        return flagschema.registry[RENAME].read_side()

    assert set(sync().values()) == {"new"}
    assert sync() == sync()  # the same decorator enters again
    assert asyncio.run(in_a_coroutine()) == "new"
    assert sides()[RENAME] == "old"
    # A pin of every transition marks the function, so the pytest plugin leaves it as it is.
    assert sync._flagschema_read == "new"  # type: ignore[attr-defined]
    assert not hasattr(in_a_coroutine, "_flagschema_read")


def test_rehearse_a_class_runs_each_test_once_per_side_from_setup_to_teardown() -> None:
    seen: list[tuple[str, str, str]] = []

    @rehearse
    class Case(unittest.TestCase):
        def setUp(self) -> None:
            seen.append((self._testMethodName, "setUp", sides()[RENAME]))

        def tearDown(self) -> None:
            seen.append((self._testMethodName, "tearDown", sides()[RENAME]))

        def test_reads(self) -> None:
            seen.append((self._testMethodName, "test", sides()[RENAME]))

        def test_only_old(self) -> None:
            self.assertEqual(sides()[RENAME], "old")

        def helper(self) -> None:
            pass

    names = unittest.TestLoader().getTestCaseNames(Case)
    assert names == ["test_only_old_new", "test_only_old_old", "test_reads_new", "test_reads_old"]
    assert Case.test_reads is None  # type: ignore[comparison-overlap]
    result = run(Case)
    assert result.testsRun == 4
    assert [test.id().rsplit(".", 1)[1] for test, _ in result.failures] == ["test_only_old_new"]
    assert [entry for entry in seen if entry[0].startswith("test_reads")] == [
        ("test_reads_new", "setUp", "new"),
        ("test_reads_new", "test", "new"),
        ("test_reads_new", "tearDown", "new"),
        ("test_reads_old", "setUp", "old"),
        ("test_reads_old", "test", "old"),
        ("test_reads_old", "tearDown", "old"),
    ]
    assert set(sides().values()) == {"old"}


def test_rehearse_one_method() -> None:
    class Case(unittest.TestCase):
        @rehearse
        def test_rehearsed(self) -> None:
            assert sides()[RENAME] in ("old", "new")

        def test_plain(self) -> None:
            assert sides()[RENAME] == "old"

        @read_side(ALL, "new")
        def test_pinned(self) -> None:
            assert set(sides().values()) == {"new"}

    names = unittest.TestLoader().getTestCaseNames(Case)
    assert names == ["test_pinned", "test_plain", "test_rehearsed_new", "test_rehearsed_old"]
    result = run(Case)
    assert (result.testsRun, result.failures, result.errors) == (4, [], [])


def test_rehearse_subclass_and_async_methods() -> None:
    class Base(unittest.TestCase):
        def test_inherited(self) -> None:
            self.side = sides()[RENAME]

    @rehearse
    class Sub(Base):
        def test_async(self) -> None:
            pass

    assert unittest.TestLoader().getTestCaseNames(Sub) == [
        "test_async_new",
        "test_async_old",
        "test_inherited_new",
        "test_inherited_old",
    ]
    assert unittest.TestLoader().getTestCaseNames(Base) == ["test_inherited"]  # untouched
    assert run(Sub).wasSuccessful()

    @rehearse
    class Overriding(Sub):
        def test_async(self) -> None:  # replaces the inherited variants
            self.assertIn(self._testMethodName, ("test_async_old", "test_async_new"))

    assert Overriding.test_async_old is not Sub.test_async_old  # type: ignore[attr-defined]
    assert unittest.TestLoader().getTestCaseNames(Overriding) == [
        "test_async_new",
        "test_async_old",
        "test_inherited_new",
        "test_inherited_old",
    ]
    assert run(Overriding).wasSuccessful()

    class Async(unittest.IsolatedAsyncioTestCase):
        @rehearse
        async def test_side(self) -> None:
            await asyncio.sleep(0)
            assert sides()[RENAME] == self._testMethodName.rsplit("_", 1)[1]

    result = run(Async)
    assert (result.testsRun, result.failures, result.errors) == (2, [], [])


def test_rehearse_refuses() -> None:
    with pytest.raises(TypeError, match="would become test_x_old, which"):

        @rehearse
        class Clash(unittest.TestCase):
            def test_x(self) -> None:
                pass

            def test_x_old(self) -> None:
                pass

    with pytest.raises(TypeError, match="has no test methods"):

        @rehearse
        class Empty(unittest.TestCase):
            pass

    with pytest.raises(TypeError, match="decorate a method of a class"):
        rehearse(lambda: None)()  # type: ignore[operator]


def django_test(*labels: str) -> subprocess.CompletedProcess[str]:
    env: dict[str, Any] = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        # Its own SQLite test database, whatever database this run uses.
        "FLAGSCHEMA_TEST_DB": "sqlite",
        "PYTHONPATH": str(ROOT),
    }
    env.pop("FLAGSCHEMA_TEST_DB_NAME", None)
    return subprocess.run(
        [sys.executable, "-m", "django", "test", "-v", "2", *labels],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_rehearse_on_djangos_test_runner() -> None:
    """The cases of tests/rehearse_cases.py, by ``django-admin test``: each rehearsed test on
    its own line per side; the view that reads the old column by raw SQL fails on new only."""
    done = django_test("tests.rehearse_cases")
    output = done.stdout + done.stderr
    assert done.returncode == 1, output
    for line in (
        "test_reads_follow_the_side_old (tests.rehearse_cases.RenameTests",
        "test_reads_follow_the_side_new (tests.rehearse_cases.RenameTests",
        "test_the_view_old (tests.rehearse_cases.RenameTests",
        "test_the_view_new (tests.rehearse_cases.RenameTests",
        "test_raw_sql_view_old (tests.rehearse_cases.RawSqlViewTests",
    ):
        assert f"{line}" in output and "ok" in output.split(line, 1)[1].splitlines()[0], output
    assert "FAIL: test_raw_sql_view_new (tests.rehearse_cases.RawSqlViewTests" in output, output
    assert "Ran 6 tests" in output, output
    assert "FAILED (failures=1)" in output, output
