"""Public pages of the research app."""

from django.urls import path
from django.views.decorators.http import require_safe

from research import views
from research.search.views import search_page

app_name = "research"
urlpatterns: list = [
    path("search/", search_page, name="search"),
    path("documents/", views.document_list, name="document-list"),
    path("documents/feed/", require_safe(views.DocumentFeed()), name="document-feed"),
    path("documents/<int:pk>/", views.document_detail, name="document-detail"),
    path("documents/<int:pk>/file/", views.document_file, name="document-file"),
    path("documents/<int:pk>/carry/", views.annotation_carry, name="annotation-carry"),
]
