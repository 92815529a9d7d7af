from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ResearchConfig(AppConfig):
    name = "research"
    verbose_name = _("Research documents")

    def ready(self) -> None:
        from agreements.signals import agency_merged, agreements_combined, snapshot_applied
        from research.services.linking import on_agency_merged, on_agreements_combined

        # Research moves its own document links when agencies or agreements are merged.
        agency_merged.connect(on_agency_merged, dispatch_uid="research.agency_merged")
        agreements_combined.connect(
            on_agreements_combined, dispatch_uid="research.agreements_combined"
        )
        from research.tasks import alerts_on_snapshot_applied

        # Each list applied to the history is matched against researchers' watches.
        snapshot_applied.connect(alerts_on_snapshot_applied, dispatch_uid="research.alerts")
