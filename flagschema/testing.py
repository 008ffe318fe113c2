"""Rollback rehearsal in a project's own tests: run them with every transition read from the
old side, from the new side, or both.

With pytest, this module is a plugin installed with flagschema (entry point ``pytest11``, name
``flagschema``; ``-p no:flagschema`` turns it off)::

    pytest --flagschema-read=both   # every test twice, ids [flagschema-old] and [flagschema-new]
    pytest --flagschema-read=new    # every test once, every transition read from the new side
    pytest --flagschema-read=old

The pin covers the test's fixtures, its body and its teardown, and the views the Django test
client calls (they run in the test's thread). Markers: ``@pytest.mark.flagschema_read("new")``
pins one test (or a class, a module) to a side, with or without the option;
``@pytest.mark.flagschema_unpinned`` leaves a test to the flags (a test that flips switches
itself); ``@pytest.mark.flagschema_rehearse`` marks the tests ``--flagschema-only-marked``
rehearses. Without ``--flagschema-read`` and without those markers the plugin changes nothing.

With Django's test runner, :func:`rehearse` turns each test method of a ``TestCase`` into two,
``test_x_old`` and ``test_x_new``, and :class:`read_side` pins a side in a block, on a test or
on a class's tests.

Importing this module imports neither Django nor pytest: the plugin's hooks import their
pieces when a run asks for them.
"""

from __future__ import annotations

import functools
import inspect
import unittest
from collections.abc import Callable, Iterable
from contextlib import ContextDecorator, ExitStack
from typing import TYPE_CHECKING, Any, TypeVar

from flagschema.exceptions import DeclarationError, TransitionError
from flagschema.transitions import SIDES, Side, Transition

if TYPE_CHECKING:
    import pytest

__all__ = ["ALL", "read_side", "rehearse"]

#: Every declared transition, for :class:`read_side`.
ALL = "*"

# The attribute that marks a test function as pinned to one side for every transition: the
# variants that :func:`rehearse` and the pytest plugin generate, and functions decorated with
# ``read_side(ALL, side)``. Such a test is never run once per side again.
PINNED_ATTRIBUTE = "_flagschema_read"

F = TypeVar("F", bound=Callable[..., Any])
C = TypeVar("C", bound=type)


class read_side(ContextDecorator):
    """Pin the read side of the transitions *labels* (:data:`ALL`, a label, a transition, or
    several of them) in a block, on a test function or method, sync or async.

    >>> from flagschema.testing import ALL, read_side
    >>> with read_side(ALL, "new"):
    ...     response = client.get("/")

    :data:`ALL` means every transition declared when the block starts. It is
    :func:`flagschema.reading` once per transition, so the pin wins over the flags and over
    :class:`~flagschema.flags.PinReadSideMiddleware`, in this thread and in the views the test
    client calls; threads the test starts (a live server) still read what the flags say.
    """

    def __init__(self, labels: str | Transition | Iterable[str | Transition], side: Side) -> None:
        if side not in SIDES:
            raise TransitionError(f"read_side(..., {side!r}): the side is 'old' or 'new'.")
        self.labels = labels
        self.side: Side = side
        self._stacks: list[ExitStack] = []

    def _targets(self) -> list[str | Transition]:
        if self.labels == ALL:
            from flagschema.transitions import registry

            return list(registry.labels())
        if isinstance(self.labels, (str, Transition)):
            return [self.labels]
        return list(self.labels)

    def __enter__(self) -> read_side:
        from flagschema.flags import reading

        stack = ExitStack()
        try:
            for target in self._targets():
                stack.enter_context(reading(target, self.side))
        except BaseException:
            stack.close()
            raise
        self._stacks.append(stack)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stacks.pop().close()

    def __call__(self, func: F) -> F:
        if inspect.iscoroutinefunction(func):

            @functools.wraps(func)
            async def wrapper(*args: Any, **kwargs: Any) -> Any:
                with self._recreate_cm():
                    return await func(*args, **kwargs)

            pinned: Any = wrapper
        else:
            pinned = super().__call__(func)
        if self.labels == ALL:
            setattr(pinned, PINNED_ATTRIBUTE, self.side)
        return pinned


def rehearse(obj: C | F) -> C | F:
    """Run unittest tests once per read side, for projects on Django's test runner.

    On a ``TestCase`` class, each test method ``test_x`` becomes ``test_x_old`` and
    ``test_x_new``; on one test method, that method does. Each variant runs with every
    transition pinned to its side (:class:`read_side` with :data:`ALL`) from ``setUp`` to
    ``tearDown``, Django's per-test set-up included, so the runner reports each side on its
    own line and a failure names the side. Class-level set-up (``setUpClass``,
    ``setUpTestData``) runs once, before both, reading what the flags say; what it writes is
    stored in both shapes anyway.

    >>> @rehearse
    ... class ShopTests(TestCase):
    ...     def test_page(self): ...  # runs as test_page_old and test_page_new
    """
    if isinstance(obj, type):
        names = _test_method_names(obj)
        if not names:
            raise DeclarationError(
                f"rehearse: {obj.__qualname__} has no test methods to rehearse."
            )
        for name in names:
            split_test(obj, name, _suffixed)
        if issubclass(obj, unittest.TestCase):
            _pin_whole_test(obj)
        return obj
    if callable(obj):
        return _RehearsedMethod(obj)  # type: ignore[return-value]
    raise DeclarationError(f"rehearse decorates a TestCase class or a test method, not {obj!r}.")


