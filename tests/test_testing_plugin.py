"""The pytest plugin of flagschema.testing, run by pytester in subprocesses on this suite's
settings and test apps (on SQLite: the child creates its own test database), and the demo's
own tests run on both read sides (issue 6's acceptance)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import flagschema

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parent.parent

# A customer whose old column says something else than its new one (by raw SQL), so that what
# the ORM reads shows the side. The fixture reads too: the pin covers it.
CONFTEST = """
import pytest

from tests.apps.rename.models import Customer
from tests.helpers import put

LABEL = "rename.Customer.full_name"


def side_in_id(request):
    for side in ("old", "new"):
        if f"flagschema-{side}" in request.node.name:
            return side
    return None


@pytest.fixture
def ada(db):
    ada = Customer.objects.create(full_name="new value")
    put(Customer, ada.pk, name="old value")
    return Customer.objects.get(pk=ada.pk)


def read(ada):
    return {"old value": "old", "new value": "new"}[Customer.objects.get(pk=ada.pk).full_name]


def fixture_side(ada):
    return {"old value": "old", "new value": "new"}[ada.full_name]
"""

TESTS = """
import unittest

import pytest
from django.test import TestCase

import flagschema
from conftest import LABEL, fixture_side, read, side_in_id
from flagschema.testing import rehearse
from tests.apps.rename.models import Customer
from tests.helpers import put


def test_fixture_and_body(request, ada):
    side = side_in_id(request)
    assert side is not None
    assert fixture_side(ada) == read(ada) == side
    assert all(t.read_side() == side for t in flagschema.registry)


def test_client_and_middleware(request, client, ada):
    # PinReadSideMiddleware runs for the request; the test's pin wins over its request pin.
    value = {"old": "old value", "new": "new value"}[side_in_id(request)]
    assert client.get("/customers/").json() == {"first": [value], "second": [value]}


@pytest.mark.parametrize("n", [1, 2])
def test_parametrized(request, n, ada):
    assert read(ada) == side_in_id(request)


class TestAClass:
    def test_method(self, request, ada):
        assert read(ada) == side_in_id(request)


@pytest.mark.flagschema_read("new")
def test_marked_new(request, ada):
    assert side_in_id(request) is None
    assert fixture_side(ada) == read(ada) == "new"


@pytest.mark.flagschema_unpinned
def test_unpinned(request, ada):
    assert side_in_id(request) is None
    assert read(ada) == "old"  # the switch is off


def test_breaks_on_new(ada):
    assert Customer.objects.get(pk=ada.pk).full_name == "old value"


class DjangoTests(TestCase):
    @classmethod
    def setUpTestData(cls):
        cls.ada = Customer.objects.create(full_name="new value")

    def setUp(self):
        put(Customer, self.ada.pk, name="old value")
        self.side = flagschema.registry[LABEL].read_side()

    def test_one(self):
        assert self._testMethodName.endswith(f"[flagschema-{self.side}]")
        assert read(self.ada) == self.side

    def test_two(self):
        assert read(self.ada) == self.side


class PlainUnittest(unittest.TestCase):
    def test_plain(self):
        side = self._testMethodName.rpartition("-")[2].rstrip("]")
        assert flagschema.registry[LABEL].read_side() == side


class Overriding(PlainUnittest):  # its own test_plain, split too
    def test_plain(self):
        assert self._testMethodName.startswith("test_plain[flagschema-")


@rehearse
class Rehearsed(TestCase):
    @classmethod
    def setUpTestData(cls):
        cls.ada = Customer.objects.create(full_name="new value")
        put(Customer, cls.ada.pk, name="old value")

    def test_rehearsed(self):
        assert read(self.ada) == self._testMethodName.rpartition("_")[2]
"""


@pytest.fixture
def child(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """A pytest project on this suite's settings and apps, on its own SQLite database."""
    monkeypatch.setenv(
        "PYTHONPATH", os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])
    )
    monkeypatch.setenv("FLAGSCHEMA_TEST_DB", "sqlite")
    monkeypatch.delenv("FLAGSCHEMA_TEST_DB_NAME", raising=False)
    pytester.makeini("[pytest]\nDJANGO_SETTINGS_MODULE = tests.settings\n")
    pytester.makeconftest(CONFTEST)
    return pytester


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", "-v", "-rA", *args)


def outcomes(result: pytest.RunResult) -> dict[str, str]:
    """Test id (without the file) -> outcome, from the -rA summary."""
    found = {}
    for line in result.outlines:
        match = re.match(r"(PASSED|FAILED|ERROR|SKIPPED) \S+?\.py::(\S+)", line)
        if match:
            found[match.group(2)] = match.group(1)
    return found


