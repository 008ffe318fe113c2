"""Which side reads come from: flag backends, the in-process TTL cache, pins and middleware.

Resolution order for one transition, first match wins:

1. a :func:`reading` block that pins the label (tests, scripts);
2. the request's pin, set by :class:`PinReadSideMiddleware` (one state per request);
3. the statement's snapshot (one state per SQL statement, so a statement never mixes sides);
4. the in-process cache, refreshed from the backend every ``FLAGSCHEMA_FLAG_TTL`` seconds.

Only step 4 on a stale entry costs a backend call (for waffle: a cache round trip); queries in
between cost a dictionary lookup.
"""

from __future__ import annotations

import contextvars
import functools
import threading
import time
from collections.abc import Callable, Mapping
from contextlib import ContextDecorator
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, NamedTuple

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.core.signals import setting_changed
from django.utils.module_loading import import_string

from flagschema.conf import PREFIX, get_setting
from flagschema.exceptions import TransitionError
from flagschema.transitions import SIDES, Side, Transition, registry

if TYPE_CHECKING:
    from django.http import HttpRequest, HttpResponse

# The clock is a module attribute so that tests can move time instead of sleeping.
clock: Callable[[], float] = time.monotonic

# A statement snapshot older than this is not trusted to belong to the statement being compiled
# (a compile that was never executed, e.g. ``str(queryset.query)``, leaves one behind).
_STATEMENT_SNAPSHOT_MAX_AGE = 1.0


def waffle_switch_is_active(flag: str) -> bool:
    """The default backend: the django-waffle Switch named *flag*; active means "new"."""
    import waffle

    return bool(waffle.switch_is_active(flag))


class _FlagCache:
    """Flag states held in process for the TTL; counts backend calls for the benchmark."""

    def __init__(self) -> None:
        self._states: dict[str, tuple[bool, float]] = {}
        self._backend: Callable[[str], bool] | None = None
        self._ttl: float | None = None
        self.backend_calls = 0

    def clear(self) -> None:
        self._states.clear()
        self._backend = None
        self._ttl = None

    def backend(self) -> Callable[[str], bool]:
        if self._backend is None:
            path = get_setting("FLAG_BACKEND")
            self._backend = import_string(path) if isinstance(path, str) else path
        return self._backend

    def ttl(self) -> float:
        if self._ttl is None:
            self._ttl = float(get_setting("FLAG_TTL"))
        return self._ttl

    def is_active(self, flag: str) -> bool:
        now = clock()
        held = self._states.get(flag)
        if held is not None and held[1] > now:
            return held[0]
        self.backend_calls += 1
        active = bool(self.backend()(flag))
        self._states[flag] = (active, now + self.ttl())
        return active

    def forget(self, flag: str) -> None:
        """Drop one flag so the next read asks the backend (used after a flip in-process)."""
        self._states.pop(flag, None)
        self._states.pop(_EVERYONE + flag, None)

    def everyone(self, flag: str) -> bool:
        """Outside a request, a waffle Flag's side is its ``everyone`` setting: on means new;
        off or unset (percent, users, groups decide per request) means old."""
        now = clock()
        key = _EVERYONE + flag
        held = self._states.get(key)
        if held is not None and held[1] > now:
            return held[0]
        self.backend_calls += 1
        from waffle import get_waffle_flag_model

        found = get_waffle_flag_model().get(flag)
        active = bool(found.pk and found.everyone)
        self._states[key] = (active, now + self.ttl())
        return active


# Key prefix of the waffle Flags' `everyone` states in the cache (switch names are bare).
_EVERYONE = "\x00everyone:"


cache = _FlagCache()

# The third read mode: answer from old, compare a sample of reads with new (flagschema.shadow).
SHADOW = "shadow"

_pinned: contextvars.ContextVar[Mapping[str, str]] = contextvars.ContextVar(
    "flagschema_pinned", default=MappingProxyType({})
)
_request_states: contextvars.ContextVar[dict[str, Side] | None] = contextvars.ContextVar(
    "flagschema_request_states", default=None
)
# The request being served (set by PinReadSideMiddleware): waffle Flags are resolved for it.
_request: contextvars.ContextVar[HttpRequest | None] = contextvars.ContextVar(
    "flagschema_request", default=None
)


class _RawOldUse(NamedTuple):
    """A converted field compiled from its raw old column (see :func:`note_raw_old_use`)."""

    transition: Transition
    field: str  # the new field's name
    where: str  # "a query on app.Model", for the error
    column: str  # the quoted column reference, as it appears in the statement's SQL
    compiled: float  # clock() when compiled
    in_subquery: bool


