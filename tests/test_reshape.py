"""Transition: a split (``Person.name`` -> ``first_name``/``last_name``, SQL both ways) and a
merge (``Place.street``/``city`` -> JSON ``address``, Python only), on both read sides. Raw
SQL shows what is stored after every write."""

from __future__ import annotations

import json
import pickle
import re
from typing import Any

import pytest
from django import forms
from django.core import serializers
from django.db import connection, models, transaction
from django.db.models import F, Max, Value
from django.db.models.functions import Upper
from django.test.utils import CaptureQueriesContext, isolate_apps

import flagschema
from tests.apps.reshape.models import Person, Place, Team, Visit, join_name, split_name
from tests.helpers import columns, put

pytestmark = pytest.mark.django_db


def person_row(person: Person) -> tuple[Any, ...]:
    return columns(Person, person.pk, "name", "first_name", "last_name")


def place_row(place: Place) -> tuple[Any, ...]:
    street, city, address = columns(Place, place.pk, "street", "city", "address")
    if isinstance(address, str):  # SQLite and MariaDB hand back the JSON text
        address = json.loads(address)
    return street, city, address


def app_queries(ctx: CaptureQueriesContext) -> list[str]:
    """The captured statements, without the flag backend's own (waffle reads a table)."""
    return [q["sql"] for q in ctx.captured_queries if "waffle_switch" not in q["sql"]]


# --- writes ---------------------------------------------------------------------------------


def test_split_every_write_path_stores_both_shapes(side: str) -> None:
    ada = Person.objects.create(first_name="Ada", last_name="Lovelace")
    assert person_row(ada) == ("Ada Lovelace", "Ada", "Lovelace")
    ada.last_name = "King"
    ada.save()
    assert person_row(ada) == ("Ada King", "Ada", "King")
    ada.first_name = "Augusta"
    ada.save(update_fields=["first_name"])
    assert person_row(ada) == ("Augusta King", "Augusta", "King")
    ada.name = "Ada Lovelace"  # the old name sets the old shape
    ada.save(update_fields=["name"])
    assert person_row(ada) == ("Ada Lovelace", "Ada", "Lovelace")

    grace, created = Person.objects.get_or_create(
        email="g@x", defaults={"first_name": "Grace", "last_name": "Hopper"}
    )
    assert created and person_row(grace) == ("Grace Hopper", "Grace", "Hopper")
    grace, created = Person.objects.update_or_create(
        email="g@x", defaults={"first_name": "Grace", "last_name": "Murray"}
    )
    assert not created and person_row(grace) == ("Grace Murray", "Grace", "Murray")

    made = Person.objects.bulk_create(
        [Person(first_name="Alan", last_name="Turing", email="a@x"), Person(name="Edsger")]
    )
    rows = {p.email: person_row(p) for p in Person.objects.filter(pk__in=[m.pk for m in made])}
    assert set(rows.values()) == {("Alan Turing", "Alan", "Turing"), ("Edsger", "Edsger", "")}

    people = list(Person.objects.filter(email__in=["a@x", "g@x"]).order_by("email"))
    people[0].first_name, people[1].last_name = "Alonzo", "Hopper"
    Person.objects.bulk_update(people, ["first_name", "last_name"])
    assert person_row(people[0]) == ("Alonzo Turing", "Alonzo", "Turing")
    assert person_row(people[1]) == ("Grace Hopper", "Grace", "Hopper")
    people[0].last_name = "Church"
    Person.objects.bulk_update(people[:1], ["last_name"])  # the old column follows
    assert person_row(people[0]) == ("Alonzo Church", "Alonzo", "Church")


def test_split_update_with_values_and_expressions(side: str) -> None:
    ada = Person.objects.create(first_name="Ada", last_name="Lovelace", email="a")
    bob = Person.objects.create(first_name="Bob", last_name="", email="b")
    Person.objects.filter(pk=ada.pk).update(first_name="Augusta", last_name="King")
    assert person_row(ada) == ("Augusta King", "Augusta", "King")
    Person.objects.filter(pk=ada.pk).update(name="Ada Lovelace")  # old shape, forward in Python
    assert person_row(ada) == ("Ada Lovelace", "Ada", "Lovelace")
    # Expressions go to the old column through backward_sql; they read the read side.
    with CaptureQueriesContext(connection) as ctx:
        Person.objects.update(first_name=Upper("first_name"), last_name=F("last_name"))
    assert person_row(ada) == ("ADA Lovelace", "ADA", "Lovelace")
    assert person_row(bob) == ("BOB", "BOB", "")
    sql = app_queries(ctx)[-1]
    assert "CASE" in sql.upper()  # backward_sql (and forward_sql on the old side)


