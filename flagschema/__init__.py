"""flagschema: schema changes that roll back by flipping a flag.

>>> import flagschema
>>> full_name = flagschema.RenamedField(
...     models.CharField(max_length=200), old_name="name", flag="customers.full_name"
... )

The fields and :func:`reading` are imported on first use, so that importing the package (which
pytest does for the ``flagschema.testing`` plugin in every run) does not import Django's ORM.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from flagschema.exceptions import (
    ArgumentError,
    ContractRefused,
    DeclarationError,
    FlagschemaError,
    FlipRefused,
    LintError,
    TransitionError,
)
from flagschema.transitions import Transition, registry

if TYPE_CHECKING:
    from flagschema.fields import ConvertedField, RenamedField
    from flagschema.flags import reading

__all__ = [
    "ArgumentError",
    "ContractRefused",
    "ConvertedField",
    "DeclarationError",
    "FlagschemaError",
    "FlipRefused",
    "LintError",
    "RenamedField",
    "Transition",
    "TransitionError",
    "reading",
    "registry",
]

# Public names whose modules import Django's ORM, by module.
_LAZY = {
    "ConvertedField": "flagschema.fields",
    "RenamedField": "flagschema.fields",
    "reading": "flagschema.flags",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'flagschema' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})