class _Statement(threading.local):
    states: dict[str, Side] | None = None
    # Converted fields compiled from the raw old column and not (yet) seen in a SELECT list:
    # a statement that still has one when it runs would compare new-shape values with the old
    # column, so it is refused.
    raw_old: dict[int, _RawOldUse] | None = None
    # Select expressions of the last compiled query that read the raw old column, by id.
    raw_selects: dict[int, bool] | None = None
    started: float = 0.0
    # >0 while a flag backend runs: its own queries (waffle reads a table) happen inside the
    # compilation of the statement being resolved and must not end that statement's snapshot.
    resolving: int = 0


_statement = _Statement()


def _backend_side(transition: Transition) -> Side:
    _statement.resolving += 1
    try:
        if transition.flag_type == "flag":
            return "new" if _flag_is_active(transition.flag) else "old"
        return "new" if cache.is_active(transition.flag) else "old"
    finally:
        _statement.resolving -= 1


def _flag_is_active(flag: str) -> bool:
    """A waffle Flag: for the request being served, as waffle decides it (percent, users,
    groups, staff; waffle's middleware keeps a percentage choice in a cookie); outside a
    request, its ``everyone`` setting."""
    request = _request.get()
    if request is None:
        return cache.everyone(flag)
    import waffle

    return bool(waffle.flag_is_active(request, flag))


def read_side(transition: Transition) -> Side:
    """The side reads of *transition* come from at this point of this thread/request."""
    label = transition.label
    pinned = _pinned.get()
    if pinned:
        pin = pinned.get(label)
        if pin is not None:
            return "new" if pin == "new" else "old"  # shadow reads the old side
    states = _request_states.get()
    if states is None:
        statement = _statement
        states = statement.states
        now = clock()
        if states is None or now - statement.started > _STATEMENT_SNAPSHOT_MAX_AGE:
            states = statement.states = {}
            statement.started = now
    side = states.get(label)
    if side is None:
        side = states[label] = _backend_side(transition)
    return side


def shadowing(transition: Transition) -> bool:
    """Whether reads of *transition* are in shadow mode: answered from old, and a sample
    compared with new. A ``reading(label, "shadow")`` pin says so; otherwise the waffle switch
    ``<flag><FLAGSCHEMA_SHADOW_SUFFIX>`` (``customers.full_name.shadow``), while the flag
    itself says old."""
    pinned = _pinned.get()
    if pinned:
        side = pinned.get(transition.label)
        if side is not None:
            return side == SHADOW
    if read_side(transition) != "old":
        return False
    return cache.is_active(transition.flag + get_setting("SHADOW_SUFFIX"))


def end_statement(execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any):
    """Database execute wrapper: the statement is compiled, so its snapshot ends here."""
    if not _statement.resolving:
        _statement.states = None
        if _statement.raw_old:
            # Only uses compiled into this statement count: a query that was compiled but never
            # run (``str(queryset.query)``) must not refuse the next one.
            now = clock()
            uses = [
                use
                for use in _statement.raw_old.values()
                if use.column in sql and now - use.compiled <= _STATEMENT_SNAPSHOT_MAX_AGE
            ]
            _statement.raw_old = None
            if uses:
                _refuse_raw_old_use(uses)
    return execute(sql, params, many, context)


def start_compile(compiler: Any) -> None:
    """A compiler reached its first transition column. For a top-level query, forget the raw
    old uses of top-level queries compiled before it that never ran (``str(queryset.query)``,
    a compile that failed): they are not part of this statement. Subqueries' uses are kept
    until the statement runs, since a subquery may be compiled before its outer query's
    first transition column."""
    raw = _statement.raw_old
    if raw and not compiler.query.subquery:
        _statement.raw_old = {k: use for k, use in raw.items() if use.in_subquery} or None


def note_raw_old_use(expression: Any, transition: Transition, compiler: Any, column: str) -> None:
    """A new field was compiled as the raw old *column* (the quoted reference; the transition
    has no ``forward_sql`` for it)."""
    if _statement.raw_old is None:
        _statement.raw_old = {}
    _statement.raw_old[id(expression)] = _RawOldUse(
        transition,
        expression.target.name,
        _where(compiler),
        column,
        clock(),
        bool(compiler.query.subquery),
    )


def note_select(expression: Any, compiler: Any) -> bool:
    """*expression* was compiled into a SELECT list: raw old values are converted in Python
    there, unless the SELECT is a subquery whose values another expression compares. Returns
    whether it was the raw old column."""
    raw = _statement.raw_old
    is_raw = bool(raw) and id(expression) in raw  # type: ignore[operator]
    if is_raw and not compiler.query.subquery:
        del raw[id(expression)]  # type: ignore[union-attr]
    if _statement.raw_selects is None or len(_statement.raw_selects) > 1000:
        _statement.raw_selects = {}  # entries of queries compiled but never iterated
    _statement.raw_selects[id(expression)] = is_raw
    return is_raw


