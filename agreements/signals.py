"""What the agreements app announces to the apps that link to its records.

Other apps (research's document links) hold foreign keys to agencies and
agreements; when records are folded into one, they move their own rows in a
receiver, so this app never writes their tables.
"""

from django.dispatch import Signal

# Sent inside the merge transaction, before the agencies ``source_ids`` are
# deleted: receivers point their rows at ``target`` (an Agency) and return how
# many links they moved.
agency_merged = Signal()

# Sent inside the merge transaction when the agreements ``source_ids`` turn out to
# be the same agreement as ``target`` and are about to be deleted; receivers
# return how many links they moved.
agreements_combined = Signal()


def links_moved(responses: list[tuple[object, object]]) -> int:
    """The number of links the receivers of a ``send`` say they moved."""
    return sum(response for _, response in responses if isinstance(response, int))


# Sent once the transaction that applied a list to the history has committed
# (an import not held, or a held list released), with ``snapshot_id``: research
# matches the list's events against researchers' watches.
snapshot_applied = Signal()


def announce_snapshot_applied(snapshot_id: int) -> None:
    """Send ``snapshot_applied`` after the current transaction commits (never if it rolls back)."""
    from django.db import transaction

    transaction.on_commit(
        lambda: snapshot_applied.send(sender=None, snapshot_id=snapshot_id), robust=True
    )
