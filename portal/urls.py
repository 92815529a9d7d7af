from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from portal import views
from portal.context_processors import SITE_NAME

api_v1 = [
    path("", include("agreements.api_urls")),
    path("", include("research.api_urls")),
]

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("admin/", admin.site.urls),
    # Django's auth views put the request's host in ``site_name``; keep the portal's name.
    path(
        "accounts/login/",
        auth_views.LoginView.as_view(extra_context={"site_name": SITE_NAME}),
        name="login",
    ),
    path(
        "accounts/logout/",
        auth_views.LogoutView.as_view(extra_context={"site_name": SITE_NAME}),
        name="logout",
    ),
    path("accounts/", include("django.contrib.auth.urls")),
    path("api/v1/", views.api_root, name="api-root"),
    path("api/v1/", include(api_v1)),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("", include("agreements.urls")),
    path("", include("research.urls")),
]

admin.site.site_header = "287(g) portal curation"
admin.site.site_title = "287(g) portal"

handler404 = "portal.views.not_found"
