"""Routes of the agreements app under /api/v1/."""

from django.urls import path
from rest_framework.routers import DefaultRouter

from agreements import api

router = DefaultRouter(trailing_slash=True)
router.include_root_view = False
router.register("agencies", api.AgencyViewSet, basename="agency")
router.register("agreements", api.AgreementViewSet, basename="agreement")
router.register("events", api.AgreementEventViewSet, basename="event")
router.register("snapshots", api.SnapshotViewSet, basename="snapshot")

urlpatterns = [
    path("stats/", api.StatsView.as_view(), name="stats"),
    *router.urls,
]
