#!/usr/bin/env python
"""Django's command-line utility for the 287(g) portal."""

import os
import sys
from pathlib import Path


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    from portal.env import ConfigError, load_env_file

    load_env_file(Path(os.environ.get("PORTAL_ENV_FILE") or Path(__file__).with_name(".env")))

    try:
        from django.core.management import execute_from_command_line
        from django.db.utils import OperationalError

        execute_from_command_line(sys.argv)
    except ConfigError as exc:
        sys.stderr.write(f"Configuration error: {exc}\n")
        sys.exit(2)
    except OperationalError as exc:
        from portal.env import env_str, redact_url

        target = redact_url(env_str("DATABASE_URL")) or "the SQLite file under var/"
        first_line = (
            str(exc).strip().splitlines()[0] if str(exc).strip() else exc.__class__.__name__
        )
        sys.stderr.write(
            f"Database error: cannot use the database at DATABASE_URL={target}: {first_line}\n"
        )
        sys.exit(3)


if __name__ == "__main__":
    main()
