"""Writes of the agreements app: importing ICE's lists, merging agencies."""

from agreements.services.snapshots import ImportResult, SnapshotImportError, snapshot_import

__all__ = ["ImportResult", "SnapshotImportError", "snapshot_import"]
