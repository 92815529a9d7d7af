"""Configuration errors read as one sentence naming the variable, never a traceback."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from portal.env import ConfigError, database_config, redis_url

ROOT = Path(__file__).resolve().parents[2]


def run_manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    ours = {"DATABASE_URL", "REDIS_URL", "SECRET_KEY", "DEBUG", "SECURE_SSL_REDIRECT"}
    base = {k: v for k, v in os.environ.items() if k not in ours}
    base["DJANGO_SETTINGS_MODULE"] = "portal.settings"
    # A developer's .env (written by make run) must not hide a missing setting here.
    base["PORTAL_ENV_FILE"] = env.pop("PORTAL_ENV_FILE", str(ROOT / "no-such.env"))
    base["VAR_DIR"] = env.pop("VAR_DIR", str(ROOT / "var"))
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_production_without_secret_key_refuses_to_start():
    result = run_manage("check", DEBUG="0")
    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_fresh_clone_checks_for_missing_migrations_without_any_setting(tmp_path):
    result = run_manage("makemigrations", "--check", "--dry-run", VAR_DIR=str(tmp_path))

    assert result.returncode == 0, result.stderr
    assert "No changes detected" in result.stdout


README_COMMANDS = sorted(
    set(re.findall(r"^python manage\.py (\w+)", (ROOT / "README.md").read_text(), re.M))
)


def test_the_readme_shows_its_commands():
    assert {"import_ice_sheet", "ingest_document", "load_sample_data"} <= set(README_COMMANDS)


@pytest.mark.parametrize("command", README_COMMANDS)
def test_every_readme_command_gives_its_help_in_a_new_shell(command, tmp_path):
    result = run_manage(command, "--help", VAR_DIR=str(tmp_path))

    assert result.returncode == 0, result.stderr
    assert "usage: manage.py" in result.stdout


def test_make_runs_env_file_lets_commands_run_and_the_environment_wins(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text("# make run\nDEBUG=1\n")

    dev = run_manage("check", PORTAL_ENV_FILE=str(env_file), VAR_DIR=str(tmp_path))
    prod = run_manage("check", "--deploy", PORTAL_ENV_FILE=str(env_file), DEBUG="0")

    assert dev.returncode == 0, dev.stderr
    assert "SECRET_KEY is not set" in prod.stderr


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("DATABASE_URL", "mysql://root@localhost/x", "DATABASE_URL must start with postgres://"),
        ("DATABASE_URL", "postgres://postgres@localhost:notaport/x", "DATABASE_URL"),
        ("DATABASE_URL", "postgres://postgres@localhost:5432", "DATABASE_URL names no database"),
        ("REDIS_URL", "http://localhost:6379/0", "REDIS_URL must start with redis://"),
        ("REDIS_URL", "redis://localhost:6379/zero", "REDIS_URL must end with a database number"),
        ("DEBUG", "maybe", "DEBUG must be true or false"),
    ],
)
def test_malformed_variable_is_named_in_one_sentence(name, value, expected):
    env = {"DEBUG": "1", name: value}
    result = run_manage("check", **env)
    assert result.returncode == 2, result.stderr
    assert expected in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_unreachable_database_is_one_sentence(tmp_path):
    result = run_manage(
        "migrate",
        "--check",
        DEBUG="1",
        DATABASE_URL="postgres://postgres@127.0.0.1:1/nowhere",
    )
    assert result.returncode == 3, result.stderr
    assert result.stderr.startswith("Database error: cannot use the database at DATABASE_URL=")
    assert "Traceback" not in result.stderr


def test_password_in_database_url_is_not_printed():
    with pytest.raises(ConfigError) as err:
        database_config("mysql://user:s3cret@host/db", Path("unused"))
    assert "s3cret" not in str(err.value)


def test_unset_database_url_means_sqlite_file(tmp_path):
    config = database_config("", tmp_path / "var" / "portal.sqlite3")
    assert config["ENGINE"] == "django.db.backends.sqlite3"
    assert (tmp_path / "var").is_dir()


def test_a_sqlite_file_named_by_url_is_set_up_as_the_default_one(tmp_path):
    default = database_config("", tmp_path / "portal.sqlite3")
    named = database_config(f"sqlite:///{tmp_path}/portal.sqlite3", Path("unused"))
    assert {key: named[key] for key in default} == default
    assert "journal_mode=WAL" in named["OPTIONS"]["init_command"]
    assert named["CONN_MAX_AGE"] == 60


def test_postgresql_connections_and_statements_give_up_instead_of_hanging(tmp_path):
    config = database_config(
        "postgres://postgres@127.0.0.1:5432/portal", Path("unused"), statement_timeout=20
    )
    assert config["OPTIONS"]["connect_timeout"] == 5
    assert config["OPTIONS"]["options"] == "-c statement_timeout=20000"
    assert config["CONN_HEALTH_CHECKS"] is True


def test_postgresql_statements_are_prepared_unless_a_pooler_needs_them_not():
    url = "postgres://postgres@127.0.0.1:5432/portal"
    options = database_config(url, Path("unused"))["OPTIONS"]
    assert options["server_side_binding"] is True and options["prepare_threshold"] == 5
    options = database_config(url, Path("unused"), prepare_threshold=0)["OPTIONS"]
    assert "server_side_binding" not in options and "prepare_threshold" not in options


def test_unset_redis_url_means_no_broker():
    assert redis_url("") == ""


def test_production_settings_pass_check_deploy(tmp_path):
    result = run_manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        DEBUG="0",
        SECRET_KEY="x" * 20 + "a-long-random-production-secret-key-1234567890",
        ALLOWED_HOSTS="portal.example.org",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


@pytest.mark.parametrize(
    "key",
    ["x", "a-short-but-random-looking-key-9f8e7d6c", "ab" * 40],
    ids=["one character", "39 characters", "two different characters"],
)
def test_production_refuses_a_weak_secret_key_in_one_sentence(key):
    result = run_manage("check", DEBUG="0", SECRET_KEY=key, ALLOWED_HOSTS="portal.example.org")
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.startswith("Configuration error: SECRET_KEY is too weak")
    assert len(result.stderr.strip().splitlines()) == 1


def test_development_and_keyless_commands_accept_any_key(tmp_path):
    dev = run_manage("check", DEBUG="1", SECRET_KEY="x", VAR_DIR=str(tmp_path))
    keyless = run_manage("makemigrations", "--check", "--dry-run", DEBUG="0", SECRET_KEY="x")
    assert dev.returncode == 0, dev.stderr
    assert keyless.returncode == 0, keyless.stderr


def make_dry_run(*args: str) -> list[str]:
    """The commands ``make`` would run, without running them (no venv is created)."""
    done = subprocess.run(
        ["make", "--dry-run", "--always-make", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


def test_the_readme_names_the_port_and_make_run_honours_it():
    readme = (ROOT / "README.md").read_text()

    assert "make run PORT=8001" in readme
    assert any(
        line.endswith("runserver 127.0.0.1:8001") for line in make_dry_run("run", "PORT=8001")
    )


def test_the_readme_names_the_system_packages_and_what_happens_without_them():
    readme = (ROOT / "README.md").read_text()
    packages = re.search(r"### System packages\n(.*?)\n## ", readme, re.S).group(1)

    assert "apt-get install -y tesseract-ocr chromium" in packages
    assert "needs OCR" in packages  # a scan without Tesseract
    assert "skip" in packages  # the browser tests without chromium
    # Nothing in the code runs poppler's tools, so no page tells anyone to install them.
    code = "\n".join(p.read_text() for p in ROOT.glob("research/**/*.py"))
    assert "pdftoppm" not in code and "pdftotext" not in code
    assert "apt-get install -y tesseract-ocr poppler-utils" not in readme


def test_make_run_says_first_whether_ocr_is_available():
    commands = make_dry_run("run")
    first_portal_step = next(i for i, line in enumerate(commands) if "manage.py" in line)
    ocr = next(i for i, line in enumerate(commands) if "ocr_status" in line)

    assert ocr < first_portal_step
