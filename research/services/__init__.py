"""Every write of the research app: ingestion, linking, feeds, MOAs, review, notes, collections."""

from __future__ import annotations

from collections.abc import Mapping


class Refused(ValueError):
    """A write that cannot be done; ``errors`` maps each field to what is wrong with it.

    A sentence about no one field is filed under ``"__all__"``, as Django's forms do.
    """

    def __init__(self, errors: Mapping[str, str] | str):
        self.errors = {"__all__": errors} if isinstance(errors, str) else dict(errors)
        super().__init__(" ".join(self.errors.values()))
