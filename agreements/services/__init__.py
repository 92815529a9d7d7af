"""Writes of the agreements app: importing ICE's lists, merging agencies."""

from agreements.services.snapshots import (
    BatchEntry,
    ImportResult,
    SnapshotImportError,
    snapshot_import,
    snapshots_import,
)

__all__ = [
    "BatchEntry",
    "ImportResult",
    "SnapshotImportError",
    "snapshot_import",
    "snapshots_import",
]
