"""manage.py backup and restore: a backup restored into a new database holds every record and file."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from agreements.models import ListSnapshot
from agreements.services.snapshots import snapshot_import
from research.models import Document
from research.services.ingest import document_submit
from tests.conftest import ROOT, database_url_for_subprocess
from tests.research.factories import DocumentFactory, ResearcherFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

DATA = Path(__file__).parent.parent / "agreements" / "data"
PDF = Path(__file__).parent.parent / "research" / "data"


def table_counts(url: str) -> dict[str, int]:
    with psycopg.connect(url.replace("postgres://", "postgresql://")) as db:
        tables = [
            row[0]
            for row in db.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1"
            )
        ]
        return {t: db.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in tables}  # noqa: S608


@pytest.fixture
def new_database():
    """An empty database beside the test database, dropped at the end."""
    name = f"{connection.settings_dict['NAME']}_restored"
    admin_url = database_url_for_subprocess().rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin_url.replace("postgres://", "postgresql://"), autocommit=True) as db:
        db.execute(f'DROP DATABASE IF EXISTS "{name}"')
        db.execute(f'CREATE DATABASE "{name}"')
    yield database_url_for_subprocess().rsplit("/", 1)[0] + f"/{name}"
    with psycopg.connect(admin_url.replace("postgres://", "postgresql://"), autocommit=True) as db:
        db.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def restore(folder: Path, database_url: str, media_root: Path) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "portal.test_settings",
        "DATABASE_URL": database_url,
        "MEDIA_ROOT": str(media_root),
    }
    return subprocess.run(
        [sys.executable, "manage.py", "restore", str(folder)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_a_restored_backup_holds_every_record_and_every_file(tmp_path, new_database):
    snapshot_import(
        file=DATA / "pendingAgencies06062025am.xlsx", filename="pendingAgencies06062025am.xlsx"
    )
    researcher = ResearcherFactory()
    moa = ROOT / "data" / "ice-287g" / "287gJEM_PolkCoGa2020-07-02.pdf"
    document_submit(upload=moa.read_bytes(), filename=moa.name, submitted_by=researcher)
    DocumentFactory.create_batch(3)
    files = {
        name: hashlib.sha256(Path(model.file.path).read_bytes()).hexdigest()
        for model in [*ListSnapshot.objects.all(), *Document.objects.exclude(file="")]
        for name in [model.file.name]
    }
    assert len(files) == 2
    before = table_counts(database_url_for_subprocess())

    call_command("backup", str(tmp_path / "backup"))
    restored_media = tmp_path / "restored-media"
    result = restore(tmp_path / "backup", new_database, restored_media)

    assert result.returncode == 0, result.stderr
    assert table_counts(new_database) == before
    with psycopg.connect(new_database.replace("postgres://", "postgresql://")) as db:
        stored = db.execute(
            "SELECT file, sha256 FROM research_document WHERE file <> '' "
            "UNION ALL SELECT file, sha256 FROM agreements_listsnapshot"
        ).fetchall()
    assert {name for name, _ in stored} == set(files)
    for name, sha256 in stored:
        assert hashlib.sha256((restored_media / name).read_bytes()).hexdigest() == sha256
        assert files[name] == sha256


def test_a_damaged_backup_is_refused_before_anything_is_restored(tmp_path, new_database):
    DocumentFactory()
    call_command("backup", str(tmp_path / "backup"))
    with (tmp_path / "backup" / "database.dump").open("ab") as dump:
        dump.write(b"x")

    result = restore(tmp_path / "backup", new_database, tmp_path / "restored-media")

    assert result.returncode != 0
    assert "damaged" in result.stderr
    assert table_counts(new_database) == {}


def test_a_backup_never_writes_into_a_folder_in_use(tmp_path):
    (tmp_path / "backup").mkdir()
    (tmp_path / "backup" / "notes.txt").write_text("mine")
    with pytest.raises(CommandError, match="not empty"):
        call_command("backup", str(tmp_path / "backup"))
