"""The portal's admin site: where curators and administrators work.

Its own module, apart from ``portal.admin``: the site is made when an app's
admin module is first imported, and a module that both defines the site and
registers models on it would register them on a site that is then replaced.
"""

from django.contrib import admin
from django.core.exceptions import PermissionDenied

from research import policy


class PortalAdminSite(admin.AdminSite):
    site_header = "287(g) portal curation"
    site_title = "287(g) portal"

    def index(self, request, extra_context=None):
        # Django shows staff without any permission an empty index; say no instead.
        if not policy.can_curate(request.user):
            raise PermissionDenied
        return super().index(request, extra_context)
