from django.contrib import admin

from tests.apps.rename.models import Customer


@admin.register(Customer)
class CustomerAdmin(admin.ModelAdmin):
    list_display = ["id", "full_name", "email"]
    search_fields = ["full_name"]
    list_filter = ["full_name"]
    ordering = ["full_name"]
