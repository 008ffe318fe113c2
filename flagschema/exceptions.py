"""Every exception flagschema raises on purpose, under one root: :class:`FlagschemaError`.

``except flagschema.FlagschemaError`` catches them all. Beneath it:

- :class:`TransitionError`: a transition was used in a way that cannot give correct rows
  (reading a value that does not convert, a statement whose result would depend on raw values,
  a value the old column cannot hold). :class:`FlipRefused`, the runbook's refusal to flip, is a
  ``TransitionError``.
- :class:`ContractRefused` and :class:`LintError`: the runbook's other refusals.
- Misuse (a declaration or an argument that is wrong whatever the data) is a
  :class:`DeclarationError` (a ``TransitionError`` and a ``TypeError``) or an
  :class:`ArgumentError` (a ``ValueError``): the built-in exception Python itself would raise
  beside flagschema's own, so that existing ``except TypeError``, ``except ValueError`` and
  ``except TransitionError`` keep holding.

Every message is one line: it names the transition, the field and the primary key where there
is one, never a row's values.
"""

from __future__ import annotations

__all__ = [
    "ArgumentError",
    "ContractRefused",
    "DeclarationError",
    "FlagschemaError",
    "FlipRefused",
    "LintError",
    "TransitionError",
]


class FlagschemaError(Exception):
    """The root of every exception flagschema raises on purpose."""


class TransitionError(FlagschemaError):
    """A transition was used in a way that cannot give correct rows.

    The message names the transition (its label) and says what to change.
    """


class FlipRefused(TransitionError):
    """The flip was not made; the message says why and how to proceed (in the command's
    words). ``problems`` lists what was found, for other front ends to word their own way;
    ``forceable`` says whether ``force=True`` would make the flip."""

    def __init__(
        self, message: str, *, problems: list[str] | None = None, forceable: bool = False
    ) -> None:
        super().__init__(message)
        self.problems = problems or [message]
        self.forceable = forceable


class ContractRefused(FlagschemaError):
    """``contract`` will not drop the old columns; the message (one line) says why and what to
    do instead."""


class LintError(FlagschemaError):
    """The migrations cannot be read, or lint was asked about something that does not exist.
    The message is one line."""


class DeclarationError(TransitionError, TypeError):
    """A declaration is wrong whatever the data: a field, a transition or a test decorator was
    given something it cannot take. Both a ``TransitionError`` and a ``TypeError``, so that code
    written against either keeps catching it."""


class ArgumentError(FlagschemaError, ValueError):
    """An argument of a runbook operation is out of its range (a batch size, a limit, a
    sample). Also a ``ValueError``."""
