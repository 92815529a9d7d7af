"""Read the portal's configuration from the environment.

Every problem is reported as a :class:`ConfigError` whose message is one sentence
naming the variable, so ``manage.py`` and the WSGI entry point can print it
instead of a traceback.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit

import dj_database_url

TRUE_WORDS = {"1", "true", "yes", "on"}
FALSE_WORDS = {"0", "false", "no", "off", ""}


class ConfigError(Exception):
    """A setting in the environment is missing or malformed."""


# Management commands that only read the code and the migrations: they sign and
# serve nothing, so they run without a SECRET_KEY (``makemigrations --check`` on
# a fresh clone with no settings at all), with no key rather than a known one.
KEYLESS_COMMANDS = frozenset({"makemigrations", "showmigrations", "sqlmigrate", "help", "version"})


def keyless_command(argv: list[str]) -> bool:
    """Whether ``argv`` runs one of :data:`KEYLESS_COMMANDS` or only asks a command's ``--help``."""
    return len(argv) > 1 and (argv[1] in KEYLESS_COMMANDS or bool({"-h", "--help"} & set(argv)))


# The bar of Django's ``check --deploy`` (security.W009), enforced at start-up in production.
SECRET_KEY_MIN_LENGTH = 50
SECRET_KEY_MIN_UNIQUE_CHARACTERS = 5


def secret_key_weakness(key: str) -> str | None:
    """Why ``key`` is too weak to sign production sessions and tokens, or None if it is not."""
    if len(key) >= SECRET_KEY_MIN_LENGTH and len(set(key)) >= SECRET_KEY_MIN_UNIQUE_CHARACTERS:
        return None
    return (
        f"SECRET_KEY is too weak ({len(key)} characters, {len(set(key))} different): set it to "
        f"at least {SECRET_KEY_MIN_LENGTH} random characters, e.g. the output of "
        "`openssl rand -hex 32`, or set DEBUG=1 for development."
    )


def load_env_file(path: Path) -> None:
    """Set the ``NAME=value`` lines of ``path`` that the environment does not set already.

    ``make run`` writes ``.env`` (``DEBUG=1``) so that the README's commands work in a
    new shell of a development checkout; only ``manage.py`` reads it, never the WSGI
    server, which still refuses to start without a real ``SECRET_KEY``.
    """
    if not path.is_file():
        return
    for line in path.read_text(encoding="utf-8").splitlines():
        name, sep, value = line.strip().partition("=")
        if sep and name and not name.startswith("#"):
            os.environ.setdefault(name.strip(), value.strip())


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default).strip()


def env_bool(name: str, default: bool = False) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in TRUE_WORDS:
        return True
    if value in FALSE_WORDS:
        return False
    raise ConfigError(f"{name} must be true or false (1/0, yes/no, on/off), not {raw!r}.")


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or not raw.strip():
        return default
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, not {raw!r}.") from None


def env_float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or not raw.strip():
        return default
    try:
        return float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number, not {raw!r}.") from None


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None:
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


def database_config(
    url: str,
    sqlite_path: Path,
    *,
    connect_timeout: int = 5,
    statement_timeout: int = 0,
    prepare_threshold: int = 5,
) -> dict:
    """Django DATABASES['default'] for ``DATABASE_URL``, or a SQLite file when unset.

    On PostgreSQL a connection attempt gives up after ``connect_timeout`` seconds
    and, when ``statement_timeout`` is set, a statement after that many seconds,
    so a database that is down or stuck fails a request instead of hanging it.
    A statement run ``prepare_threshold`` times on a connection is prepared
    there (0: never, as a pooler in transaction mode needs).
    """
    if not url:
        sqlite_path.parent.mkdir(parents=True, exist_ok=True)
        return _sqlite({"ENGINE": "django.db.backends.sqlite3", "NAME": str(sqlite_path)})
    scheme = urlsplit(url).scheme
    if scheme not in {"postgres", "postgresql", "pgsql", "sqlite"}:
        raise ConfigError(
            f"DATABASE_URL must start with postgres:// or sqlite:///, not {scheme or 'nothing'}:// "
            f"(got {redact_url(url)!r})."
        )
    try:
        config = dj_database_url.parse(url, conn_max_age=60, conn_health_checks=True)
    except Exception as exc:  # dj_database_url raises several kinds for bad input
        raise ConfigError(f"DATABASE_URL is malformed ({exc}): {redact_url(url)!r}.") from None
    if scheme == "sqlite":
        return _sqlite(config)
    try:
        urlsplit(url).port  # noqa: B018 - raises ValueError for a bad port
    except ValueError:
        raise ConfigError(f"DATABASE_URL has an invalid port: {redact_url(url)!r}.") from None
    if not config.get("NAME"):
        raise ConfigError(
            f"DATABASE_URL names no database (add /DBNAME at the end): {redact_url(url)!r}."
        )
    options = config.setdefault("OPTIONS", {})
    options.setdefault("connect_timeout", connect_timeout)
    if statement_timeout:
        options["options"] = f"-c statement_timeout={statement_timeout * 1000}"
    if prepare_threshold > 0:
        # Parameters sent apart from the SQL, so that a page's repeated statements
        # are planned once a connection: planning cost PostgreSQL more than running
        # a search page's statements.
        options.setdefault("server_side_binding", True)
        options.setdefault("prepare_threshold", prepare_threshold)
    return config


def _sqlite(config: dict) -> dict:
    """A SQLite database's settings, whether named by ``DATABASE_URL`` or the default file."""
    return {
        **config,
        # A request reuses its thread's connection rather than opening the file again.
        "CONN_MAX_AGE": 60,
        "CONN_HEALTH_CHECKS": True,
        "OPTIONS": {
            "timeout": 20,
            "transaction_mode": "IMMEDIATE",
            # WAL lets pages read while an import writes; the rest keeps
            # search's temporary tables and hot pages in memory.
            "init_command": (
                "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; "
                "PRAGMA temp_store=MEMORY; PRAGMA cache_size=-65536; "
                "PRAGMA mmap_size=268435456;"
            ),
        },
    }


def redis_url(url: str, name: str = "REDIS_URL") -> str:
    """Validate ``REDIS_URL`` (or the variable ``name``); an empty value means 'no broker'."""
    if not url:
        return ""
    parts = urlsplit(url)
    if parts.scheme not in {"redis", "rediss"}:
        raise ConfigError(f"{name} must start with redis:// or rediss://, not {redact_url(url)!r}.")
    try:
        parts.port  # noqa: B018
    except ValueError:
        raise ConfigError(f"{name} has an invalid port: {redact_url(url)!r}.") from None
    if not parts.hostname:
        raise ConfigError(f"{name} names no host: {redact_url(url)!r}.")
    db = parts.path.lstrip("/")
    if db and not db.isdigit():
        raise ConfigError(f"{name} must end with a database number such as /0, not /{db}.")
    return url


def cache_redis_url(url: str, broker_url: str) -> str:
    """``CACHE_REDIS_URL``, or else the broker's Redis with the next database number.

    The cache never shares the broker's database, so evicting or clearing it
    cannot drop a queued task.
    """
    if url:
        return redis_url(url, "CACHE_REDIS_URL")
    if not broker_url:
        return ""
    parts = urlsplit(broker_url)
    db = int(parts.path.lstrip("/") or 0)
    return parts._replace(path=f"/{db + 1}").geturl()


def redact_url(url: str) -> str:
    """The URL with any password replaced, safe to print."""
    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return parts._replace(netloc=netloc).geturl()
    return url
