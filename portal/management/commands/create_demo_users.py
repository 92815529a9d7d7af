"""Create (or reset) the demo curator and researcher accounts for local use."""

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand

DEMO_ACCOUNTS = [
    # username, password, is_staff, is_superuser
    ("curator", "curator-287g", True, True),
    ("researcher", "researcher-287g", False, False),
]


class Command(BaseCommand):
    help = "Create the demo curator and researcher accounts and print their passwords."

    def handle(self, *args, **options):
        User = get_user_model()
        researchers, _ = Group.objects.get_or_create(name="Researchers")
        for username, password, is_staff, is_superuser in DEMO_ACCOUNTS:
            user, _ = User.objects.get_or_create(username=username)
            user.is_staff = is_staff
            user.is_superuser = is_superuser
            user.set_password(password)
            user.save()
            user.groups.add(researchers)
            role = "curator (admin at /admin/)" if is_staff else "researcher"
            self.stdout.write(f"Demo {role}: username {username!r}, password {password!r}")
