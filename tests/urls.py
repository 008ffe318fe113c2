from django.contrib import admin
from django.urls import path

from tests.apps.rename import views

urlpatterns = [
    path("admin/", admin.site.urls),
    path("customers/", views.customer_names, name="customer-names"),
]
