"""Back up and restore the portal: the PostgreSQL database and the stored files.

A backup is a folder holding ``database.dump`` (``pg_dump -Fc``), ``media/`` (a
copy of MEDIA_ROOT: ICE's lists and the documents' files) and
``MANIFEST.sha256``, which ``sha256sum -c MANIFEST.sha256`` also checks. A
restore checks every file against the manifest before it touches anything, and
only restores into an empty database.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.db import connection

DUMP = "database.dump"
MEDIA = "media"
MANIFEST = "MANIFEST.sha256"


class BackupError(Exception):
    """A backup or restore that cannot go on; the message says why and what to do."""


@dataclass(frozen=True)
class BackupSummary:
    folder: Path
    files: int
    size: int

    def summary(self) -> str:
        return f"{self.folder}: the database and {self.files} stored files ({self.size} bytes)."


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1024 * 1024), b""):
            digest.update(block)
    return digest.hexdigest()


def _postgres() -> tuple[dict, dict]:
    """The connection arguments of pg_dump/pg_restore and their environment."""
    if connection.vendor != "postgresql":
        raise BackupError(
            "Backups are made from PostgreSQL; with SQLite, stop the portal and copy the var/ folder."
        )
    db = connection.settings_dict
    args = {
        "--host": db.get("HOST") or "127.0.0.1",
        "--port": str(db.get("PORT") or 5432),
        "--username": db.get("USER") or "postgres",
        "--dbname": db["NAME"],
    }
    env = {**os.environ}
    if db.get("PASSWORD"):
        env["PGPASSWORD"] = db["PASSWORD"]
    return args, env


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise BackupError(f"{name} is not installed; install PostgreSQL's client tools.")
    return found


def _run(cmd: list[str], env: dict) -> None:
    result = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise BackupError(f"{Path(cmd[0]).name} failed: {result.stderr.strip()[-2000:]}")


def backup_create(*, folder: Path) -> BackupSummary:
    """Write the database and every stored file into ``folder`` (new or empty), with sha256s."""
    folder = Path(folder)
    if folder.exists() and any(folder.iterdir()):
        raise BackupError(f"{folder} is not empty; give a new folder for the backup.")
    args, env = _postgres()
    folder.mkdir(parents=True, exist_ok=True)
    dump = folder / DUMP
    _run(
        [_tool("pg_dump"), "--format=custom", "--no-owner", "--file", str(dump)]
        + [f"{key}={value}" for key, value in args.items()],
        env,
    )
    media_root = Path(settings.MEDIA_ROOT)
    if media_root.is_dir():
        shutil.copytree(media_root, folder / MEDIA)
    else:
        (folder / MEDIA).mkdir()
    files = [dump, *sorted(p for p in (folder / MEDIA).rglob("*") if p.is_file())]
    lines = [f"{sha256_of(path)}  {path.relative_to(folder).as_posix()}\n" for path in files]
    (folder / MANIFEST).write_text("".join(lines))
    return BackupSummary(
        folder=folder, files=len(files) - 1, size=sum(path.stat().st_size for path in files)
    )


def _checked_manifest(folder: Path) -> dict[str, str]:
    """Relative path -> sha256 of every file in the backup, each checked."""
    manifest = folder / MANIFEST
    if not manifest.is_file():
        raise BackupError(f"{folder} has no {MANIFEST}: it is not a backup made by the portal.")
    entries = {}
    for line in manifest.read_text().splitlines():
        digest, _, name = line.partition("  ")
        entries[name] = digest
    bad = [name for name, digest in entries.items() if not (folder / name).is_file()]
    bad += [
        name
        for name, digest in entries.items()
        if (folder / name).is_file() and sha256_of(folder / name) != digest
    ]
    if bad or DUMP not in entries:
        shown = ", ".join(sorted(bad)[:5]) or DUMP
        raise BackupError(
            f"The backup in {folder} is damaged: {shown} missing or not as written; "
            "nothing was restored."
        )
    return entries


def backup_restore(*, folder: Path) -> BackupSummary:
    """Restore a backup into the configured (empty) database and MEDIA_ROOT."""
    folder = Path(folder)
    entries = _checked_manifest(folder)
    args, env = _postgres()
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")
        if cursor.fetchone()[0]:
            raise BackupError(
                f"The database {args['--dbname']} is not empty; restore into a new database "
                "(createdb) so nothing is mixed or lost."
            )
    connection.close()  # pg_restore creates what this connection would otherwise cache
    media_root = Path(settings.MEDIA_ROOT)
    clashes = [
        name
        for name, digest in entries.items()
        if name.startswith(f"{MEDIA}/")
        and (media_root / name.removeprefix(f"{MEDIA}/")).exists()
        and sha256_of(media_root / name.removeprefix(f"{MEDIA}/")) != digest
    ]
    if clashes:
        raise BackupError(
            f"MEDIA_ROOT ({media_root}) already holds different files ({clashes[0]}…); "
            "restore into an empty folder."
        )
    _run(
        [_tool("pg_restore"), "--no-owner", "--exit-on-error", str(folder / DUMP)]
        + [f"{key}={value}" for key, value in args.items()],
        env,
    )
    copied = 0
    size = 0
    for name, digest in entries.items():
        if not name.startswith(f"{MEDIA}/"):
            continue
        target = media_root / name.removeprefix(f"{MEDIA}/")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(folder / name, target)
        if sha256_of(target) != digest:
            raise BackupError(f"{target} does not match the backup after copying; check the disk.")
        copied += 1
        size += target.stat().st_size
    return BackupSummary(folder=folder, files=copied, size=size)
