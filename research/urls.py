"""Public pages of the research app."""

from django.urls import path
from django.views.decorators.http import require_safe

from research import alert_views, views
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
]
