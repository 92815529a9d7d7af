from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


class ResearchConfig(AppConfig):
    name = "research"
    verbose_name = _("Research documents")

    def ready(self) -> None:
        from research.search.signals import repair_search_index

        post_migrate.connect(repair_search_index, sender=self)
