from decimal import Decimal

from django.contrib import admin

from tests.apps.convert.models import LineItem, Product


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    list_display = ["id", "sku", "price", "stock"]
    search_fields = ["sku"]
    list_filter = ["price"]
    ordering = ["price"]


@admin.register(LineItem)
class LineItemAdmin(admin.ModelAdmin):
    list_display = ["id", "product", "product_price", "quantity"]
    list_select_related = ["product"]
    search_fields = ["product__sku"]
    list_filter = ["product__price"]
    ordering = ["product__price", "id"]

    @admin.display(ordering="product__price", description="price")
    def product_price(self, item: LineItem) -> Decimal:
        return item.product.price