def test_both_runs_every_test_once_per_side(child: pytest.Pytester) -> None:
    child.makepyfile(test_pins=TESTS)
    result = run(child, "--flagschema-read=both")

    assert outcomes(result) == {
        "test_fixture_and_body[flagschema-old]": "PASSED",
        "test_fixture_and_body[flagschema-new]": "PASSED",
        "test_client_and_middleware[flagschema-old]": "PASSED",
        "test_client_and_middleware[flagschema-new]": "PASSED",
        "test_parametrized[1-flagschema-old]": "PASSED",
        "test_parametrized[1-flagschema-new]": "PASSED",
        "test_parametrized[2-flagschema-old]": "PASSED",
        "test_parametrized[2-flagschema-new]": "PASSED",
        "TestAClass::test_method[flagschema-old]": "PASSED",
        "TestAClass::test_method[flagschema-new]": "PASSED",
        "test_marked_new": "PASSED",
        "test_unpinned": "PASSED",
        "test_breaks_on_new[flagschema-old]": "PASSED",
        "test_breaks_on_new[flagschema-new]": "FAILED",
        "DjangoTests::test_one[flagschema-old]": "PASSED",
        "DjangoTests::test_one[flagschema-new]": "PASSED",
        "DjangoTests::test_two[flagschema-old]": "PASSED",
        "DjangoTests::test_two[flagschema-new]": "PASSED",
        "PlainUnittest::test_plain[flagschema-old]": "PASSED",
        "PlainUnittest::test_plain[flagschema-new]": "PASSED",
        "Overriding::test_plain[flagschema-old]": "PASSED",
        "Overriding::test_plain[flagschema-new]": "PASSED",
        "Rehearsed::test_rehearsed_new": "PASSED",
        "Rehearsed::test_rehearsed_old": "PASSED",
    }
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        [
            "flagschema: --flagschema-read=both: tests run on each read side of "
            f"{len(flagschema.registry)} transitions: convert.Product.price, *, "
            f"{flagschema.registry.labels()[-1]}",
            "*= flagschema: old and new read sides =*",
            "10 tests ran on both sides; 9 with the same outcome on each, 1 with a different one:",
            "  test_pins.py::test_breaks_on_new: old passed, new failed",
        ]
    )
    # Each unittest method's old variant runs first, like the functions'.
    ids = [line.split(" ")[0] for line in result.outlines if "::DjangoTests::" in line]
    assert [i.rpartition("::")[2] for i in ids[:2]] == [
        "test_one[flagschema-old]",
        "test_one[flagschema-new]",
    ]


@pytest.mark.parametrize("side", ["old", "new"])
def test_one_side_pins_every_test(child: pytest.Pytester, side: str) -> None:
    child.makepyfile(
        test_one_side=f"""
        import pytest
        from django.test import TestCase

        import flagschema
        from conftest import LABEL, fixture_side, read


        def test_function(ada):
            assert fixture_side(ada) == read(ada) == {side!r}


        @pytest.mark.flagschema_read("old")
        def test_marked_old(ada):
            assert read(ada) == "old"


        @pytest.mark.flagschema_unpinned
        def test_unpinned(ada):
            assert read(ada) == "old"


        class DjangoTests(TestCase):
            def test_method(self):
                assert flagschema.registry[LABEL].read_side() == {side!r}
        """
    )
    result = run(child, f"--flagschema-read={side}")
    assert set(outcomes(result).values()) == {"PASSED"}
    assert sorted(outcomes(result)) == [
        "DjangoTests::test_method",
        "test_function",
        "test_marked_old",
        "test_unpinned",
    ]
    result.stdout.fnmatch_lines(
        [
            f"flagschema: --flagschema-read={side}: tests run on the {side} side of "
            f"{len(flagschema.registry)} transitions: *"
        ]
    )
    result.stdout.no_fnmatch_line("*old and new read sides*")


def test_without_the_option_only_markers_pin(child: pytest.Pytester) -> None:
    child.makepyfile(
        test_plain="""
        import pytest
        from conftest import read


        def test_follows_the_switch(ada):
            assert read(ada) == "old"


        @pytest.mark.flagschema_read("new")
        def test_marked(ada):
            assert read(ada) == "new"


        @pytest.mark.flagschema_read("new")
        class TestMarkedClass:
            def test_method(self, ada):
                assert read(ada) == "new"

            @pytest.mark.flagschema_read("old")
            def test_closest_wins(self, ada):
                assert read(ada) == "old"

            @pytest.mark.flagschema_unpinned
            def test_unpinned(self, ada):
                assert read(ada) == "old"
        """
    )
    result = run(child, "--strict-markers")
    assert outcomes(result) == {
        "test_follows_the_switch": "PASSED",
        "test_marked": "PASSED",
        "TestMarkedClass::test_method": "PASSED",
        "TestMarkedClass::test_closest_wins": "PASSED",
        "TestMarkedClass::test_unpinned": "PASSED",
    }
    result.stdout.no_fnmatch_line("*flagschema:*")


