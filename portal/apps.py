from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PortalConfig(AppConfig):
    name = "portal"
    verbose_name = _("Portal")

    def ready(self) -> None:
        # Bind @shared_task to the portal's Celery app before any task is sent.
        import portal.celery  # noqa: F401
