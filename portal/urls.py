from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from portal import account_views, dashboard, views
from portal.api import UsageView
from portal.context_processors import SITE_NAME
from portal.lockout import LimitedPasswordResetView

api_v1 = [
    path("me/usage/", UsageView.as_view(), name="usage"),
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
    path(
        "accounts/password_reset/",
        LimitedPasswordResetView.as_view(
            extra_context={"site_name": SITE_NAME},
            extra_email_context={"site_name": SITE_NAME},
        ),
        name="password_reset",
    ),
    path(
        "accounts/invitation/<str:token>/",
        account_views.accept_invitation,
        name="invitation-accept",
    ),
    path("accounts/request-access/", account_views.request_access, name="request-access"),
    path(
        "accounts/request-access/sent/",
        account_views.request_access_sent,
        name="request-access-sent",
    ),
    path("accounts/", include("django.contrib.auth.urls")),
    path("me/", dashboard.dashboard, name="me"),
    path("me/tokens/", dashboard.token_create_page, name="token-create"),
    path("me/tokens/<int:pk>/revoke/", dashboard.token_revoke_page, name="token-revoke"),
    path("api/v1/", views.api_root, name="api-root"),
    path("api/v1/", include(api_v1)),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # Its script is a second request (?script), not inline: the CSP allows no inline script.
    path(
        "api/docs/",
        SpectacularSwaggerSplitView.as_view(
            url_name="api-schema", template_name="portal/swagger_ui.html"
        ),
        name="api-docs",
    ),
    path("", include("agreements.urls")),
    path("", include("research.urls")),
]

handler404 = "portal.views.not_found"
