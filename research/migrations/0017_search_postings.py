"""Ranking's postings of common words, kept in the database for every process.

A common word's postings (the entries holding it and its counts in each field,
research/search/ranking.py) cost PostgreSQL a read of every vector holding it:
a second or more at 100,000 documents. Each process kept them, but each paid
for them once, and again after every write. This table keeps them once for all
processes, labelled with the index's version token they were read at: a row
whose token is not the current one is stale, never used, and read again by
``research.tasks.search_postings_refresh_task`` in the background.

Nothing else depends on it: emptied, search reads the index as before.

This migration declares the whole search ``SCHEMA`` again: 0013's and the above.
"""

import copy
import importlib

from django.db import migrations

_SCHEMA_0008 = importlib.import_module("research.migrations.0008_search_schema")
_SCHEMA_0013 = importlib.import_module("research.migrations.0013_search_notes")
ForVendor = _SCHEMA_0008.ForVendor

COLUMNS = ["stem", "token", "ids", "counts"]
SCHEMA = copy.deepcopy(_SCHEMA_0013.SCHEMA)
SCHEMA["sqlite"]["tables"] |= {"search_postings": COLUMNS}
SCHEMA["postgresql"]["tables"] |= {"search_postings": COLUMNS}
SCHEMA["postgresql"]["indexes"] = [*SCHEMA["postgresql"]["indexes"], "search_postings_pkey"]

SQLITE_SCHEMA = [
    """CREATE TABLE search_postings (
        stem text PRIMARY KEY,
        token bigint NOT NULL,
        ids blob NOT NULL,
        counts blob NOT NULL
    )"""
]
PG_SCHEMA = [
    """CREATE TABLE search_postings (
        stem text PRIMARY KEY,
        token bigint NOT NULL,
        ids bytea NOT NULL,
        counts bytea NOT NULL
    )""",
    # Packed integers do not compress; uncompressed, a value is read without decoding.
    "ALTER TABLE search_postings ALTER COLUMN ids SET STORAGE EXTERNAL",
    "ALTER TABLE search_postings ALTER COLUMN counts SET STORAGE EXTERNAL",
]
DROP = ["DROP TABLE IF EXISTS search_postings"]


class Migration(migrations.Migration):
    dependencies = [
        ("research", "0016_annotation_groups"),
    ]

    operations = [
        ForVendor("sqlite", SQLITE_SCHEMA, DROP),
        ForVendor("postgresql", PG_SCHEMA, DROP),
    ]
