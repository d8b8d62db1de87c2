"""/admin/two-factor/…: included by config.urls before the admin site's own URLs."""

from django.contrib import admin
from django.urls import path

from core.two_factor import views

urlpatterns = [
    path("", admin.site.admin_view(views.enrol_view), name="two-factor"),
    path("verify/", admin.site.admin_view(views.verify_view), name="two-factor-verify"),
]
