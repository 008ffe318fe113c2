from django import forms

from tests.apps.rename.models import Customer


class CustomerForm(forms.ModelForm):
    class Meta:
        model = Customer
        fields = ["full_name", "email"]