def selected_raw_old(expression: Any) -> bool:
    """Whether *expression* was last compiled into a SELECT list from the raw old column."""
    selects = _statement.raw_selects
    return bool(selects) and bool(selects.pop(id(expression), False))  # type: ignore[union-attr]


def _where(compiler: Any) -> str:
    return f"a query on {compiler.query.model._meta.label}" if compiler.query.model else "a query"


def _refuse_raw_old_use(uses: list[_RawOldUse]) -> None:
    use = uses[0]
    transition = use.transition
    old = ", ".join(repr(c) for c in transition.old_columns)
    if len(transition.new_fields) == 1:
        add = "forward_sql=<a Django expression of the old field> to the ConvertedField"
    else:
        add = (
            f"forward_sql={{{use.field!r}: <a Django expression of the old fields>}} to the "
            "Transition"
        )
    raise TransitionError(
        f"{use.where} filters, orders or aggregates on {use.field!r} of {transition.label} "
        f"while it reads the old shape ({old}), and the transition has no forward_sql to "
        f"express the new value in SQL, so the statement was not run. Add {add}, or flip the "
        "transition to new.",
    )


def install_statement_boundary(connection: Any, **kwargs: Any) -> None:
    """``connection_created`` receiver: mark statement boundaries on every connection."""
    if end_statement not in connection.execute_wrappers:
        connection.execute_wrappers.append(end_statement)


class reading(ContextDecorator):
    """Pin the read side of one transition (or several) inside a block or a decorated function.

    >>> with flagschema.reading("shop.Customer.full_name", "new"):
    ...     Customer.objects.filter(full_name="Ada").exists()

    The pin wins over the flag, the request pin and the cache. Blocks nest; the inner one wins.
    """

    def __init__(self, label: str | Transition, side: str) -> None:
        transition = label if isinstance(label, Transition) else registry[label]
        if side not in (*SIDES, SHADOW):
            raise TransitionError(
                f"Read side {side!r} for {transition.label} is not one of 'old', 'new' or "
                "'shadow' (old, compared with new on a sample of reads)."
            )
        self.label = transition.label
        self.side = side
        self._tokens: list[contextvars.Token[Mapping[str, str]]] = []

    def __enter__(self) -> reading:
        pins = dict(_pinned.get())
        pins[self.label] = self.side
        self._tokens.append(_pinned.set(pins))
        return self

    def __exit__(self, *exc: object) -> None:
        _pinned.reset(self._tokens.pop())

    def __call__(self, func: Any) -> Any:
        if iscoroutinefunction(func):
            # ContextDecorator would pin around creating the coroutine, not around running it.
            @functools.wraps(func)
            async def pinned(*args: Any, **kwargs: Any) -> Any:
                with self._recreate_cm():
                    return await func(*args, **kwargs)

            return pinned
        return super().__call__(func)


class PinReadSideMiddleware:
    """Resolve each transition's read side at most once per request and keep it for the request.

    Add ``"flagschema.flags.PinReadSideMiddleware"`` to ``MIDDLEWARE``. Without it, each SQL
    statement resolves on its own, so a flip between two queries of one request can give that
    request one query from each side. It also makes the request available to transitions that
    name a waffle Flag (``flag_type="flag"``), which waffle decides per request; place it after
    the authentication middleware (users, groups, staff) and with waffle's ``WaffleMiddleware``
    (which keeps a percentage choice in a cookie, so that a user keeps one side).
    """

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[HttpRequest], Any]) -> None:
        self.get_response = get_response
        if iscoroutinefunction(self.get_response):
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> Any:
        if iscoroutinefunction(self):
            return self.__acall__(request)
        token = _request_states.set({})
        request_token = _request.set(request)
        try:
            return self.get_response(request)
        finally:
            _request.reset(request_token)
            _request_states.reset(token)

    async def __acall__(self, request: HttpRequest) -> HttpResponse:
        token = _request_states.set({})
        request_token = _request.set(request)
        try:
            return await self.get_response(request)
        finally:
            _request.reset(request_token)
            _request_states.reset(token)


def _on_setting_changed(*, setting: str, **kwargs: Any) -> None:
    if setting.startswith(PREFIX) or setting.startswith("WAFFLE_"):
        cache.clear()
        _statement.states = None


setting_changed.connect(_on_setting_changed)
