"""factory_boy factories for research documents and the agencies they name."""

from __future__ import annotations

import datetime as dt
import hashlib

import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.utils.text import slugify

from agreements.models import AgencyAlias
from research import policy
from research.models import (
    Annotation,
    Collection,
    CollectionItem,
    Document,
    DocumentAgency,
    DocumentAgreement,
    Feed,
    Tag,
)
from tests.agreements import factories as agreement_factories

# The migrations that make the roles and grant them permissions, in order.
ROLE_MIGRATIONS = (
    ("research.migrations.0006_roles", "create_roles"),
    ("research.migrations.0009_administrators_lift_lockouts", "grant"),
    ("research.migrations.0012_annotation_roles", "grant"),
    ("portal.migrations.0002_accounts", "grant"),
    ("research.migrations.0014_collections", "grant"),
    ("research.migrations.0015_alerts", "grant"),
)


def role(name: str) -> Group:
    """A role group as the migrations make it (a transactional test's flush removes it)."""
    if not Group.objects.filter(name=name).exists():
        import importlib

        from django.apps import apps

        for module, function in ROLE_MIGRATIONS:
            getattr(importlib.import_module(module), function)(apps, None)
    return Group.objects.get(name=name)


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    password = factory.PostGenerationMethodCall("set_password", "secret-pass-287g")

    @classmethod
    def _after_postgeneration(cls, instance, create, results=None):
        if create:
            instance.save()


class ResearcherFactory(UserFactory):
    username = factory.Sequence(lambda n: f"researcher{n}")

    @factory.post_generation
    def role_group(self, create, extracted, **kwargs):
        if create:
            self.groups.add(role(policy.RESEARCHERS))


class CuratorFactory(UserFactory):
    """A curator: staff (the admin is where curators work) in the Curators group."""

    username = factory.Sequence(lambda n: f"curator{n}")
    is_staff = True

    @factory.post_generation
    def role_group(self, create, extracted, **kwargs):
        if create:
            self.groups.add(role(policy.CURATORS))


class AdministratorFactory(CuratorFactory):
    username = factory.Sequence(lambda n: f"administrator{n}")

    @factory.post_generation
    def role_group(self, create, extracted, **kwargs):
        if create:
            self.groups.add(role(policy.ADMINISTRATORS))


class AgencyFactory(agreement_factories.AgencyFactory):
    name = factory.Sequence(lambda n: f"Example {n} County Sheriff's Office")
    state = "GA"


class AgencyAliasFactory(agreement_factories.AgencyAliasFactory):
    agency = factory.SubFactory(AgencyFactory)
    source = AgencyAlias.Source.CURATOR


class AgreementFactory(agreement_factories.AgreementFactory):
    agency = factory.SubFactory(AgencyFactory)
    signed_on = factory.Sequence(lambda n: dt.date(2020, 1, 1) + dt.timedelta(days=n))


class TagFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Tag
        django_get_or_create = ("slug",)

    name = factory.Sequence(lambda n: f"Topic {n}")
    slug = factory.LazyAttribute(lambda o: slugify(o.name))


class DocumentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Document

    kind = Document.Kind.NEWS
    title = factory.Sequence(lambda n: f"Sheriff signs 287(g) agreement, part {n}")
    canonical_url = factory.Sequence(lambda n: f"https://news.example.org/story-{n}")
    publisher = "Example News"
    published_on = dt.date(2025, 3, 1)
    rights = Document.Rights.COPYRIGHTED
    status = Document.Status.PUBLISHED
    text = "The sheriff said the agreement lets deputies screen people booked into the jail."
    text_sha256 = factory.LazyAttribute(lambda o: hashlib.sha256(o.text.encode()).hexdigest())


class DocumentAgencyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = DocumentAgency

    document = factory.SubFactory(DocumentFactory)
    agency = factory.SubFactory(AgencyFactory)
    method = DocumentAgency.Method.AUTOMATIC
    status = DocumentAgency.Status.SUGGESTED
    confidence = 0.8


class DocumentAgreementFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = DocumentAgreement

    document = factory.SubFactory(DocumentFactory, kind=Document.Kind.MOA)
    agreement = factory.SubFactory(AgreementFactory)
    role = DocumentAgreement.Role.MOA


class FeedFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Feed

    url = factory.Sequence(lambda n: f"https://news.example.org/feed-{n}.xml")
    title = "Example feed"


class AnnotationFactory(factory.django.DjangoModelFactory):
    """A note on the words "deputies screen" of the factory document, by a researcher.

    Built through its fields, not the service: give ``start`` and ``end`` to place it.
    """

    class Meta:
        model = Annotation
        skip_postgeneration_save = True

    document = factory.SubFactory(DocumentFactory)
    author = factory.SubFactory(ResearcherFactory)
    body = "Screening at booking is the jail model."
    start = factory.LazyAttribute(lambda o: max(0, o.document.text.find("deputies screen")))
    end = factory.LazyAttribute(lambda o: o.start + len("deputies screen"))
    exact = factory.LazyAttribute(lambda o: o.document.text[o.start : o.end])
    prefix = factory.LazyAttribute(lambda o: o.document.text[max(0, o.start - 32) : o.start])
    suffix = factory.LazyAttribute(lambda o: o.document.text[o.end : o.end + 32])
    text_sha256 = factory.LazyAttribute(lambda o: o.document.text_sha256)
    visibility = Annotation.Visibility.PRIVATE


class CollectionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Collection

    owner = factory.SubFactory(ResearcherFactory)
    title = factory.Sequence(lambda n: f"Collection {n}")


class CollectionItemFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CollectionItem

    collection = factory.SubFactory(CollectionFactory)
    document = factory.SubFactory(DocumentFactory)
    position = factory.Sequence(lambda n: n)
