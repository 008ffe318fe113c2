from django.contrib import admin

from shop.models import Customer, Order, Product


# Search, filters and ordering on the new fields follow each switch: while it is off they run
# on the old columns (the split and the price through their forward_sql).
@admin.register(Customer)
class CustomerAdmin(admin.ModelAdmin):
    list_display = ["id", "first_name", "last_name", "email"]
    search_fields = ["first_name", "last_name", "email"]
    ordering = ["last_name", "first_name"]


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    list_display = ["sku", "title", "price"]
    search_fields = ["sku", "title"]
    ordering = ["price"]


@admin.register(Order)
class OrderAdmin(admin.ModelAdmin):
    list_display = ["reference", "customer", "product", "quantity"]
    list_select_related = ["customer", "product"]
    search_fields = ["customer__last_name", "product__sku"]
    ordering = ["reference"]