def test_split_writes_through_a_related_manager(side: str) -> None:
    team = Team.objects.create(title="analysts")
    ada = team.people.create(first_name="Ada", last_name="Lovelace")
    assert person_row(ada) == ("Ada Lovelace", "Ada", "Lovelace")
    team.people.update(first_name="Augusta", last_name="King")
    assert person_row(ada) == ("Augusta King", "Augusta", "King")
    (loaded,) = team.people.all()
    loaded.last_name = "Byron"
    team.people.bulk_update([loaded], ["last_name"])
    assert person_row(ada) == ("Augusta Byron", "Augusta", "Byron")
    grace = Person.objects.create(first_name="Grace", last_name="Hopper")
    team.people.add(grace)
    assert person_row(grace) == ("Grace Hopper", "Grace", "Hopper")
    assert team.people.filter(last_name="Hopper").get() == grace


def test_split_partial_update_is_refused_and_writes_nothing(side: str) -> None:
    ada = Person.objects.create(first_name="Ada", last_name="Lovelace")
    with pytest.raises(flagschema.TransitionError, match="without last_name") as info:
        Person.objects.update(first_name="Augusta")
    assert "reshape.Person.name_split" in str(info.value)
    assert person_row(ada) == ("Ada Lovelace", "Ada", "Lovelace")


def test_merge_every_write_path_stores_both_shapes(side: str) -> None:
    home = Place.objects.create(label="home", address={"street": "1 Main St", "city": "Oslo"})
    assert place_row(home) == ("1 Main St", "Oslo", {"street": "1 Main St", "city": "Oslo"})
    home.street = "2 Main St"  # an old name sets the new shape, the other old field kept
    home.save()
    assert place_row(home) == ("2 Main St", "Oslo", {"street": "2 Main St", "city": "Oslo"})
    work = Place(label="work", street="Quay", city="Bergen")
    work.save()
    assert place_row(work) == ("Quay", "Bergen", {"street": "Quay", "city": "Bergen"})
    Place.objects.bulk_create([Place(label="x", address={"street": "S", "city": "C"})])
    assert place_row(Place.objects.get(label="x")) == ("S", "C", {"street": "S", "city": "C"})
    Place.objects.filter(label="x").update(address={"street": "T", "city": "D"})
    assert place_row(Place.objects.get(label="x")) == ("T", "D", {"street": "T", "city": "D"})
    Place.objects.filter(label="x").update(street="U", city="E")
    assert place_row(Place.objects.get(label="x")) == ("U", "E", {"street": "U", "city": "E"})
    with pytest.raises(flagschema.TransitionError, match="without city"):
        Place.objects.filter(label="x").update(street="V")
    with pytest.raises(flagschema.TransitionError, match="no backward_sql"):
        Place.objects.filter(label="x").update(address=F("address"))
    assert place_row(Place.objects.get(label="x")) == ("U", "E", {"street": "U", "city": "E"})


def test_a_raising_transform_names_the_row_and_leaves_it_unchanged(side: str) -> None:
    home = Place.objects.create(label="home", address={"street": "Main", "city": "Oslo"})
    home.address = {"street": "Elm"}  # no city: backward raises KeyError
    with pytest.raises(flagschema.TransitionError) as info, transaction.atomic():
        home.save()
    message = str(info.value)
    assert "reshape.Place.address_merge" in message
    assert "'address'" in message and f"pk={home.pk}" in message and "KeyError" in message
    assert place_row(home) == ("Main", "Oslo", {"street": "Main", "city": "Oslo"})
    with (
        pytest.raises(flagschema.TransitionError, match="nothing was written"),
        transaction.atomic(),
    ):
        Place.objects.create(label="new", address={"city": "Oslo"})
    assert not Place.objects.filter(label="new").exists()


# --- reads ----------------------------------------------------------------------------------


