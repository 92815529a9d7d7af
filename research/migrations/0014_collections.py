"""Collections of documents and agencies, and the roles' permission to keep them.

Researchers, curators and administrators may keep collections
(``add_collection``), frozen here as 0012 froze the annotation permissions.
"""

import uuid

import django.db.models.deletion
from django.conf import settings
from django.contrib.auth.management import create_permissions
from django.db import migrations, models

ROLES = ("Researchers", "Curators", "Administrators")
PERMISSIONS = ["add_collection"]


def grant(apps, schema_editor):
    config = apps.get_app_config("research")
    config.models_module = True
    create_permissions(config, apps=apps, verbosity=0)
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    permissions = list(
        Permission.objects.filter(content_type__app_label="research", codename__in=PERMISSIONS)
    )
    if len(permissions) != len(PERMISSIONS):
        raise RuntimeError(f"Permissions missing for the roles: {PERMISSIONS}")
    for name in ROLES:
        group, _created = Group.objects.get_or_create(name=name)
        group.permissions.add(*permissions)


def revoke(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    permissions = Permission.objects.filter(
        content_type__app_label="research", codename__in=PERMISSIONS
    )
    for group in Group.objects.filter(name__in=ROLES):
        group.permissions.remove(*permissions)


class Migration(migrations.Migration):

    dependencies = [
        ('agreements', '0009_agreement_ending_in_question'),
        ('research', '0013_search_notes'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='Collection',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('title', models.CharField(max_length=200, verbose_name='title')),
                ('description', models.TextField(blank=True, verbose_name='description')),
                ('visibility', models.CharField(choices=[('private', 'Private: only you'), ('shared', 'Shared with the people you name'), ('public', 'Public: anyone with the link')], default='private', max_length=10, verbose_name='visibility')),
                ('share_key', models.UUIDField(default=uuid.uuid4, editable=False, unique=True, verbose_name='link key')),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('updated_at', models.DateTimeField(auto_now=True)),
                ('owner', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='collections', to=settings.AUTH_USER_MODEL, verbose_name='owner')),
                ('shared_with', models.ManyToManyField(blank=True, help_text='Who may read a shared collection.', related_name='collections_shared_with_me', to=settings.AUTH_USER_MODEL, verbose_name='shared with')),
            ],
            options={
                'verbose_name': 'collection',
                'verbose_name_plural': 'collections',
                'ordering': ['-updated_at', '-pk'],
            },
        ),
        migrations.CreateModel(
            name='CollectionItem',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('note', models.TextField(blank=True, verbose_name='note')),
                ('position', models.PositiveIntegerField(default=0, verbose_name='position')),
                ('added_at', models.DateTimeField(auto_now_add=True)),
                ('agency', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='agreements.agency')),
                ('collection', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='items', to='research.collection')),
                ('document', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='research.document')),
            ],
            options={
                'verbose_name': 'collection item',
                'verbose_name_plural': 'collection items',
                'ordering': ['collection', 'position', 'pk'],
                'constraints': [models.CheckConstraint(condition=models.Q(models.Q(('agency__isnull', True), ('document__isnull', False)), models.Q(('agency__isnull', False), ('document__isnull', True)), _connector='OR'), name='collectionitem_one_target'), models.UniqueConstraint(fields=('collection', 'document'), name='collectionitem_document_once'), models.UniqueConstraint(fields=('collection', 'agency'), name='collectionitem_agency_once')],
            },
        ),
        migrations.RunPython(grant, revoke),
    ]
