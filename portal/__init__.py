"""The portal project package.

The Celery app is loaded when Django starts (``PortalConfig.ready``) or when asked
for, never on import: pure helpers such as ``portal.units`` must import in a bare
interpreter, with no settings.
"""

__all__ = ["celery_app"]


def __getattr__(name: str):
    if name == "celery_app":
        from portal.celery import app

        return app
    raise AttributeError(f"module 'portal' has no attribute {name!r}")
