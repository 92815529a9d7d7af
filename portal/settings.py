"""Settings for the 287(g) research portal, read from the environment.

See the table in README.md. Unset, everything falls back to the embedded
default: a SQLite file under ``var/`` and Celery tasks run in-process.
"""

import sys
from datetime import timedelta
from pathlib import Path

from celery.schedules import crontab

from portal.env import (
    ConfigError,
    cache_redis_url,
    database_config,
    env_bool,
    env_float,
    env_int,
    env_list,
    env_str,
    keyless_command,
    redis_url,
    secret_key_weakness,
)

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("VAR_DIR") or BASE_DIR / "var")

DEBUG = env_bool("DEBUG", default=False)
SECRET_KEY = env_str("SECRET_KEY")
if not SECRET_KEY:
    if DEBUG:
        SECRET_KEY = "insecure-development-key-do-not-use-in-production"  # noqa: S105
    elif not keyless_command(sys.argv):  # left empty: Django refuses any use of it
        raise ConfigError(
            "SECRET_KEY is not set: set it to a long random string, or set DEBUG=1 for development."
        )
# A short or repetitive key can be guessed, and with it sessions and reset links forged.
elif not DEBUG and not keyless_command(sys.argv) and (weakness := secret_key_weakness(SECRET_KEY)):
    raise ConfigError(weakness)

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])
SITE_URL = env_str("SITE_URL", "http://127.0.0.1:8000").rstrip("/")

INSTALLED_APPS = [
    # First, so the portal's registration/ templates (password change and reset)
    # are found before the admin's own of the same names.
    "portal",
    "portal.apps.PortalAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "csp",
    "simple_history",
    "axes",
    "agreements",
    "research",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",  # CONTENT_SECURITY_POLICY, below
    "portal.middleware.DatabaseUnavailableMiddleware",
    # Static files come precompressed from WhiteNoise, above; pages and API
    # responses are compressed here (HTML shrinks about sixfold for little CPU).
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.middleware.gzip.GZipMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
    # Turns a login refused for too many failures into the lockout page (429).
    "axes.middleware.AxesMiddleware",
    # Tells API clients what is left of their allowance (portal.throttling).
    "portal.throttling.RateLimitHeadersMiddleware",
]

ROOT_URLCONF = "portal.urls"
WSGI_APPLICATION = "portal.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "portal.context_processors.site",
            ],
        },
    },
]

# The web server (portal/wsgi.py) sets a statement timeout; workers and commands
# run long imports and have none unless DATABASE_STATEMENT_TIMEOUT says so.
DATABASES = {
    "default": database_config(
        env_str("DATABASE_URL"),
        VAR_DIR / "portal.sqlite3",
        connect_timeout=env_int("DATABASE_CONNECT_TIMEOUT", 5),
        statement_timeout=env_int("DATABASE_STATEMENT_TIMEOUT", 0),
        prepare_threshold=env_int("DATABASE_PREPARE_THRESHOLD", 5),
    )
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "home"

# Brute-force limits. django-axes counts failed logins (login page, admin, API Basic
# auth) in the database, so a lockout holds across processes and Redis outages.
AUTHENTICATION_BACKENDS = [
    "portal.lockout.LockoutBackend",
    "portal.auth.PermissionsBackend",
]
AXES_CLIENT_IP_CALLABLE = "portal.throttling.client_address"
# Per account and, separately, per client address: guessing one password from many
# addresses, or many accounts' passwords from one address, both stop.
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 10)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("LOGIN_LOCKOUT_MINUTES", 15))
# Failures expire with the cool-off, never on a success: a success would clear every
# failure of its address too, so a guesser logging into their own account could go on.
AXES_RESET_ON_SUCCESS = False
AXES_LOCKOUT_CALLABLE = "portal.lockout.lockout_response"
# Lockouts are logged as warnings; the start-up banner would break one-sentence errors.
AXES_VERBOSE = False

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = Path(env_str("STATIC_ROOT") or VAR_DIR / "static")
MEDIA_URL = "/media/"
MEDIA_ROOT = Path(env_str("MEDIA_ROOT") or VAR_DIR / "media")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}
WHITENOISE_USE_FINDERS = DEBUG
WHITENOISE_AUTOREFRESH = DEBUG
# Uploads above this size are streamed to disk instead of memory.
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024

EMAIL_BACKEND = env_str(
    "EMAIL_BACKEND",
    "django.core.mail.backends.console.EmailBackend"
    if DEBUG
    else "django.core.mail.backends.smtp.EmailBackend",
)
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", default=False)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "287g portal <noreply@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
# How long a researcher's invitation link stays valid (portal.accounts).
INVITATION_EXPIRY_DAYS = env_int("INVITATION_EXPIRY_DAYS", 7)

