"""Public pages of the research app."""

from django.urls import path  # noqa: F401

app_name = "research"
urlpatterns: list = []
