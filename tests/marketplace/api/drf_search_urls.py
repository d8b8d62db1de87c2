"""The creator search served by its DRF view alone (no lean path): what tests/marketplace/api/test_lean_search.py
compares the lean path's answers with, through the same middleware."""

from django.urls import path

from partnerships.marketplace.api import views

urlpatterns = [path("api/v1/creators/", views.CreatorSearchView.as_view(), name="creator-search")]
