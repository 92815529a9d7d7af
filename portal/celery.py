"""The Celery application; settings come from Django's CELERY_* settings."""

import os

from celery import Celery
from celery.signals import worker_ready

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

app = Celery("portal")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_ready.connect
def _recover_work_on_start(sender=None, **kwargs) -> None:
    """Re-send work left by a dead worker or a stopped broker, now and periodically."""
    from portal.work import start_recovery_thread

    start_recovery_thread()
