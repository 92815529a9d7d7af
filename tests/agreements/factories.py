"""factory_boy factories for the agreements app.

They build agencies, agreements and snapshots directly, without the importer,
so that selectors, API and admin tests control exactly what is in the database.
``listed(snapshot, agreement)`` adds the row that says "this agreement was on
that list", which is what the as-of statistics count.
"""

from __future__ import annotations

import datetime as dt
import hashlib

import factory
from django.utils import timezone
from django.utils.text import slugify

from agreements.models import (
    Agency,
    AgencyAlias,
    AgencyKind,
    Agreement,
    AgreementEvent,
    ListSnapshot,
    SnapshotRow,
    SupportModel,
)

MODEL_LABELS = {
    SupportModel.JEM: "Jail Enforcement Model",
    SupportModel.TFM: "Task Force Model",
    SupportModel.WSO: "Warrant Service Officer",
}


def name_key(name: str) -> str:
    """A simple match key for test data (the importer has its own normaliser)."""
    return " ".join(slugify(name).split("-"))


class AgencyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Agency

    name = factory.Sequence(lambda n: f"County {n} Sheriff's Office")
    slug = factory.LazyAttribute(lambda o: slugify(f"{o.name} {o.state}"))
    state = "TX"
    kind = AgencyKind.COUNTY
    agency_type = "Sheriff's Office"
    county_name = factory.Sequence(lambda n: f"County {n}")
    name_key = factory.LazyAttribute(lambda o: name_key(o.name))


class AgencyAliasFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = AgencyAlias

    agency = factory.SubFactory(AgencyFactory)
    name = factory.Sequence(lambda n: f"Alias {n}")
    state = factory.LazyAttribute(lambda o: o.agency.state)
    name_key = factory.LazyAttribute(lambda o: name_key(o.name))
    source = AgencyAlias.Source.ICE


class AgreementFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Agreement

    agency = factory.SubFactory(AgencyFactory)
    model = SupportModel.JEM
    signed_on = factory.Sequence(lambda n: dt.date(2025, 1, 1) + dt.timedelta(days=n))
    status = Agreement.Status.ACTIVE


class ListSnapshotFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ListSnapshot

    kind = ListSnapshot.Kind.PARTICIPATING
    published_at = factory.Sequence(
        lambda n: timezone.make_aware(dt.datetime(2025, 5, 1, 9)) + dt.timedelta(days=n)
    )
    published_at_source = ListSnapshot.PublishedAtSource.ARGUMENT
    sha256 = factory.Sequence(lambda n: hashlib.sha256(f"snapshot-{n}".encode()).hexdigest())
    file = factory.django.FileField(filename="participatingAgencies.xlsx", data=b"PK\x03\x04 test")
    original_filename = "participatingAgencies.xlsx"
    header = factory.LazyFunction(
        lambda: ["STATE", "LAW ENFORCEMENT AGENCY", "TYPE", "COUNTY", "SUPPORT TYPE", "SIGNED"]
    )


class SnapshotRowFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = SnapshotRow

    snapshot = factory.SubFactory(ListSnapshotFactory)
    row_number = factory.Sequence(lambda n: n + 2)
    agreement = factory.SubFactory(AgreementFactory)
    agency = factory.LazyAttribute(lambda o: o.agreement.agency if o.agreement else None)
    state = factory.LazyAttribute(lambda o: o.agency.state if o.agency else "")
    agency_name = factory.LazyAttribute(lambda o: o.agency.name if o.agency else "")
    model = factory.LazyAttribute(lambda o: o.agreement.model if o.agreement else "")
    signed_on = factory.LazyAttribute(lambda o: o.agreement.signed_on if o.agreement else None)
    raw = factory.LazyAttribute(
        lambda o: {
            "STATE": o.state,
            "LAW ENFORCEMENT AGENCY": o.agency_name,
            "SUPPORT TYPE": MODEL_LABELS.get(o.model, o.model),
            "SIGNED": o.signed_on.isoformat() if o.signed_on else "",
        }
    )


class AgreementEventFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = AgreementEvent

    agreement = factory.SubFactory(AgreementFactory)
    agency = factory.LazyAttribute(lambda o: o.agreement.agency)
    kind = AgreementEvent.Kind.SIGNED
    snapshot = factory.SubFactory(ListSnapshotFactory)
    occurred_at = factory.LazyAttribute(lambda o: o.snapshot.published_at)


def listed(snapshot: ListSnapshot, *agreements: Agreement) -> list[SnapshotRow]:
    """Put each agreement on ``snapshot`` as one row, as the importer would."""
    start = snapshot.rows.count() + 2
    return [
        SnapshotRowFactory(snapshot=snapshot, agreement=agreement, row_number=start + i)
        for i, agreement in enumerate(agreements)
    ]
