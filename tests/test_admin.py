"""The "Schema transitions" admin (issue 5): the transitions page, the flip history, the flip
with its confirmation and reason, who may flip, and the audit records."""

from __future__ import annotations

import re

import pytest
from django.contrib.admin.models import ADDITION, LogEntry
from django.contrib.admin.sites import AdminSite
from django.contrib.auth.models import Permission, User
from django.contrib.contenttypes.models import ContentType
from django.test import Client, override_settings
from waffle.models import Flag, Switch

import flagschema
from flagschema import flags
from flagschema.admin import autoregister
from flagschema.models import FlipEvent, VerifyRun
from flagschema.runbook.verify import verify
from tests.apps.rename.models import Customer
from tests.helpers import put, set_switch

pytestmark = pytest.mark.django_db

LABEL = "rename.Customer.full_name"
FLAG = "customers.full_name"
TRANSITIONS = "/admin/flagschema/flipevent/transitions/"
DETAIL = f"{TRANSITIONS}{LABEL}/"
FLIP_NEW = f"{DETAIL}flip/new/"
FLIP_OLD = f"{DETAIL}flip/old/"
VERIFY = f"{DETAIL}verify/"
HISTORY = "/admin/flagschema/flipevent/"


def make_user(username: str, *, staff: bool = True, can_flip: bool = False) -> User:
    user = User.objects.create_user(username, password="pw", is_staff=staff)
    if can_flip:
        user.user_permissions.add(
            Permission.objects.get(
                codename="flip_transition", content_type__app_label="flagschema"
            )
        )
    return user


def logged_in(user: User, **kwargs: bool) -> Client:
    client = Client(**kwargs)
    client.force_login(user)
    return client


@pytest.fixture
def flipper() -> Client:
    """Staff with the flip permission and no other."""
    return logged_in(make_user("alice", can_flip=True))


@pytest.fixture
def viewer() -> Client:
    """Staff without any permission."""
    return logged_in(make_user("victor"))


@pytest.fixture
def customers() -> list[Customer]:
    set_switch(FLAG, False)
    return [Customer.objects.create(full_name=n) for n in ("Ada", "Bob")]


def switch_active() -> bool:
    return Switch.objects.filter(name=FLAG, active=True).exists()


def text(response) -> str:
    return response.content.decode()