# --- Proxies (issue 15: headers a client cannot spoof) ---------------------------
# How many reverse proxies stand before gunicorn. With none (the default) the
# client is the socket's address and X-Forwarded-For/-Proto are ignored; with N,
# the client is the N-th address from the right of X-Forwarded-For
# (portal.throttling.client_address) and X-Forwarded-Proto says if it came by HTTPS.
NUM_PROXIES = env_int("NUM_PROXIES", 0)
if NUM_PROXIES < 0:
    raise ConfigError(
        f"NUM_PROXIES must be 0 or more (proxies before the portal), not {NUM_PROXIES}."
    )
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if NUM_PROXIES else None
# --- end of proxies -----------------------------------------------------------------

# --- Content-Security-Policy (issue 15) --------------------------------------------
# Everything from the portal itself and no inline script: its scripts are static
# files (the API docs' too), so an injected <script> or handler cannot run. Style
# attributes (the admin's, the browsable API's) may stay: with every source 'self',
# a style cannot reach another site.
_CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "style-src-attr": ["'unsafe-inline'"],
        # Swagger UI's icons are data: URIs in its stylesheet.
        "img-src": ["'self'", "data:"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}
# Django's debug pages are inline: in development the browser only reports what it refuses.
CONTENT_SECURITY_POLICY = None if DEBUG else _CONTENT_SECURITY_POLICY
CONTENT_SECURITY_POLICY_REPORT_ONLY = _CONTENT_SECURITY_POLICY if DEBUG else None
# --- end of Content-Security-Policy ---------------------------------------------------

# Security: strict in production, relaxed for local development.
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", default=not DEBUG)
SESSION_COOKIE_SECURE = not DEBUG
CSRF_COOKIE_SECURE = not DEBUG
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = not DEBUG
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]

REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "portal.api_schema.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticatedOrReadOnly"],
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "portal.lockout.LockoutBasicAuthentication",
        # API tokens made on the dashboard (portal.tokens); last, so that the
        # anonymous are still told 403 by the session's class, as before.
        "portal.tokens.TokenAuthentication",
    ],
    # The house throttles: clients identified by portal.throttling.client_address.
    "DEFAULT_THROTTLE_CLASSES": [
        "portal.throttling.AnonRateThrottle",
        "portal.throttling.UserRateThrottle",
        "portal.throttling.TokenRateThrottle",
    ],
    "NUM_PROXIES": NUM_PROXIES,
    "DEFAULT_THROTTLE_RATES": {
        "anon": "120/min",
        "user": "600/min",
        # Each API token, within its owner's "user" allowance.
        "token": "300/min",
        # Password-reset e-mails, per client address and per e-mail address (portal.lockout).
        "password_reset_address": "5/hour",
        "password_reset_email": "3/hour",
        # The public request-access form, per client address (portal.account_views).
        "access_request_address": "5/hour",
    },
}
SPECTACULAR_SETTINGS = {
    "TITLE": "287(g) research portal API",
    "DESCRIPTION": "ICE's 287(g) lists, agreements, their history and the documents about them.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI and Redoc are served by the portal itself, never from a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Several models have a "kind" or "status"; name each choice set after its model.
    "ENUM_NAME_OVERRIDES": {
        "AgencyKindEnum": "agreements.models.AgencyKind",
        "SnapshotKindEnum": "agreements.models.ListSnapshot.Kind",
        "AgreementEventKindEnum": "agreements.models.AgreementEvent.Kind",
        "AgreementStatusEnum": "agreements.models.Agreement.Status",
        "DocumentKindEnum": "research.models.Document.Kind",
        "DocumentStatusEnum": "research.models.Document.Status",
        "AnnotationMotivationEnum": "research.models.Annotation.Motivation",
        "AnnotationVisibilityEnum": "research.models.Annotation.Visibility",
    },
}

REDIS_URL = redis_url(env_str("REDIS_URL"))

# --- Cache (issue 15: degrade, never fail, without Redis) ------------------------
# One cache for all processes when Redis is there (page sections, figures, API
# throttles), in its own Redis database apart from the broker's (production: its
# own Redis server with maxmemory and allkeys-lru, see docker/compose.yaml). When
# it does not answer, pages are drawn from the database and throttles let requests
# through (portal/cache.py); /healthz reports it.
CACHE_REDIS_URL = cache_redis_url(env_str("CACHE_REDIS_URL"), REDIS_URL)
CACHES = {
    "default": (
        {
            "BACKEND": "portal.cache.FailSoftRedisCache",
            "LOCATION": CACHE_REDIS_URL,
            "KEY_PREFIX": "portal",
            "TIMEOUT": 300,
            # A cache that does not answer must not hold a page up for long.
            "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 1},
        }
        if CACHE_REDIS_URL
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    )
}
# --- end of cache -------------------------------------------------------------------
# A signed-in request reads its session from the cache, not a table (written to both;
# the database answers when the cache does not).
SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"

