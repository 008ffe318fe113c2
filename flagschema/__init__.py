"""flagschema: schema changes that roll back by flipping a flag.

>>> import flagschema
>>> full_name = flagschema.RenamedField(
...     models.CharField(max_length=200), old_name="name", flag="customers.full_name"
... )
"""

from flagschema.exceptions import TransitionError
from flagschema.fields import ConvertedField, RenamedField
from flagschema.flags import reading
from flagschema.transitions import Transition, registry

__all__ = [
    "ConvertedField",
    "RenamedField",
    "Transition",
    "TransitionError",
    "reading",
    "registry",
]
