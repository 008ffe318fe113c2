"""The audit follows what waffle resolves: a missing switch reads ``WAFFLE_SWITCH_DEFAULT``, so
deleting (or creating) a switch is recorded as a flip only when the side processes read
changes, and ``status``, the admin and the flip history say that side."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import User
from django.test import Client, override_settings
from waffle.models import Switch

from flagschema import flags
from flagschema.models import FlipEvent
from flagschema.runbook.status import transition_status
from flagschema.transitions import registry
from tests.apps.rename.models import Customer
from tests.helpers import put, set_switch

pytestmark = pytest.mark.django_db

LABEL = "rename.Customer.full_name"
FLAG = "customers.full_name"


def admin_row(client: Client) -> str:
    page = client.get("/admin/flagschema/flipevent/transitions/").content.decode()
    return page.split(f'data-label="{LABEL}"')[1].split("</tr>")[0]


def history(client: Client) -> list[str]:
    page = client.get("/admin/flagschema/flipevent/").content.decode()
    return re.findall(r"\b(old|new) → (old|new)\b", page)


@pytest.mark.parametrize("default", [True, False], ids=["default-new", "default-old"])
@pytest.mark.parametrize("active", [True, False], ids=["was-new", "was-old"])
def test_deleting_the_switch_records_the_side_processes_read(active: bool, default: bool) -> None:
    side = "new" if default else "old"
    client = Client()
    client.force_login(User.objects.create_superuser("root", password="pw"))
    with override_settings(WAFFLE_SWITCH_DEFAULT=default):
        set_switch(FLAG, active)
        pk = Customer.objects.create(full_name="Ada Lovelace").pk
        put(Customer, pk, name="read from old", full_name="read from new")
        FlipEvent.objects.all().delete()

        switch = Switch.objects.get(name=FLAG)
        switch.delete()
        switch.flush()  # waffle flushes on commit; tests never commit
        flags.cache.forget(FLAG)

        # What processes read: waffle's default for a missing switch.
        assert Customer.objects.get(pk=pk).full_name == f"read from {side}"
        assert transition_status(registry[LABEL], count_rows=False).read_side == side
        assert f">{side.upper()}<" in admin_row(client)
        events = list(FlipEvent.objects.values_list("label", "from_side", "to_side", "source"))
        was = "new" if active else "old"
        if was == side:
            assert events == []  # every process keeps reading the same side
            assert history(client) == []
        else:
            assert events == [(LABEL, was, side, "waffle")]
            assert history(client) == [(was, side)]

        # Creating it again, as waffle's admin does, is recorded from that default too.
        FlipEvent.objects.all().delete()
        Switch.objects.create(name=FLAG, active=not default)
        now = "old" if default else "new"
        assert list(FlipEvent.objects.values_list("from_side", "to_side")) == [(side, now)]
        Switch.objects.filter(name=FLAG).delete()
        FlipEvent.objects.all().delete()
        Switch.objects.create(name=FLAG, active=default)
        assert not FlipEvent.objects.exists()
