"""Routes of the research app under /api/v1/."""

from django.urls import path
from rest_framework.routers import DefaultRouter

from research.api import AnnotationViewSet, DocumentViewSet
from research.search.api import SearchAPIView

router = DefaultRouter(trailing_slash=True)
router.include_root_view = False
router.register("documents", DocumentViewSet, basename="document")
router.register("annotations", AnnotationViewSet, basename="annotation")

urlpatterns = [
    path("search/", SearchAPIView.as_view(), name="search"),
    *router.urls,
]
