"""Curator writes on agencies: merging duplicates."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from agreements.models import (
    Agency,
    AgencyAlias,
    Agreement,
    AgreementEvent,
    IdentityRule,
    SnapshotRow,
)
from agreements.services.events import agreements_rebuild
from agreements.signals import agency_merged, agreements_combined, links_moved

# Status that says most about an agreement when two records of it are merged.
_STATUS_RANK = {Agreement.Status.ACTIVE: 2, Agreement.Status.PENDING: 1, Agreement.Status.ENDED: 0}


class AgencyMergeError(ValueError):
    """A merge was refused; the message is a sentence for the curator."""


@dataclass
class AgencyMergeResult:
    survivor: Agency
    merged_names: list[str] = field(default_factory=list)
    agreements_moved: int = 0
    agreements_combined: int = 0
    aliases_moved: int = 0
    rows_moved: int = 0
    events_moved: int = 0
    document_links_moved: int = 0

    def summary(self) -> str:
        """One line for the curator."""
        return (
            f"Merged {', '.join(self.merged_names)} into {self.survivor.name}: "
            f"{_count(self.agreements_moved, 'agreement')} moved, "
            f"{self.agreements_combined} combined with an identical one, "
            f"{_count(self.aliases_moved, 'alias', 'aliases')}, "
            f"{_count(self.rows_moved, 'snapshot row')}, {_count(self.events_moved, 'event')} "
            f"and {_count(self.document_links_moved, 'document link')} moved."
        )


def _count(n: int, word: str, plural: str = "") -> str:
    """``1 event``, ``2 events``."""
    return f"{n:,} {word if n == 1 else plural or word + 's'}"


def agency_merge(
    *, survivor: Agency, others: Iterable[Agency], user=None, as_rule: bool = True
) -> AgencyMergeResult:
    """Fold ``others`` into ``survivor`` and delete them, in one transaction.

    Agreements, aliases, snapshot rows, events and document links move to the
    survivor; an agreement the survivor already holds (same model and signed
    date) is combined with it. Each other agency's name stays as an alias
    (source "merge") so that the next ICE file spelling it that way resolves
    to the survivor, and the survivor's agreements and events are rebuilt from
    its rows as an import would. Agencies of different states are refused.
    A curator's merge (``as_rule``) is also kept as a "same" ``IdentityRule``
    that every later import applies; the importer's own merges are not rules.
    """
    others = [other for other in others if other.pk != survivor.pk]
    if not others:
        raise AgencyMergeError(
            "Choose at least one agency other than the one that is kept to merge into it."
        )
    elsewhere = [other for other in others if other.state != survivor.state]
    if elsewhere:
        raise AgencyMergeError(
            f"{elsewhere[0].name} is in {elsewhere[0].state} but {survivor.name} is in "
            f"{survivor.state}; correct the state first if they are one agency."
        )
    try:
        with transaction.atomic():
            return _merge(survivor=survivor, others=others, user=user, as_rule=as_rule)
    except IntegrityError as exc:
        raise AgencyMergeError(
            f"The agencies could not be merged because two of their records clash ({exc}); "
            "nothing was changed."
        ) from exc


def _merge(*, survivor: Agency, others: list[Agency], user, as_rule: bool) -> AgencyMergeResult:
    ids = [survivor.pk, *(other.pk for other in others)]
    locked = {a.pk: a for a in Agency.objects.select_for_update().filter(pk__in=ids)}
    if len(locked) != len(ids):
        raise AgencyMergeError("One of the agencies no longer exists; reload the page and retry.")
    survivor = locked[survivor.pk]
    result = AgencyMergeResult(survivor=survivor)
    for other in (locked[o.pk] for o in others):
        _move_agreements(other, survivor, result, user)
        result.rows_moved += SnapshotRow.objects.filter(agency=other).update(agency=survivor)
        result.events_moved += AgreementEvent.objects.filter(agency=other).update(agency=survivor)
        result.aliases_moved += AgencyAlias.objects.filter(agency=other).update(agency=survivor)
        _keep_name_as_alias(other, survivor, as_rule=as_rule)
        result.document_links_moved += links_moved(
            agency_merged.send(sender=Agency, source_ids=[other.pk], target=survivor)
        )
        _move_other_relations(other, survivor)
        _fill_blanks(survivor, other)
        result.merged_names.append(other.name)
        other._history_user = user
        other.delete()
    survivor.needs_review = False
    stamp = timezone.now().date().isoformat()
    who = f" by {user}" if user else ""
    note = f"{stamp}: merged {'; '.join(result.merged_names)}{who}."
    survivor.notes = f"{survivor.notes}\n{note}".strip()
    survivor._history_user = user
    survivor._change_reason = "merge"
    survivor.save()
    # The survivor's rows now come from several spellings: recompute which rows
    # are one agreement, and the events, exactly as an import does.
    agreements_rebuild(agency_ids=[survivor.pk])
    survivor.refresh_from_db()
    return result


def _move_agreements(other: Agency, survivor: Agency, result: AgencyMergeResult, user) -> None:
    pks = list(Agreement.objects.filter(agency=other).order_by("pk").values_list("pk", flat=True))
    for pk in pks:
        # Fetched one by one: combining an agreement re-points its successors.
        agreement = Agreement.objects.get(pk=pk)
        twin = (
            Agreement.objects.filter(agency=survivor, model=agreement.model)
            .filter(
                Q(signed_on=agreement.signed_on)
                if agreement.signed_on
                else Q(signed_on__isnull=True, signed_raw=agreement.signed_raw)
            )
            .first()
        )
        if twin is None:
            agreement.agency = survivor
            agreement._history_user = user
            agreement._change_reason = "merge"
            agreement.save()
            result.agreements_moved += 1
        else:
            twin._history_user = user
            _combine_agreements(keep=twin, drop=agreement)
            result.agreements_combined += 1


def _combine_agreements(*, keep: Agreement, drop: Agreement) -> None:
    """Two records of the same agreement: keep one, with everything of both."""
    SnapshotRow.objects.filter(agreement=drop).update(agreement=keep, agency=keep.agency)
    kept_events = set(
        AgreementEvent.objects.filter(agreement=keep).values_list("kind", "snapshot_id", "field")
    )
    for event in AgreementEvent.objects.filter(agreement=drop):
        if (event.kind, event.snapshot_id, event.field) in kept_events:
            event.delete()
        else:
            event.agreement, event.agency = keep, keep.agency
            event.save(update_fields=["agreement", "agency"])
    Agreement.objects.filter(predecessor=drop).exclude(pk=keep.pk).update(predecessor=keep)
    agreements_combined.send(sender=Agreement, source_ids=[drop.pk], target=keep)
    if keep.predecessor_id in (None, drop.pk):
        # Never point at the record being dropped, nor at itself.
        inherited = drop.predecessor_id
        keep.predecessor_id = inherited if inherited not in (keep.pk, drop.pk) else None
    keep.moa_url = keep.moa_url or drop.moa_url
    keep.addendum_url = keep.addendum_url or drop.addendum_url
    keep.first_listed_at = _earliest(keep.first_listed_at, drop.first_listed_at)
    if drop.last_listed_at and (
        not keep.last_listed_at or drop.last_listed_at > keep.last_listed_at
    ):
        keep.last_listed_at = drop.last_listed_at
        keep.status, keep.ending_in_question = drop.status, drop.ending_in_question
    elif _STATUS_RANK[drop.status] > _STATUS_RANK[keep.status] and not keep.last_listed_at:
        keep.status, keep.ending_in_question = drop.status, drop.ending_in_question
    drop.delete()
    keep._change_reason = "merge"
    keep.save()


def _earliest(a, b):
    return min(x for x in (a, b) if x) if (a or b) else None


def _keep_name_as_alias(other: Agency, survivor: Agency, *, as_rule: bool) -> None:
    updated = AgencyAlias.objects.filter(state=other.state, name_key=other.name_key).update(
        agency=survivor
    )
    if not updated:
        AgencyAlias.objects.create(
            agency=survivor,
            name=other.name,
            state=other.state,
            name_key=other.name_key,
            source=AgencyAlias.Source.MERGE if as_rule else AgencyAlias.Source.ICE,
        )
    if as_rule and other.name_key != survivor.name_key:
        a, b = sorted((other.name_key, survivor.name_key))
        names = {other.name_key: other.name, survivor.name_key: survivor.name}
        IdentityRule.objects.update_or_create(
            state=survivor.state,
            key_a=a,
            key_b=b,
            defaults={"name_a": names[a], "name_b": names[b], "decision": "same"},
        )


def _move_other_relations(other: Agency, survivor: Agency) -> None:
    """Move links from models added later (e.g. by the research app) that this module does not know."""
    known = {Agreement, AgencyAlias, SnapshotRow, AgreementEvent}
    for relation in Agency._meta.related_objects:
        if relation.related_model in known or not relation.one_to_many:
            continue
        relation.related_model._default_manager.filter(**{relation.field.name: other}).update(
            **{relation.field.name: survivor}
        )


def _fill_blanks(survivor: Agency, other: Agency) -> None:
    for attr in ("agency_type", "county_name", "county_fips", "ori"):
        if not getattr(survivor, attr) and getattr(other, attr):
            setattr(survivor, attr, getattr(other, attr))
