"""Public pages of the research app."""

from django.urls import path
from django.views.decorators.http import require_safe

from research import alert_views, annotation_views, views, workspace
from research.search.views import search_page

app_name = "research"
urlpatterns: list = [
    path("search/", search_page, name="search"),
    path("documents/", views.document_list, name="document-list"),
    path("documents/feed/", require_safe(views.DocumentFeed()), name="document-feed"),
    path("documents/<int:pk>/", views.document_detail, name="document-detail"),
    path("documents/<int:pk>/file/", views.document_file, name="document-file"),
    # A researcher's alerts (the dashboard at /me/ lists them).
    path("me/watches/", alert_views.watch_list, name="watch-list"),
    path("me/watches/<int:pk>/", alert_views.watch_edit, name="watch-edit"),
    path("me/watches/<int:pk>/delete/", alert_views.watch_delete, name="watch-delete"),
    path("me/searches/", alert_views.saved_search_list, name="saved-search-list"),
    path("me/searches/<int:pk>/", alert_views.saved_search_edit, name="saved-search-edit"),
    path(
        "me/searches/<int:pk>/delete/",
        alert_views.saved_search_delete,
        name="saved-search-delete",
    ),
    path("me/webhooks/", alert_views.webhook_list, name="webhook-list"),
    path("me/webhooks/<int:pk>/enable/", alert_views.webhook_enable, name="webhook-enable"),
    path("me/webhooks/<int:pk>/delete/", alert_views.webhook_delete, name="webhook-delete"),
    path(
        "alerts/unsubscribe/<str:token>/", alert_views.alert_unsubscribe, name="alert-unsubscribe"
    ),
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
