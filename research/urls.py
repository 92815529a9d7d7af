"""Public pages of the research app."""

from django.urls import path
from django.views.decorators.http import require_safe

from research import annotation_views, views
from research.search.views import search_page

app_name = "research"
urlpatterns: list = [
    path("search/", search_page, name="search"),
    path("documents/", views.document_list, name="document-list"),
    path("documents/feed/", require_safe(views.DocumentFeed()), name="document-feed"),
    path("documents/<int:pk>/", views.document_detail, name="document-detail"),
    path("documents/<int:pk>/file/", views.document_file, name="document-file"),
    path(
        "documents/<int:pk>/notes/",
        annotation_views.annotation_create,
        name="annotation-create",
    ),
    path("notes/<int:pk>/edit/", annotation_views.annotation_edit, name="annotation-edit"),
    path("notes/<int:pk>/delete/", annotation_views.annotation_delete, name="annotation-delete"),
    path("notes/<int:pk>/flag/", annotation_views.annotation_flag, name="annotation-flag"),
]