def _suffixed(name: str, side: Side) -> str:
    return f"{name}_{side}"


def _test_method_names(cls: type) -> list[str]:
    """The tests of *cls* as unittest finds them, less those already pinned to a side."""
    if issubclass(cls, unittest.TestCase):
        names = unittest.TestLoader().getTestCaseNames(cls)
    else:
        names = [n for n in dir(cls) if n.startswith("test") and callable(getattr(cls, n))]
    return [n for n in names if pinned_side(getattr(cls, n)) is None]


def pinned_side(func: object) -> Side | None:
    """The side *func* is pinned to for every transition, if it is a pinned test."""
    side = getattr(func, PINNED_ATTRIBUTE, None)
    return side if side in SIDES else None


def split_test(cls: type, name: str, naming: Callable[[str, Side], str]) -> None:
    """Replace the test method *name* of *cls* by one pinned variant per side, named by
    *naming*; the original name is hidden from test loaders."""
    func = getattr(cls, name)
    for side in SIDES:
        new_name = naming(name, side)
        inherited = getattr(cls, new_name, None)
        # A variant inherited from a base class whose own test_x was split is overridden, like
        # the test it came from; anything else of that name is the user's.
        if new_name in cls.__dict__ or (inherited is not None and pinned_side(inherited) is None):
            raise DeclarationError(
                f"rehearse: {cls.__qualname__}.{name} would become {new_name}, which "
                f"{cls.__qualname__} already has; rename one of them."
            )
        setattr(cls, new_name, _pinned_variant(func, side, new_name))
    # unittest and pytest skip attributes that are not callable.
    setattr(cls, name, None)


def _pinned_variant(func: Callable[..., Any], side: Side, name: str) -> Callable[..., Any]:
    variant = read_side(ALL, side)(func)  # marks it PINNED_ATTRIBUTE = side
    variant.__name__ = name
    variant.__qualname__ = f"{func.__qualname__.rpartition('.')[0]}.{name}".lstrip(".")
    return variant


def _pin_whole_test(cls: type[unittest.TestCase]) -> None:
    """Make a pinned variant's pin cover ``setUp``, ``tearDown`` and Django's per-test set-up
    (which run around the test method), not only the method."""
    if getattr(cls.__call__, PINNED_ATTRIBUTE + "_call", False):
        return
    call = cls.__call__

    @functools.wraps(call)
    def __call__(self: unittest.TestCase, *args: Any, **kwargs: Any) -> Any:
        side = pinned_side(getattr(self, self._testMethodName, None))
        if side is None:
            return call(self, *args, **kwargs)
        with read_side(ALL, side):
            return call(self, *args, **kwargs)

    setattr(__call__, PINNED_ATTRIBUTE + "_call", True)
    cls.__call__ = __call__  # type: ignore[method-assign]


class _RehearsedMethod:
    """``@rehearse`` on one test method: when the class is created, the method becomes its
    ``_old`` and ``_new`` variants."""

    def __init__(self, func: Callable[..., Any]) -> None:
        self.func = func
        functools.update_wrapper(self, func)

    def __set_name__(self, owner: type, name: str) -> None:
        setattr(owner, name, self.func)
        split_test(owner, name, _suffixed)
        if issubclass(owner, unittest.TestCase):
            _pin_whole_test(owner)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        raise DeclarationError(
            f"@rehearse on {self.func.__qualname__}: decorate a method of a class (it becomes "
            "two test methods when the class is created), or the class."
        )


# --- the pytest plugin's entry points (the rest is in flagschema._rehearsal) -----------------


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("flagschema", "flagschema rollback rehearsal")
    group.addoption(
        "--flagschema-read",
        dest="flagschema_read",
        choices=("old", "new", "both"),
        default=None,
        help="pin every flagschema transition to the old or the new read side for each test, "
        "or run each test on both sides (ids [flagschema-old], [flagschema-new]).",
    )
    group.addoption(
        "--flagschema-only-marked",
        dest="flagschema_only_marked",
        action="store_true",
        default=False,
        help="with --flagschema-read, pin only the tests marked flagschema_rehearse (on the "
        "test, its class or its module); the others run once, reading what the flags say.",
    )
    parser.addini(
        "flagschema_only_marked",
        type="bool",
        default=False,
        help="as --flagschema-only-marked.",
    )


def pytest_configure(config: pytest.Config) -> None:
    from flagschema import _rehearsal

    _rehearsal.configure(config)
