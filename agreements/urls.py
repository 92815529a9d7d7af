"""Public pages of the agreements app."""

from django.urls import path  # noqa: F401

app_name = "agreements"
urlpatterns: list = []
