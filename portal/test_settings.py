"""Settings for the test suite: the real settings with a fixed key and fast hashing."""

import os

# Long enough for the production check (portal.env.secret_key_weakness), and public.
os.environ.setdefault("SECRET_KEY", "test-secret-key-not-for-production-" + "0123456789abcdef")
os.environ.setdefault("DEBUG", "0")
os.environ.setdefault("SECURE_SSL_REDIRECT", "0")

from portal.settings import *  # noqa: F403
from portal.settings import BASE_DIR

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
# Processes a test starts (workers, servers, restore) are given their own folder.
MEDIA_ROOT = os.environ.get("MEDIA_ROOT") or BASE_DIR / "var" / "test-media"
ALLOWED_HOSTS = ["*"]
SESSION_COOKIE_SECURE = False
CSRF_COOKIE_SECURE = False
# Mail stays in django.core.mail.outbox; a worker test may point its workers at an SMTP sink.
EMAIL_BACKEND = os.environ.get(
    "TEST_EMAIL_BACKEND", "django.core.mail.backends.locmem.EmailBackend"
)
REST_FRAMEWORK = {**REST_FRAMEWORK, "DEFAULT_THROTTLE_CLASSES": []}  # noqa: F405

# Tests run tasks in-process unless a test starts a real worker (see the
# celery_worker fixture in tests/conftest.py), which turns this off for itself.
CELERY_TASK_ALWAYS_EAGER = True
# Tests share no cache with each other or with other runs (see the cache fixture).
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
CACHE_REDIS_URL = ""  # /healthz reports the cache these tests use
# Tests fetch many times from one local server; the pacing test sets its own interval.
FETCH_HOST_INTERVAL_SECONDS = 0
