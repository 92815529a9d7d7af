"""``manage.py fetch_ice_lists [--url URL]``: download ICE's lists and import what is new."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from agreements.services.fetch import DEFAULT_PAGE_URL, ice_lists_fetch
from portal.http import FetchError


class Command(BaseCommand):
    help = "Read ICE's 287(g) page, download the participating and pending lists, import new ones."

    def add_arguments(self, parser):
        parser.add_argument(
            "--url",
            default="",
            help=f"The page that links to the spreadsheets (default {DEFAULT_PAGE_URL}).",
        )

    def handle(self, *args, url: str = "", **options):
        try:
            outcomes = ice_lists_fetch(page_url=url)
        except FetchError as exc:
            raise CommandError(str(exc)) from exc
        for outcome in outcomes:
            write = self.stdout.write if outcome.ok else self.stderr.write
            write(outcome.summary())
        failed = [o for o in outcomes if not o.ok]
        if failed:
            raise CommandError(f"{len(failed)} of ICE's lists could not be imported; see above.")
