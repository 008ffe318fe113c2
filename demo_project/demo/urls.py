from django.contrib import admin
from django.urls import path
from django.views.generic import RedirectView

from shop import views

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="customer-list")),
    path("customers/", views.customer_list, name="customer-list"),
    path("admin/", admin.site.urls),
]