@pytest.fixture
def people(side: str) -> dict[str, Person]:
    out = {
        "ada": Person.objects.create(first_name="Ada", last_name="Lovelace", email="ada"),
        "bob": Person.objects.create(first_name="Bob", last_name="", email="bob"),
        "cy": Person.objects.create(first_name="Cy", last_name="Young", email="cy"),
    }
    # The old shape differs from the new one in the table, so each read shows its side.
    put(Person, out["cy"].pk, name="Cyrus Abbot Jr")
    return out


def _cy(side: str) -> tuple[str, str]:
    return ("Cy", "Young") if side == "new" else ("Cyrus", "Abbot Jr")


def test_split_reads_follow_the_flag(side: str, people: dict[str, Person]) -> None:
    cy = Person.objects.get(email="cy")
    assert (cy.first_name, cy.last_name) == _cy(side)
    assert cy.name == " ".join(_cy(side))
    first, last = _cy(side)
    assert Person.objects.filter(first_name=first).get().email == "cy"
    assert Person.objects.filter(last_name=last, first_name__startswith=first[:2]).count() == 1
    assert list(Person.objects.exclude(last_name="").values_list("email", flat=True)) == [
        "ada",
        "cy",
    ]
    assert list(Person.objects.order_by("-first_name").values_list("email", flat=True)) == [
        "cy",
        "bob",
        "ada",
    ]
    assert list(Person.objects.filter(email="cy").values("first_name", "last_name")) == [
        {"first_name": first, "last_name": last}
    ]
    assert Person.objects.values_list("last_name", flat=True).get(email="bob") == ""
    only = Person.objects.only("first_name").get(email="cy")
    assert only.first_name == first
    deferred = Person.objects.defer("last_name").get(email="cy")
    assert deferred.last_name == last
    assert Person.objects.in_bulk([cy.pk])[cy.pk].first_name == first
    assert [p.first_name for p in Person.objects.iterator()] == ["Ada", "Bob", first]
    expected_max = "Young" if side == "new" else "Lovelace"
    assert Person.objects.aggregate(m=Max("last_name"))["m"] == expected_max
    upper = Person.objects.annotate(u=Upper("first_name")).get(email="cy").u
    assert upper == first.upper()
    ada = people["ada"]
    ada.first_name = "changed"
    ada.refresh_from_db()
    assert ada.first_name == "Ada"


def test_split_filter_on_the_old_side_uses_forward_sql(people: dict[str, Person]) -> None:
    with (
        flagschema.reading("reshape.Person.name_split", "old"),
        CaptureQueriesContext(connection) as ctx,
    ):
        found = list(Person.objects.filter(first_name="Cyrus").values_list("email", flat=True))
    assert found == ["cy"]
    sql = app_queries(ctx)[-1]
    where = sql[sql.upper().index("WHERE") :]
    assert "name" in where and "first_name" not in where
    assert "CASE" in where.upper()
    with (
        flagschema.reading("reshape.Person.name_split", "new"),
        CaptureQueriesContext(connection) as ctx,
    ):
        assert list(Person.objects.filter(first_name="Cyrus")) == []
    sql = app_queries(ctx)[-1]
    assert "first_name" in sql[sql.upper().index("WHERE") :]


def test_a_long_value_computed_by_forward_sql_is_not_cut() -> None:
    """forward_sql's value is cast to text, not to varchar(100), which would cut it silently
    where forward() in Python gives it whole."""
    person = Person.objects.create(first_name="Ada", last_name="Lovelace")
    put(Person, person.pk, name="A" * 150)  # one word of 150 characters: all first name
    with flagschema.reading("reshape.Person.name_split", "old"):
        assert Person.objects.get(pk=person.pk).first_name == "A" * 150
        assert Person.objects.filter(first_name="A" * 150).count() == 1
        assert Person.objects.filter(first_name="A" * 100).count() == 0


def test_split_reads_across_relations(side: str, people: dict[str, Person]) -> None:
    place = Place.objects.create(label="home", address={"street": "Main", "city": "Oslo"})
    Visit.objects.create(person=people["cy"], place=place, note="v1")
    first, last = _cy(side)
    with CaptureQueriesContext(connection) as ctx:
        visit = Visit.objects.select_related("person", "place").get(note="v1")
        assert (visit.person.first_name, visit.person.last_name) == (first, last)
        assert visit.place.address == {"street": "Main", "city": "Oslo"}
    assert len(app_queries(ctx)) == 1
    visit = Visit.objects.prefetch_related("person").get(note="v1")
    assert visit.person.first_name == first
    assert Visit.objects.filter(person__first_name=first).count() == 1
    assert list(Visit.objects.values_list("person__last_name", flat=True)) == [last]
    person = Person.objects.prefetch_related("visits").get(email="cy")
    assert [v.note for v in person.visits.all()] == ["v1"]


