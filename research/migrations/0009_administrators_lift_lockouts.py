"""Administrators see and lift login lockouts (django-axes' records) in the admin.

The permissions are frozen here by app: every permission of ``axes`` as it
stands when this runs, as 0006 did for the apps the roles were made with.
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations

ADMINISTRATORS = "Administrators"


def grant(apps, schema_editor):
    config = apps.get_app_config("axes")
    config.models_module = True
    create_permissions(config, apps=apps, verbosity=0)
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    group, _created = Group.objects.get_or_create(name=ADMINISTRATORS)
    group.permissions.add(*Permission.objects.filter(content_type__app_label="axes"))


def revoke(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for group in Group.objects.filter(name=ADMINISTRATORS):
        group.permissions.remove(*Permission.objects.filter(content_type__app_label="axes"))


class Migration(migrations.Migration):
    dependencies = [
        ("axes", "0010_accessattemptexpiration"),
        ("research", "0008_search_schema"),
    ]

    operations = [migrations.RunPython(grant, revoke)]
