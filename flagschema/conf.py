"""Settings access: every ``FLAGSCHEMA_*`` setting is read through :func:`get_setting`."""

from __future__ import annotations

from typing import Any

from django.conf import settings

from flagschema import defaults

PREFIX = "FLAGSCHEMA_"


def get_setting(name: str) -> Any:
    """Return ``settings.FLAGSCHEMA_<name>``, or its default from :mod:`flagschema.defaults`.

    >>> get_setting("FLAG_TTL")
    1.0
    """
    return getattr(settings, PREFIX + name, getattr(defaults, name))