def test_merge_reads_follow_the_flag_in_one_query(side: str) -> None:
    home = Place.objects.create(label="home", address={"street": "Main", "city": "Oslo"})
    put(Place, home.pk, street="Elm", city="Bergen")
    expected = (
        {"street": "Main", "city": "Oslo"}
        if side == "new"
        else {"street": "Elm", "city": "Bergen"}
    )
    with CaptureQueriesContext(connection) as ctx:
        place = Place.objects.get(pk=home.pk)
        assert place.address == expected
        assert (place.street, place.city) == (expected["street"], expected["city"])
    assert len(app_queries(ctx)) == 1
    only = Place.objects.only("address").get(pk=home.pk)
    assert only.address == expected
    deferred = Place.objects.defer("address").get(pk=home.pk)
    assert deferred.address == expected  # loaded on first access
    label_only = Place.objects.only("label").get(pk=home.pk)
    assert (label_only.address, label_only.city) == (expected, expected["city"])
    assert pickle.loads(pickle.dumps(Place.objects.get(pk=home.pk))).address == expected
    place.label = "renamed"
    place.save()  # the loaded value is written back to both shapes
    assert place_row(place) == (expected["street"], expected["city"], expected)


def test_merge_without_forward_sql_refuses_sql_on_the_old_side() -> None:
    Place.objects.create(label="home", address={"street": "Main", "city": "Oslo"})
    with flagschema.reading("reshape.Place.address_merge", "old"):
        with pytest.raises(flagschema.TransitionError, match="forward_sql"):
            list(Place.objects.values("address"))
        with pytest.raises(flagschema.TransitionError, match="forward_sql"):
            list(Place.objects.values_list("label", "address"))
        with pytest.raises(flagschema.TransitionError, match="forward_sql"):
            list(Place.objects.annotate(a=F("address")))
        with pytest.raises(flagschema.TransitionError, match="forward_sql"):
            Place.objects.filter(address__isnull=True).count()
        with pytest.raises(flagschema.TransitionError, match="forward_sql"):
            list(Place.objects.order_by("address"))
        # Model instances compute it, and filters on the old fields run.
        assert Place.objects.get(street="Main").address == {"street": "Main", "city": "Oslo"}
    with flagschema.reading("reshape.Place.address_merge", "new"):
        assert list(Place.objects.values_list("address", flat=True)) == [
            {"street": "Main", "city": "Oslo"}
        ]
        assert Place.objects.filter(address__isnull=False).count() == 1


# --- forms, admin, serializers ----------------------------------------------------------------


class PersonForm(forms.ModelForm):
    class Meta:
        model = Person
        fields = ["first_name", "last_name", "email"]


def test_model_form(side: str, people: dict[str, Person]) -> None:
    first, last = _cy(side)
    form = PersonForm(instance=Person.objects.get(email="cy"))
    assert (form.initial["first_name"], form.initial["last_name"]) == (first, last)
    assert "name" not in form.fields
    form = PersonForm(
        {"first_name": "Cyd", "last_name": "Charisse", "email": "cy"},
        instance=Person.objects.get(email="cy"),
    )
    assert form.is_valid(), form.errors
    saved = form.save()
    assert person_row(saved) == ("Cyd Charisse", "Cyd", "Charisse")
    form = PersonForm({"first_name": "Dee", "last_name": "", "email": "dee"})
    assert form.is_valid(), form.errors
    assert person_row(form.save()) == ("Dee", "Dee", "")


@pytest.fixture
def admin_client(client, django_user_model):
    user = django_user_model.objects.create_superuser("admin", "admin@example.com", "pw")
    client.force_login(user)
    return client


