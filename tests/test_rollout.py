"""A transition named by a waffle Flag: the side is chosen per request (percent, users, groups,
staff) and kept for the whole request; outside requests the Flag's `everyone` decides; writes
keep both columns whatever the side (issue 5, per-request rollout)."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command
from django.test import Client
from waffle.models import Flag

import flagschema
from flagschema import flags
from flagschema.models import FlipEvent
from tests.apps.rollout.models import Article
from tests.helpers import all_rows, put

pytestmark = pytest.mark.django_db

LABEL = "rollout.Article.body"
OLD, NEW = "from the text column", "from the body column"


@pytest.fixture
def articles() -> list[Article]:
    made = [Article.objects.create(title=str(i), body=NEW) for i in range(3)]
    for article in made:
        put(Article, article.pk, text=OLD)  # the two shapes differ, so a read shows its side
    return made


def set_flag(**fields: object) -> Flag:
    flag, _ = Flag.objects.update_or_create(name="articles.body", defaults=fields)
    flag.flush()
    flags.cache.forget("articles.body")
    return flag


def side_of(response) -> str:  # type: ignore[no-untyped-def]
    data = response.json()
    # Rows the requests wrote hold "written" in both columns; the others show the side.
    first = set(data["first"]) - {"written"}
    second = set(data["second"]) - {"written"}
    assert len(first) == 1 and first == second, data  # one side for the whole request
    return "new" if first == {NEW} else "old"


def test_a_percentage_rollout_reads_new_for_about_that_share(articles: list[Article]) -> None:
    set_flag(percent=50, everyone=None)
    sides = [side_of(Client().get("/articles/", {"n": n})) for n in range(200)]
    share = sides.count("new") / len(sides)
    print(f"\n{sides.count('new')} of {len(sides)} requests read the new column ({share:.0%})")
    assert 0.35 <= share <= 0.65
    # Every request also wrote a row: both columns hold its value, whatever the side.
    rows = all_rows(Article, "text", "body")
    assert len(rows) == 203
    assert all(text == body for _, text, body in rows[3:])


def test_a_user_keeps_the_side_waffle_chose_across_requests(articles: list[Article]) -> None:
    set_flag(percent=50, everyone=None)
    for _ in range(10):
        client = Client()
        chosen = {side_of(client.get("/articles/")) for _ in range(5)}
        assert len(chosen) == 1  # waffle's cookie keeps the choice


def test_staff_first(articles: list[Article], django_user_model) -> None:  # type: ignore[no-untyped-def]
    set_flag(staff=True, everyone=None, percent=None)
    staff = django_user_model.objects.create_user("s", password="x", is_staff=True)
    client = Client()
    client.force_login(staff)
    assert side_of(client.get("/articles/")) == "new"
    assert side_of(Client().get("/articles/")) == "old"


def test_outside_a_request_the_flags_everyone_setting_decides(articles: list[Article]) -> None:
    transition = flagschema.registry[LABEL]
    set_flag(percent=99.9, everyone=None)  # percent applies to requests only
    assert transition.read_side() == "old"
    assert Article.objects.get(pk=articles[0].pk).body == OLD
    set_flag(everyone=True)
    flags._statement.states = None
    assert transition.read_side() == "new"
    assert Article.objects.get(pk=articles[0].pk).body == NEW
    flag = Flag.objects.get(name="articles.body")
    flag.delete()
    flag.flush()  # waffle flushes on commit; tests never commit
    flags.cache.forget("articles.body")
    flags._statement.states = None
    assert transition.read_side() == "old"  # no flag at all: old


def test_flip_sets_the_flag_for_everyone_and_is_recorded(articles: list[Article]) -> None:
    set_flag(percent=50, everyone=None)
    out = StringIO()
    call_command("flagschema", "flip", LABEL, "--to", "old", "--reason", "INC-3", stdout=out)
    assert "waffle Flag 'articles.body' (Everyone off)" in out.getvalue()
    assert "Undo: resume the rollout" in out.getvalue()
    assert Flag.objects.get(name="articles.body").everyone is False
    # A rollback: every request reads old now, whatever the percentage said.
    assert {side_of(Client().get("/articles/")) for _ in range(20)} == {"old"}
    call_command(
        "flagschema", "flip", LABEL, "--to", "new", "--reason", "go", "--force", stdout=StringIO()
    )
    assert {side_of(Client().get("/articles/")) for _ in range(20)} == {"new"}
    events = list(FlipEvent.objects.filter(label=LABEL).order_by("id"))
    assert [(e.to_side, e.source) for e in events][-1] == ("new", "command")


def test_status_shows_a_rollout_in_progress() -> None:
    set_flag(percent=50, everyone=None)
    out = StringIO()
    call_command("flagschema", "status", LABEL, stdout=out, no_color=True)
    assert "reads      PER REQUEST (old outside requests)  (waffle flag 'articles.body')" in (
        out.getvalue()
    )


def test_changes_of_the_flag_made_in_waffle_are_recorded() -> None:
    set_flag(everyone=None, percent=10)
    FlipEvent.objects.all().delete()
    call_command("waffle_flag", "articles.body", "--everyone", stdout=StringIO())
    flag = Flag.objects.get(name="articles.body")
    flag.percent = 30  # not a change of side outside requests: not recorded
    flag.save()
    (event,) = FlipEvent.objects.all()
    assert (event.label, event.from_side, event.to_side, event.source) == (
        LABEL,
        "old",
        "new",
        "waffle",
    )


def test_an_unknown_flag_type_is_refused() -> None:
    from django.db import models

    with pytest.raises(flagschema.TransitionError, match="flag_type='cookie'"):
        flagschema.RenamedField(
            models.CharField(max_length=5), old_name="a", flag="x", flag_type="cookie"
        )