def messages_of(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


# --- the pages ----------------------------------------------------------------------------


def test_the_page_lists_every_transition_with_its_state(flipper: Client, customers) -> None:
    verify(flagschema.registry[LABEL])
    response = flipper.get(TRANSITIONS)
    assert response.status_code == 200
    page = text(response)
    rows = re.findall(r'data-label="([^"]+)"', page)
    assert rows == sorted(flagschema.registry.labels())
    row = page.split(f'data-label="{LABEL}"')[1].split("</tr>")[0]
    assert "rename.Customer" in row and "name &rarr; full_name" in row
    assert ">OLD<" in row and f"waffle switch {FLAG}" in row
    assert "never run" in row  # the backfill
    assert "clean (2 rows)" in row and "never flipped" in row
    assert f'href="{FLIP_NEW}"' in row  # the flip action, to the side not read now


def test_the_index_links_the_transitions_page_and_the_history(viewer: Client) -> None:
    for url in ("/admin/", "/admin/flagschema/"):
        page = text(viewer.get(url))
        assert f'<a href="{TRANSITIONS}"' in page and ">Transitions</a>" in page
        assert f'<a href="{HISTORY}"' in page and ">Flip history</a>" in page


def test_the_page_of_a_transition_shows_its_state_and_flip_history(
    flipper: Client, customers
) -> None:
    put(Customer, customers[1].pk, full_name=None)
    flipper.post(FLIP_OLD, {"reason": "nothing to do"})  # already old: no record
    FlipEvent.objects.create(
        label=LABEL, flag=FLAG, from_side="old", to_side="new", actor="bob", reason="INC-1"
    )
    FlipEvent.objects.create(
        label=LABEL, flag=FLAG, from_side="new", to_side="old", actor="carol", reason="INC-2"
    )
    page = text(flipper.get(DETAIL))
    assert "Count rows" in page and "without the new shape" not in page
    history = page.split('class="flagschema-history"')[1]
    assert history.index("INC-2") < history.index("INC-1")  # newest first
    assert "carol" in history and "manage.py flagschema flip" in history
    assert "new &rarr; old at" in page  # the last flip

    counted = text(flipper.get(DETAIL, {"count": "1"}))
    assert "2, 1 without the new shape" in counted


def test_an_unknown_label_or_side_is_not_found(flipper: Client) -> None:
    assert flipper.get(f"{TRANSITIONS}rename.Nope/").status_code == 404
    assert flipper.get(f"{TRANSITIONS}rename.Nope/flip/new/").status_code == 404
    assert flipper.get(f"{DETAIL}flip/sideways/").status_code == 404


# --- permissions --------------------------------------------------------------------------


def test_staff_without_the_permission_see_the_pages_read_only(viewer: Client, customers) -> None:
    for url in (TRANSITIONS, DETAIL, HISTORY):
        response = viewer.get(url)
        assert response.status_code == 200, url
        assert "/flip/" not in text(response) and "Verify now" not in text(response)
    assert "Read-only" in text(viewer.get(TRANSITIONS))
    assert viewer.get(FLIP_NEW).status_code == 403
    assert viewer.post(FLIP_NEW, {"reason": "let me"}).status_code == 403
    assert viewer.post(FLIP_OLD, {"reason": "let me"}).status_code == 403
    assert viewer.post(VERIFY).status_code == 403
    assert not switch_active()
    assert not FlipEvent.objects.exists() and not VerifyRun.objects.exists()
    assert not LogEntry.objects.exists()


@pytest.mark.parametrize("who", ["anonymous", "not staff", "inactive staff"])
def test_anyone_else_is_refused(who: str, customers) -> None:
    if who == "anonymous":
        client = Client()
    elif who == "not staff":
        client = logged_in(make_user("nina", staff=False, can_flip=True))
    else:
        user = make_user("ivan", can_flip=True)
        user.is_active = False
        user.save()
        client = Client()
        client.force_login(user)
    for url in (TRANSITIONS, DETAIL, FLIP_NEW, HISTORY):
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith("/admin/login/")
    response = client.post(FLIP_NEW, {"reason": "sneaky"})
    assert response.status_code == 302 and response["Location"].startswith("/admin/login/")
    assert not switch_active() and not FlipEvent.objects.exists()


def test_a_flip_needs_the_csrf_token(customers) -> None:
    client = logged_in(make_user("alice", can_flip=True), enforce_csrf_checks=True)
    assert client.post(FLIP_OLD, {"reason": "no token"}).status_code == 403
    assert client.post(FLIP_NEW, {"reason": "no token"}).status_code == 403
    assert client.post(VERIFY).status_code == 403
    assert not switch_active() and not FlipEvent.objects.exists()

    page = text(client.get(FLIP_NEW))
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
    assert token is not None
    response = client.post(FLIP_NEW, {"reason": "with token", "csrfmiddlewaretoken": token[1]})
    assert response.status_code == 302 and switch_active()


def test_the_flip_history_is_never_edited(customers) -> None:
    admin = User.objects.create_superuser("root", "root@example.com", "pw")
    client = logged_in(admin)
    event = FlipEvent.objects.create(
        label=LABEL, flag=FLAG, from_side="old", to_side="new", reason="INC-1"
    )
    changelist = client.get(HISTORY)
    assert changelist.status_code == 200
    assert "<h1>Flip history</h1>" in text(changelist) and "INC-1" in text(changelist)
    assert 'name="action"' not in text(changelist)  # no bulk delete
    assert client.get(f"{HISTORY}add/").status_code == 403
    assert client.get(f"{HISTORY}{event.pk}/delete/").status_code == 403
    view = client.get(f"{HISTORY}{event.pk}/change/")
    assert view.status_code == 200 and 'name="_save"' not in text(view)
    assert client.post(f"{HISTORY}{event.pk}/change/", {"reason": "edited"}).status_code == 403
    event.refresh_from_db()
    assert event.reason == "INC-1"


# --- the flip -----------------------------------------------------------------------------


def test_the_confirmation_shows_the_verify_state_and_asks_for_a_reason(
    flipper: Client, customers
) -> None:
    page = text(flipper.get(FLIP_NEW))
    assert "Reads now" in page and ">OLD<" in page
    assert "never run" in page  # no verify yet
    assert "Verify now" in page and 'name="reason"' in page
    assert 'name="force"' not in page  # only after a refusal
    assert "FLAGSCHEMA_FLAG_TTL" in page

    verify(flagschema.registry[LABEL])
    assert "clean (2 rows)" in text(flipper.get(FLIP_NEW))

    response = flipper.post(FLIP_NEW, {"reason": "   "})
    assert response.status_code == 200
    assert "This field is required." in text(response)
    assert not switch_active() and not FlipEvent.objects.exists()


def test_verify_now_records_a_run_and_returns_to_the_confirmation(
    flipper: Client, customers
) -> None:
    put(Customer, customers[0].pk, full_name=None)
    assert flipper.get(VERIFY).status_code == 405
    response = flipper.post(VERIFY, {"to": "new"}, follow=True)
    assert response.redirect_chain == [(FLIP_NEW, 302)]
    run = VerifyRun.objects.get()
    assert (run.label, run.checked, run.unfilled) == (LABEL, 2, 1)
    assert messages_of(response) == [
        f"verify {LABEL}: 0 mismatching and 1 unfilled row(s) of 2 (pk {customers[0].pk})."
    ]
    assert "0 mismatching, 1 unfilled of 2 rows" in text(response)


def test_a_flip_records_a_flip_event_and_an_admin_log_entry(flipper: Client, customers) -> None:
    response = flipper.post(FLIP_NEW, {"reason": "release 42"}, follow=True)
    assert response.redirect_chain == [(DETAIL, 302)]
    assert switch_active() and flagschema.registry[LABEL].read_side() == "new"
    event = FlipEvent.objects.get()
    assert (event.label, event.from_side, event.to_side) == (LABEL, "old", "new")
    assert (event.actor, event.reason, event.source, event.forced) == (
        "alice",
        "release 42",
        "admin",
        False,
    )
    entry = LogEntry.objects.get()
    assert entry.user.get_username() == "alice" and entry.action_flag == ADDITION
    assert entry.content_type == ContentType.objects.get_for_model(FlipEvent)
    assert entry.object_id == str(event.pk)
    assert entry.get_change_message() == f"Flipped {LABEL} from old to new: release 42"
    assert messages_of(response)[0].startswith(
        f"Flipped: {LABEL} now reads NEW (was OLD); recorded as flip #{event.pk}. Every process "
        "reads it"
    )
    assert "the Schema transitions admin" in text(response)  # the history on the page

    # The rollback: a flip to old is never refused, even with rows the new side lacks.
    put(Customer, customers[0].pk, full_name=None)
    page = text(flipper.get(FLIP_OLD))
    assert "never refused" in page
    response = flipper.post(FLIP_OLD, {"reason": "INC-9 rollback"})
    assert response.status_code == 302 and not switch_active()
    assert [(e.to_side, e.reason) for e in FlipEvent.objects.order_by("id")] == [
        ("new", "release 42"),
        ("old", "INC-9 rollback"),
    ]
    assert LogEntry.objects.count() == 2


def test_a_flip_to_the_side_already_read_changes_nothing(flipper: Client, customers) -> None:
    response = flipper.post(FLIP_OLD, {"reason": "just in case"}, follow=True)
    assert messages_of(response) == [f"Nothing was changed: {LABEL} already reads OLD."]
    assert not FlipEvent.objects.exists() and not LogEntry.objects.exists()


def test_an_unverified_flip_to_new_is_refused_until_forced(flipper: Client, customers) -> None:
    late = customers[1]
    put(Customer, late.pk, full_name=None)  # written by the previous release: no new shape
    response = flipper.post(FLIP_NEW, {"reason": "go"})
    assert response.status_code == 200
    page = text(response)
    refusal = page.split('class="errornote flagschema-refusal">')[1].split("</p>")[0]
    assert "was not flipped to new" in refusal and "1 unfilled" in refusal
    assert f"pk {late.pk}" in refusal
    assert "--force" not in refusal and "`flagschema" not in refusal  # web words, not CLI
    assert 'name="force"' in page and "Flip anyway" in page
    assert re.search(r">\s*go</textarea>", page)  # the reason is kept
    assert not switch_active()
    assert not FlipEvent.objects.exists() and not LogEntry.objects.exists()

    response = flipper.post(FLIP_NEW, {"reason": "go anyway", "force": "on"})
    assert response.status_code == 302 and switch_active()
    event = FlipEvent.objects.get()
    assert event.forced and event.reason == "go anyway" and event.actor == "alice"
    entry = LogEntry.objects.get()
    assert entry.get_change_message() == f"Flipped {LABEL} from old to new (forced): go anyway"


def test_a_refusal_that_force_cannot_lift_offers_no_force(flipper: Client, customers) -> None:
    with override_settings(FLAGSCHEMA_FLAG_BACKEND=lambda flag: False):
        response = flipper.post(FLIP_NEW, {"reason": "go"})
    page = text(response)
    assert response.status_code == 200 and "not from a waffle switch" in page
    assert "Flip anyway" not in page and not FlipEvent.objects.exists()


def test_force_counts_only_after_a_refusal(flipper: Client, customers) -> None:
    put(Customer, customers[1].pk, full_name=None)
    # A forged form that forces without having been refused is refused like any other.
    response = flipper.post(FLIP_NEW, {"reason": "go", "force": "on"})
    assert response.status_code == 200 and "was not flipped to new" in text(response)
    assert not switch_active() and not FlipEvent.objects.exists()
    # After a successful forced flip, the next one has to be refused again first.
    assert flipper.post(FLIP_NEW, {"reason": "go", "force": "on"}).status_code == 302
    assert flipper.post(FLIP_OLD, {"reason": "back"}).status_code == 302
    response = flipper.post(FLIP_NEW, {"reason": "again", "force": "on"})
    assert response.status_code == 200 and "was not flipped to new" in text(response)


def test_a_flag_rolling_out_per_request_can_be_flipped_either_way(flipper: Client) -> None:
    flag, _ = Flag.objects.update_or_create(
        name="articles.body", defaults={"everyone": None, "percent": 50}
    )
    flag.flush()  # waffle drops its cached copy at commit; tests never commit
    flags.cache.forget("articles.body")
    detail = f"{TRANSITIONS}rollout.Article.body/"
    page = text(flipper.get(detail))
    assert ">PER-REQUEST<" in page and "waffle flag <code>articles.body</code>" in page
    assert f'href="{detail}flip/new/"' in page and f'href="{detail}flip/old/"' in page

    response = flipper.post(f"{detail}flip/old/", {"reason": "INC-3: stop the rollout"})
    assert response.status_code == 302
    flag.refresh_from_db()
    assert flag.everyone is False
    event = FlipEvent.objects.get(label="rollout.Article.body")
    assert (event.from_side, event.to_side, event.source) == ("per-request", "old", "admin")


# --- the setting --------------------------------------------------------------------------


def test_the_setting_turns_the_registration_off() -> None:
    site = AdminSite(name="other")
    with override_settings(FLAGSCHEMA_ADMIN=False):
        assert autoregister(site) is False
    assert not site.is_registered(FlipEvent)
    assert autoregister(site) is True and site.is_registered(FlipEvent)
    assert autoregister(site) is False  # once
