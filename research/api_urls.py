"""Routes of the research app under /api/v1/."""

from rest_framework.routers import DefaultRouter

from research.api import DocumentViewSet

router = DefaultRouter(trailing_slash=True)
router.include_root_view = False
router.register("documents", DocumentViewSet, basename="document")

urlpatterns = [*router.urls]
