"""Public pages of the agreements app."""

from django.urls import path
from django.views.decorators.http import require_safe

from agreements import views

app_name = "agreements"
urlpatterns = [
    path("agencies/", views.agency_list, name="agency-list"),
    path("agencies/<slug:slug>/", views.agency_detail, name="agency-detail"),
    path("agreements/", views.agreement_list, name="agreement-list"),
    path("states/<str:state>/", views.state_detail, name="state-detail"),
    path("snapshots/<int:pk>/", views.snapshot_detail, name="snapshot-detail"),
    path("snapshots/<int:pk>/file/", views.snapshot_file, name="snapshot-file"),
    path("snapshots/<int:pk>/changes/", views.snapshot_changes, name="snapshot-changes"),
    path(
        "snapshots/<int:pk>/changes/feed/",
        require_safe(views.SnapshotChangesFeed()),
        name="snapshot-changes-feed",
    ),
    path(
        "snapshots/<int:pk>/changes/feed.json",
        views.snapshot_changes_json,
        name="snapshot-changes-json",
    ),
    path("statistics/", views.stats, name="stats"),
    path("changes/", views.changes, name="changes"),
    path("changes/feed/", require_safe(views.ChangesFeed()), name="changes-feed"),
    path("data/", views.data, name="data"),
    path("methodology/", views.methodology, name="methodology"),
]
