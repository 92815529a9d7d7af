from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps
from django.utils.translation import gettext_lazy as _


class PortalConfig(AppConfig):
    default = True
    name = "portal"
    verbose_name = _("Portal")

    def ready(self) -> None:
        # Bind @shared_task to the portal's Celery app before any task is sent.
        import portal.celery  # noqa: F401


class PortalAdminConfig(admin_apps.AdminConfig):
    """Django's admin, on the portal's site (permissions decide, not ``is_staff`` alone)."""

    default = False
    default_site = "portal.sites.PortalAdminSite"
