"""Create (or reset) the demo curator and researcher accounts for local use."""

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError

from research.policy import CURATORS, RESEARCHERS

DEMO_ACCOUNTS = [
    # username, password, role group, is_staff (the admin is where curators work)
    ("curator", "curator-287g", CURATORS, True),
    ("researcher", "researcher-287g", RESEARCHERS, False),
]


class Command(BaseCommand):
    help = "Create the demo curator and researcher accounts and print their passwords."

    def handle(self, *args, **options):
        User = get_user_model()
        groups = {
            group.name: group for group in Group.objects.filter(name__in=[CURATORS, RESEARCHERS])
        }
        for username, password, role, is_staff in DEMO_ACCOUNTS:
            if role not in groups:
                raise CommandError(
                    f"The “{role}” group is missing; run “python manage.py migrate” first."
                )
            user, _ = User.objects.get_or_create(username=username)
            user.is_staff = is_staff
            user.is_superuser = False
            user.set_password(password)
            user.save()
            user.groups.set([groups[role]])
            label = "curator (admin at /admin/)" if role == CURATORS else "researcher"
            self.stdout.write(f"Demo {label}: username {username!r}, password {password!r}")