def test_admin(side: str, people: dict[str, Person], admin_client) -> None:
    first, _ = _cy(side)
    response = admin_client.get("/admin/reshape/person/", {"q": first})
    assert response.status_code == 200
    assert response.context["cl"].result_count == 1
    assert f">{first}<" in response.content.decode()
    response = admin_client.get("/admin/reshape/person/")
    names = [p.email for p in response.context["cl"].result_list]
    assert names == (["bob", "ada", "cy"] if side == "new" else ["bob", "cy", "ada"])
    cy = people["cy"]
    response = admin_client.post(
        f"/admin/reshape/person/{cy.pk}/change/",
        {"first_name": "Cyd", "last_name": "Charisse", "email": "cy"},
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    assert person_row(cy) == ("Cyd Charisse", "Cyd", "Charisse")
    response = admin_client.post(
        "/admin/reshape/place/add/",
        {"label": "home", "address": json.dumps({"street": "Main", "city": "Oslo"})},
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    home = Place.objects.get(label="home")
    assert place_row(home) == ("Main", "Oslo", {"street": "Main", "city": "Oslo"})
    response = admin_client.get("/admin/reshape/place/")
    assert "Oslo" in response.content.decode()


def test_serializers_round_trip(side: str, people: dict[str, Person]) -> None:
    first, last = _cy(side)
    data = serializers.serialize("json", Person.objects.filter(email="cy"))
    fields = json.loads(data)[0]["fields"]
    assert fields == {"email": "cy", "team": None, "first_name": first, "last_name": last}
    Person.objects.all().delete()
    for obj in serializers.deserialize("json", data):
        obj.save()
    (cy,) = Person.objects.all()
    assert person_row(cy) == (f"{first} {last}", first, last)


def test_old_shape_expressions_in_update_use_forward_sql(side: str) -> None:
    ada = Person.objects.create(first_name="Ada", last_name="Lovelace")
    Person.objects.update(name=Value("Grace Brewster Hopper"))
    assert person_row(ada) == ("Grace Brewster Hopper", "Grace", "Brewster Hopper")


def test_update_with_a_raising_transform_names_the_transition_and_writes_nothing() -> None:
    home = Place.objects.create(label="home", address={"street": "Main", "city": "Oslo"})
    with pytest.raises(flagschema.TransitionError, match="nothing was updated") as info:
        Place.objects.filter(pk=home.pk).update(address={"street": "Elm"})
    assert "reshape.Place.address_merge" in str(info.value) and "KeyError" in str(info.value)
    assert place_row(home) == ("Main", "Oslo", {"street": "Main", "city": "Oslo"})


# --- the declaration --------------------------------------------------------------------------

GOOD: dict[str, Any] = {
    "old": {"name": models.CharField(max_length=10)},
    "new": {"a": models.CharField(max_length=5), "b": models.CharField(max_length=5)},
    "forward": split_name,
    "backward": join_name,
    "flag": "x.y",
}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"old": {}}, "takes a dict of field name -> field"),
        ({"old": ["name"]}, "takes a dict of field name -> field"),
        ({"new": {"a b": models.CharField()}}, "'a b' is not a field name"),
        ({"new": {"a__b": models.CharField()}}, "'a__b' is not a field name"),
        ({"new": {"a": "CharField"}}, "must be a plain (non-relational) model field"),
        ({"new": {"a": models.ForeignKey("auth.User", models.CASCADE)}}, "non-relational"),
        ({"new": {"name": models.CharField()}}, "'name' is both an old and a new field"),
        ({"new": {"a": models.CharField()}}, "is a RenamedField (same type) or a ConvertedField"),
        ({"forward": None}, "needs forward="),
        ({"backward": "join"}, "needs forward="),
        ({"flag": ""}, "needs flag="),
        ({"forward_sql": {"c": F("name")}}, "names 'c', which is not one of a, b"),
        ({"forward_sql": {"a": "name"}}, "must be a Django expression"),
        ({"backward_sql": F("a")}, "takes a dict of field name -> Django expression"),
    ],
)
def test_a_bad_declaration_is_a_clear_error(change: dict[str, Any], message: str) -> None:
    with pytest.raises(flagschema.TransitionError, match=re.escape(message)):
        flagschema.Transition(**{**GOOD, **change})


@isolate_apps("tests.apps.reshape")
def test_a_transition_on_an_abstract_model_is_refused() -> None:
    with pytest.raises(flagschema.TransitionError, match="must be declared on a concrete model"):

        class Base(models.Model):
            split = flagschema.Transition(**GOOD)

            class Meta:
                abstract = True
                app_label = "reshape"


def test_forward_must_return_one_value_per_new_field() -> None:
    transition = flagschema.Transition(**{**GOOD, "forward": lambda name: name})
    with pytest.raises(flagschema.TransitionError, match="it must return 2 values"):
        transition.to_new(("Ada Lovelace",))
