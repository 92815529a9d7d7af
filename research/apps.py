from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ResearchConfig(AppConfig):
    name = "research"
    verbose_name = _("Research documents")

    def ready(self) -> None:
        from agreements.signals import agency_merged, agreements_combined
        from research.services.linking import on_agency_merged, on_agreements_combined

        # Research moves its own document links when agencies or agreements are merged.
        agency_merged.connect(on_agency_merged, dispatch_uid="research.agency_merged")
        agreements_combined.connect(
            on_agreements_combined, dispatch_uid="research.agreements_combined"
        )
