"""The roles get the annotation permissions, frozen here as 0006 froze its lists.

Researchers and curators annotate (``add_annotation``); curators moderate
public notes in the admin; administrators hold every research permission.
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations

RESEARCHERS = "Researchers"
CURATORS = "Curators"
ADMINISTRATORS = "Administrators"

RESEARCHER_PERMISSIONS = ["add_annotation"]
CURATOR_PERMISSIONS = [
    "add_annotation",
    "moderate_annotation",
    "view_annotation",
    "change_annotation",
    "view_annotationflag",
    "change_annotationflag",
    "view_historicalannotation",
]
ADMINISTRATOR_PERMISSIONS = [
    *CURATOR_PERMISSIONS,
    "delete_annotation",
    "add_annotationflag",
    "delete_annotationflag",
    "add_historicalannotation",
    "change_historicalannotation",
    "delete_historicalannotation",
]


def grant(apps, schema_editor):
    config = apps.get_app_config("research")
    config.models_module = True
    create_permissions(config, apps=apps, verbosity=0)
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, codenames in (
        (RESEARCHERS, RESEARCHER_PERMISSIONS),
        (CURATORS, CURATOR_PERMISSIONS),
        (ADMINISTRATORS, ADMINISTRATOR_PERMISSIONS),
    ):
        permissions = list(
            Permission.objects.filter(content_type__app_label="research", codename__in=codenames)
        )
        missing = set(codenames) - {p.codename for p in permissions}
        if missing:
            raise RuntimeError(f"Permissions missing for the roles: {sorted(missing)}")
        group, _created = Group.objects.get_or_create(name=name)
        group.permissions.add(*permissions)


def revoke(apps, schema_editor):
    Permission = apps.get_model("auth", "Permission")
    Permission.objects.filter(
        content_type__app_label="research", codename__in=ADMINISTRATOR_PERMISSIONS
    ).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("research", "0011_annotations"),
    ]

    operations = [migrations.RunPython(grant, revoke)]
