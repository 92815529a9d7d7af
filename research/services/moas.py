"""Fetch each agreement's MOA and addendum once, as public-domain documents.

The same file behind several URLs is one document (``document_submit`` and
``document_process`` de-duplicate by URL and by sha256), linked to every
agreement that points to it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import islice

from django.core.exceptions import ValidationError

from agreements.models import Agreement
from research.canonical import url_key
from research.models import Document, DocumentAgreement
from research.services.ingest import document_submit

__all__ = ["MoaSubmitResult", "agreement_moa_title", "agreement_moas_submit"]

logger = logging.getLogger(__name__)

ROLE_FIELDS = {
    DocumentAgreement.Role.MOA: "moa_url",
    DocumentAgreement.Role.ADDENDUM: "addendum_url",
}


@dataclass
class MoaSubmitResult:
    submitted: list[Document] = field(default_factory=list)
    refused: list[tuple[int, str, str]] = field(default_factory=list)  # agreement id, url, why

    def summary(self) -> str:
        return f"{len(self.submitted)} MOA/addendum links submitted, {len(self.refused)} refused."


def agreement_moa_title(agreement: Agreement, role: str = DocumentAgreement.Role.MOA) -> str:
    """ "Polk County Sheriff's Office (GA), 287(g) Jail Enforcement Model MOA, signed 2020-07-02"."""
    agency = agreement.agency
    what = "MOA addendum" if role == DocumentAgreement.Role.ADDENDUM else "MOA"
    title = f"{agency.name} ({agency.state}), 287(g) {agreement.get_model_display()} {what}"
    if agreement.signed_on:
        title += f", signed {agreement.signed_on.isoformat()}"
    return title


def agreement_links_missing(role: str) -> Iterator[tuple[Agreement, str]]:
    """(agreement, url) for each agreement whose ``role`` URL has no document for it yet.

    A link counts as done when a document linked to the agreement in that role
    holds the URL (under any spelling that canonicalizes the same), so a MOA
    link that ICE replaces is fetched again, and a known one never is.
    """
    url_field = ROLE_FIELDS[role]
    done = set(
        DocumentAgreement.objects.filter(role=role).values_list(
            "agreement_id", "document__urls__url_key"
        )
    )
    agreements = (
        Agreement.objects.exclude(**{url_field: ""}).select_related("agency").order_by("pk")
    )
    for agreement in agreements.iterator(chunk_size=500):
        url = getattr(agreement, url_field).strip()
        if (agreement.pk, url_key(url)) not in done:
            yield agreement, url


def agreement_moas_submit(*, limit: int | None = None) -> MoaSubmitResult:
    """Submit every agreement's MOA and addendum URL that has no document yet.

    Each becomes (or joins) a public-domain ``moa`` document linked to the
    agreement with the role ``moa`` or ``addendum``.
    """
    result = MoaSubmitResult()
    for role in ROLE_FIELDS:
        for agreement, url in islice(agreement_links_missing(role), limit):
            try:
                document = document_submit(
                    url=url,
                    kind=Document.Kind.MOA,
                    title=agreement_moa_title(agreement, role),
                    rights=Document.Rights.PUBLIC_DOMAIN,
                    agreement_links=[(agreement, role)],
                )
            except (ValidationError, ValueError) as exc:  # IngestError is a ValueError
                logger.warning("MOA of agreement %s at %s refused: %s", agreement.pk, url, exc)
                result.refused.append((agreement.pk, url, str(exc)))
                continue
            result.submitted.append(document)
    return result
