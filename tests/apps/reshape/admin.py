from django.contrib import admin

from tests.apps.reshape.models import Person, Place


@admin.register(Person)
class PersonAdmin(admin.ModelAdmin):
    list_display = ["id", "first_name", "last_name", "email"]
    search_fields = ["first_name", "last_name"]
    ordering = ["last_name", "first_name"]
    fields = ["first_name", "last_name", "email"]


@admin.register(Place)
class PlaceAdmin(admin.ModelAdmin):
    list_display = ["id", "label", "address"]
    fields = ["label", "address"]
