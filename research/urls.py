"""Public pages of the research app."""

from django.urls import path
from django.views.decorators.http import require_safe

from research import annotation_views, views, workspace
from research.search.views import search_page

app_name = "research"
urlpatterns: list = [
    path("search/", search_page, name="search"),
    path("documents/", views.document_list, name="document-list"),
    path("documents/feed/", require_safe(views.DocumentFeed()), name="document-feed"),
    path("documents/<int:pk>/", views.document_detail, name="document-detail"),
    path("documents/<int:pk>/file/", views.document_file, name="document-file"),
    # A researcher's own pages (the dashboard itself is portal's /me/).
    path("me/collections/", workspace.collection_list, name="collection-list"),
    path("me/collections/add/", workspace.collection_add, name="collection-add"),
    path("me/collections/<int:pk>/", workspace.collection_manage, name="collection-manage"),
    path(
        "me/collections/<int:pk>/delete/",
        workspace.collection_delete_page,
        name="collection-delete",
    ),
    path(
        "me/collections/<int:pk>/items/<int:item_pk>/",
        workspace.collection_item,
        name="collection-item",
    ),
    path("me/submit/", workspace.submit_page, name="submit"),
    path("collections/<uuid:key>/", workspace.collection_detail, name="collection-detail"),
    path("documents/<int:pk>/carry/", views.annotation_carry, name="annotation-carry"),
    path(
        "documents/<int:pk>/notes/",
        annotation_views.annotation_create,
        name="annotation-create",
    ),
    path("notes/<int:pk>/edit/", annotation_views.annotation_edit, name="annotation-edit"),
    path("notes/<int:pk>/delete/", annotation_views.annotation_delete, name="annotation-delete"),
    path("notes/<int:pk>/flag/", annotation_views.annotation_flag, name="annotation-flag"),
]
