from django.contrib import admin

from shop.models import Customer, Order


@admin.register(Customer)
class CustomerAdmin(admin.ModelAdmin):
    # All of these follow the read side: the admin searches, filters and sorts the column the
    # switch names.
    list_display = ["id", "full_name", "email"]
    search_fields = ["full_name", "email"]
    list_filter = ["full_name"]
    ordering = ["full_name"]


@admin.register(Order)
class OrderAdmin(admin.ModelAdmin):
    list_display = ["number", "customer"]
    list_select_related = ["customer"]
    search_fields = ["customer__full_name"]
