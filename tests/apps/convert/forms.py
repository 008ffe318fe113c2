from django import forms

from tests.apps.convert.models import Product


class ProductForm(forms.ModelForm):
    class Meta:
        model = Product
        fields = ["sku", "price", "stock"]
