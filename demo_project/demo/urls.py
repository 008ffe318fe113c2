from django.contrib import admin
from django.urls import path

from shop import views

urlpatterns = [
    path("", views.shop, name="shop"),
    path("admin/", admin.site.urls),
]
