"""Quantities written as a reader says them (pure; no Django)."""

from __future__ import annotations


def size_text(n: int) -> str:
    """A byte count as a reader says it: "50 MB", "1.5 MB", "1,000 bytes"."""
    if n >= 1024 * 1024:
        return f"{round(n / (1024 * 1024), 1):g} MB"
    return f"{n:,} bytes"
