from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


class ResearchConfig(AppConfig):
    name = "research"
    verbose_name = _("Research documents")

    def ready(self) -> None:
        from agreements.signals import agency_merged, agreements_combined
        from research.search.signals import repair_search_index
        from research.services.linking import on_agency_merged, on_agreements_combined

        post_migrate.connect(repair_search_index, sender=self)
        # Research moves its own document links when agencies or agreements are merged.
        agency_merged.connect(on_agency_merged, dispatch_uid="research.agency_merged")
        agreements_combined.connect(
            on_agreements_combined, dispatch_uid="research.agreements_combined"
        )
