from __future__ import annotations

import os

import pytest

from flagschema import flags
from tests.helpers import set_switch

FLAGS = (
    "customers.full_name",
    "orders.reference",
    "tags.slug",
    "products.price",
    "products.stock",
    "people.name_split",
    "places.address",
)


def pytest_report_header(config: pytest.Config) -> str:
    from django import get_version
    from django.db import connection

    redis = os.environ.get("FLAGSCHEMA_TEST_REDIS") or "not set (LocMemCache)"
    return f"flagschema: Django {get_version()}, database {connection.vendor}, redis {redis}"


@pytest.fixture(autouse=True)
def _fresh_flag_state():
    """Each test starts with an empty in-process flag cache and no statement snapshot."""
    from django.core.cache import cache

    cache.clear()
    flags.cache.clear()
    flags._statement.states = None
    yield
    flags.cache.clear()
    flags._statement.states = None


@pytest.fixture(params=["old", "new"])
def side(request: pytest.FixtureRequest, db: None) -> str:
    """The read side of every transition of the test app, set through the waffle switches."""
    for name in FLAGS:
        set_switch(name, request.param == "new")
    return request.param
