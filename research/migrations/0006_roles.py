"""The roles: researcher, curator and administrator groups with their permissions.

research.policy decides from these permissions, never from ``is_staff``. The
lists are frozen here, as they stood when the roles were made; a later model
grants its permissions to the roles in its own migration.
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations

RESEARCHERS = "Researchers"
CURATORS = "Curators"
ADMINISTRATORS = "Administrators"

RESEARCHER_PERMISSIONS = {"research": ["view_full_text", "submit_document"]}


def _crud(actions: str, *models: str) -> list[str]:
    return [f"{action}_{model}" for model in models for action in actions.split()]


CURATOR_PERMISSIONS = {
    "research": [
        *RESEARCHER_PERMISSIONS["research"],
        "view_unreviewed",
        *_crud("view add change", "document", "tag", "feed", "documenturl"),
        *_crud("view add change delete", "documentagency", "documentagreement"),
        "view_historicaldocument",
    ],
    "agreements": [
        *_crud("view add change", "agency", "agencyalias", "agreement"),
        "delete_agencyalias",
        *_crud("view", "listsnapshot", "snapshotrow", "agreementevent", "agreementlastseen"),
        *_crud("view", "historicalagency", "historicalagreement"),
    ],
}
# Administrators hold every permission of these apps (users and groups included).
ADMINISTRATOR_APPS = ("research", "agreements", "auth")


def _permissions(Permission, codenames: dict[str, list[str]]) -> list:
    found = []
    for app_label, names in codenames.items():
        rows = list(
            Permission.objects.filter(content_type__app_label=app_label, codename__in=names)
        )
        missing = set(names) - {p.codename for p in rows}
        if missing:
            raise RuntimeError(f"Permissions missing for the roles: {sorted(missing)}")
        found += rows
    return found


def create_roles(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    # Permissions are otherwise created after every migration has run: too late here.
    for label in ADMINISTRATOR_APPS:
        config = apps.get_app_config(label)
        config.models_module = True
        create_permissions(config, apps=apps, verbosity=0)
    roles = {
        RESEARCHERS: _permissions(Permission, RESEARCHER_PERMISSIONS),
        CURATORS: _permissions(Permission, CURATOR_PERMISSIONS),
        ADMINISTRATORS: list(
            Permission.objects.filter(content_type__app_label__in=ADMINISTRATOR_APPS)
        ),
    }
    for name, permissions in roles.items():
        group, _created = Group.objects.get_or_create(name=name)
        group.permissions.add(*permissions)


def remove_roles(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=[CURATORS, ADMINISTRATORS]).delete()
    # Deleting the permissions takes them from the researchers' group too.
    apps.get_model("auth", "Permission").objects.filter(
        content_type__app_label="research",
        codename__in=["view_full_text", "view_unreviewed", "submit_document"],
    ).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("agreements", "0006_event_kinds"),
        ("research", "0005_search_pairs"),
    ]

    operations = [
        migrations.AlterModelOptions(
            name="document",
            options={
                "ordering": ["-published_on", "-created_at"],
                "permissions": [
                    (
                        "view_full_text",
                        "Can read the full text and file of copyrighted documents",
                    ),
                    (
                        "view_unreviewed",
                        "Can see unpublished documents and unconfirmed agency links",
                    ),
                    ("submit_document", "Can submit addresses and files to collect"),
                ],
                "verbose_name": "document",
                "verbose_name_plural": "documents",
            },
        ),
        migrations.RunPython(create_roles, remove_roles),
    ]