def test_only_marked(child: pytest.Pytester) -> None:
    child.makepyfile(
        test_marked="""
        import unittest

        import pytest


        def test_unmarked():
            pass


        @pytest.mark.flagschema_rehearse
        def test_marked():
            pass


        @pytest.mark.flagschema_rehearse
        class TestMarked:
            def test_method(self):
                pass


        @pytest.mark.flagschema_rehearse
        class MarkedUnittest(unittest.TestCase):
            def test_a(self):
                pass


        class Unittest(unittest.TestCase):
            @pytest.mark.flagschema_rehearse
            def test_marked(self):
                pass

            def test_unmarked(self):
                pass
        """
    )
    result = run(child, "--flagschema-read=both", "--flagschema-only-marked")
    assert sorted(outcomes(result)) == [
        "MarkedUnittest::test_a[flagschema-new]",
        "MarkedUnittest::test_a[flagschema-old]",
        "TestMarked::test_method[flagschema-new]",
        "TestMarked::test_method[flagschema-old]",
        "Unittest::test_marked[flagschema-new]",
        "Unittest::test_marked[flagschema-old]",
        "Unittest::test_unmarked",
        "test_marked[flagschema-new]",
        "test_marked[flagschema-old]",
        "test_unmarked",
    ]
    result.stdout.fnmatch_lines(
        ["flagschema: --flagschema-read=both (tests marked flagschema_rehearse): *"]
    )


def test_a_bad_marker_is_a_usage_error(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DJANGO_SETTINGS_MODULE", raising=False)
    pytester.makepyfile(
        test_bad="""
        import pytest

        @pytest.mark.flagschema_read("sideways")
        def test_x():
            pass
        """
    )
    result = run(pytester)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["*test_bad.py::test_x: @pytest.mark.flagschema_read takes one side, 'old' or 'new'*"]
    )


def test_projects_without_django_settings(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without settings the plugin stays out of the way, and refuses to rehearse nothing."""
    monkeypatch.delenv("DJANGO_SETTINGS_MODULE", raising=False)
    pytester.makepyfile(test_nothing="def test_x():\n    pass\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    result.stdout.no_fnmatch_line("flagschema:*")

    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--flagschema-read=both")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--flagschema-read=both: Django is not set up*"])

    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--flagschema-only-marked")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--flagschema-only-marked goes with --flagschema-read*"])


def test_no_transition_declared(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DJANGO_SETTINGS_MODULE", raising=False)
    pytester.makepyfile(
        settings="""
        SECRET_KEY = "x"
        INSTALLED_APPS = ["django.contrib.contenttypes", "django.contrib.auth", "waffle"]
        DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}
        """,
        test_nothing="def test_x():\n    pass\n",
    )
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "--ds=settings", "--flagschema-read=both", "-v"
    )
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [
            "flagschema: --flagschema-read=both: no transition is declared, nothing is pinned",
            "*test_nothing.py::test_x PASSED*",
        ]
    )


def test_importing_the_plugin_imports_neither_django_nor_pytest() -> None:
    code = (
        "import sys, flagschema.testing; "
        "print(sorted(m for m in ('django', 'pytest', 'flagschema.fields') if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd="/"
    )
    assert done.stdout.strip() == "[]"


# --- the demo (issue 6: "The demo project's own tests run green under --flagschema-read=both,
# and a deliberately broken demo view that reads the old column directly by raw SQL fails
# under the new side") -------------------------------------------------------------------------


def demo_pytest(*args: str) -> subprocess.CompletedProcess[str]:
    """The README's command: the demo's tests from the repository root, on the demo's settings
    (its own SQLite test database)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_SETTINGS")}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-rA", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_the_demos_tests_pass_on_both_sides() -> None:
    done = demo_pytest("--flagschema-read=both", "demo_project/tests")
    assert done.returncode == 0, done.stdout + done.stderr
    passed = [line for line in done.stdout.splitlines() if line.startswith("PASSED ")]
    assert len([line for line in passed if "[flagschema-old]" in line]) >= 7, done.stdout
    assert len([line for line in passed if "[flagschema-new]" in line]) >= 7, done.stdout
    assert "0 with a different one." in done.stdout


def test_the_demos_broken_view_fails_on_the_new_side_only() -> None:
    done = demo_pytest("--flagschema-read=both", "demo_project/broken")
    assert done.returncode == 1, done.stdout + done.stderr
    found = {}
    for line in done.stdout.splitlines():
        match = re.match(r"(PASSED|FAILED) demo_project/broken/test_broken_view.py::(\S+)", line)
        if match:
            found[match.group(2)] = match.group(1)
    assert found == {
        "test_greeting[flagschema-old]": "PASSED",
        "test_greeting[flagschema-new]": "FAILED",
        "test_greeting_fixed[flagschema-old]": "PASSED",
        "test_greeting_fixed[flagschema-new]": "PASSED",
    }, done.stdout
    assert "AssertionError: assert 'Hello, Mary!' == 'Hello, Mary Ann!'" in done.stdout
    assert (
        "  demo_project/broken/test_broken_view.py::test_greeting: old passed, new failed"
        in done.stdout
    )