# Celery: with no REDIS_URL, tasks run in-process (the embedded default).
CELERY_BROKER_URL = REDIS_URL or "memory://localhost/"
CELERY_RESULT_BACKEND = REDIS_URL or None
CELERY_TASK_ALWAYS_EAGER = not REDIS_URL
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = 15 * 60
CELERY_TASK_SOFT_TIME_LIMIT = 14 * 60
CELERY_RESULT_EXPIRES = 24 * 3600
CELERY_TIMEZONE = TIME_ZONE
# Publishing must not hang a web request when Redis is down: the database
# already holds the pending work and the periodic sweep re-sends it.
CELERY_BROKER_CONNECTION_TIMEOUT = 3
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_PUBLISH_RETRY = True
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.5}
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600, "socket_connect_timeout": 3}
# Later issues add their periodic tasks here.
CELERY_BEAT_SCHEDULE: dict = {
    "portal-heartbeat": {
        "task": "portal.tasks.heartbeat_task",
        "schedule": crontab(minute="*/15"),
    },
    # Workers do this on start and every few seconds; beat is the backstop.
    "portal-recover-work": {
        "task": "portal.tasks.work_recover_task",
        "schedule": crontab(minute="*/2"),
    },
    # The database holds the document queue: re-send what a lost message left behind.
    "research-requeue-stale-documents": {
        "task": "research.tasks.documents_requeue_stale_task",
        "schedule": crontab(minute="*/5"),
    },
    # A write leaves the common words' shared postings stale (research/search/ranking.py).
    "research-refresh-search-postings": {
        "task": "research.tasks.search_postings_refresh_task",
        "schedule": crontab(minute="*/5"),
    },
    # Curators' RSS/Atom feeds (conditional requests: an unchanged feed costs a 304).
    "research-poll-feeds": {
        "task": "research.tasks.feeds_poll_task",
        "schedule": crontab(minute="*/30"),
    },
    # Each agreement's MOA and addendum link, fetched once.
    "research-submit-moas": {
        "task": "research.tasks.agreement_moas_submit_task",
        "schedule": crontab(minute=45),
    },
    # ICE often posts new lists in the morning and the evening (US Eastern).
    "agreements-fetch-ice-lists": {
        "task": "agreements.tasks.fetch_ice_lists_task",
        "schedule": crontab(minute=20, hour="13,23"),
    },
    # Researchers' alert digests: daily in the morning, weekly on Mondays (US Eastern).
    "research-alert-digests-daily": {
        "task": "research.tasks.alert_digests_task",
        "schedule": crontab(minute=0, hour=11),
        "args": ("daily",),
    },
    "research-alert-digests-weekly": {
        "task": "research.tasks.alert_digests_task",
        "schedule": crontab(minute=30, hour=11, day_of_week=1),
        "args": ("weekly",),
    },
    # Webhook calls that failed wait for their next try here (backoff in WebhookCall),
    # and e-mails a dead worker left unsent are sent.
    "research-send-pending-alerts": {
        "task": "research.tasks.alerts_send_pending_task",
        "schedule": crontab(minute="*"),
    },
}

# Outbound HTTP (ICE lists, documents, feeds) goes through one safe client.
FETCH_USER_AGENT = env_str(
    "FETCH_USER_AGENT", "287g-research-portal/0.1 (+https://github.com/; civic research)"
)
FETCH_TIMEOUT_SECONDS = env_int("FETCH_TIMEOUT_SECONDS", 30)
FETCH_MAX_BYTES = env_int("FETCH_MAX_BYTES", 50 * 1024 * 1024)
# Scanned PDFs are read by Tesseract when installed; off, they are kept marked "needs OCR"
# for a curator's "Re-extract" (make run loads the bundled scans this way, in seconds).
OCR_ENABLED = env_bool("OCR_ENABLED", True)
# Minimum seconds between two requests to the same host (per worker process).
FETCH_HOST_INTERVAL_SECONDS = env_float("FETCH_HOST_INTERVAL_SECONDS", 1.0)
# Only tests turn this on, to fetch from their own local HTTP server.
FETCH_ALLOW_LOOPBACK = env_bool("FETCH_ALLOW_LOOPBACK", default=False)

# Alerts: per role group, how many alerts may be sent as it happens and how many
# webhooks a researcher may keep; a user in several groups gets the largest.
ALERT_QUOTAS = {
    "Researchers": {"realtime": env_int("ALERT_REALTIME_RESEARCHER", 10), "webhooks": 2},
    "Curators": {"realtime": 25, "webhooks": 5},
    "Administrators": {"realtime": 100, "webhooks": 10},
}
# A saved search with more new matches than this in a day is paused, not sent.
ALERT_MAX_DAILY_MATCHES = env_int("ALERT_MAX_DAILY_MATCHES", 200)
# A webhook failing this many times in a row is disabled with a note.
WEBHOOK_MAX_FAILURES = env_int("WEBHOOK_MAX_FAILURES", 5)
# Each webhook call waits at most this long for an answer (a hanging endpoint).
WEBHOOK_TIMEOUT_SECONDS = env_int("WEBHOOK_TIMEOUT_SECONDS", 10)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
