"""Alerts: watches, saved searches, webhooks, digests and deliveries (one per alert and item).

The roles get ``add_watch``, which research.policy.can_keep_alerts reads, frozen here
as 0012 froze the annotation permissions.
"""

import django.db.models.deletion
from django.conf import settings
from django.contrib.auth.management import create_permissions
from django.db import migrations, models

ROLES = ("Researchers", "Curators", "Administrators")


def grant(apps, schema_editor):
    config = apps.get_app_config("research")
    config.models_module = True
    create_permissions(config, apps=apps, verbosity=0)
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    permission = Permission.objects.get(content_type__app_label="research", codename="add_watch")
    for name in ROLES:
        group, _created = Group.objects.get_or_create(name=name)
        group.permissions.add(permission)


def revoke(apps, schema_editor):
    Permission = apps.get_model("auth", "Permission")
    Permission.objects.filter(content_type__app_label="research", codename="add_watch").delete()


class Migration(migrations.Migration):
    dependencies = [
        ("agreements", "0009_agreement_ending_in_question"),
        ("research", "0014_collections"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="AlertItem",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("key", models.CharField(max_length=200, unique=True)),
                ("title", models.CharField(max_length=500)),
                ("url", models.CharField(max_length=2000)),
                ("detail", models.TextField(blank=True)),
                ("occurred_at", models.DateTimeField()),
                ("created_at", models.DateTimeField(auto_now_add=True)),
            ],
            options={
                "verbose_name": "alert item",
                "verbose_name_plural": "alert items",
            },
        ),
        migrations.CreateModel(
            name="AlertDigest",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "rate",
                    models.CharField(
                        choices=[
                            ("realtime", "As it happens"),
                            ("daily", "Daily"),
                            ("weekly", "Weekly"),
                            ("off", "Off"),
                        ],
                        max_length=10,
                    ),
                ),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("sent_at", models.DateTimeField(blank=True, null=True)),
                (
                    "user",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={
                "verbose_name": "alert digest",
                "verbose_name_plural": "alert digests",
            },
        ),
        migrations.CreateModel(
            name="SavedSearch",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("name", models.CharField(max_length=200, verbose_name="name")),
                ("query", models.CharField(blank=True, max_length=500, verbose_name="words")),
                ("filters", models.JSONField(blank=True, default=dict, verbose_name="filters")),
                (
                    "rate",
                    models.CharField(
                        choices=[
                            ("realtime", "As it happens"),
                            ("daily", "Daily"),
                            ("weekly", "Weekly"),
                            ("off", "Off"),
                        ],
                        default="daily",
                        max_length=10,
                        verbose_name="e-mail",
                    ),
                ),
                ("since", models.DateTimeField(verbose_name="matching since")),
                (
                    "paused_note",
                    models.TextField(
                        blank=True,
                        help_text="Why the portal stopped sending this search.",
                        verbose_name="paused",
                    ),
                ),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                (
                    "user",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="saved_searches",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={
                "verbose_name": "saved search",
                "verbose_name_plural": "saved searches",
                "ordering": ["name", "id"],
            },
        ),
        migrations.CreateModel(
            name="Watch",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "scope",
                    models.CharField(
                        choices=[
                            ("agency", "An agency"),
                            ("county", "A county"),
                            ("state", "A state"),
                            ("program", "The whole program"),
                        ],
                        max_length=10,
                        verbose_name="what to watch",
                    ),
                ),
                (
                    "county_fips",
                    models.CharField(blank=True, max_length=5, verbose_name="county FIPS"),
                ),
                ("state", models.CharField(blank=True, max_length=2, verbose_name="state")),
                ("changes", models.JSONField(default=list, verbose_name="kinds of change")),
                (
                    "rate",
                    models.CharField(
                        choices=[
                            ("realtime", "As it happens"),
                            ("daily", "Daily"),
                            ("weekly", "Weekly"),
                            ("off", "Off"),
                        ],
                        default="daily",
                        max_length=10,
                        verbose_name="e-mail",
                    ),
                ),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                (
                    "agency",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="watches",
                        to="agreements.agency",
                    ),
                ),
                (
                    "user",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="watches",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={
                "verbose_name": "watch",
                "verbose_name_plural": "watches",
                "ordering": ["-created_at", "-id"],
            },
        ),
        migrations.CreateModel(
            name="Delivery",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("matched_at", models.DateTimeField(auto_now_add=True, db_index=True)),
                ("run", models.CharField(db_index=True, max_length=32)),
                (
                    "digest",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="deliveries",
                        to="research.alertdigest",
                    ),
                ),
                (
                    "item",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="deliveries",
                        to="research.alertitem",
                    ),
                ),
                (
                    "user",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "saved_search",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="deliveries",
                        to="research.savedsearch",
                    ),
                ),
                (
                    "watch",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="deliveries",
                        to="research.watch",
                    ),
                ),
            ],
            options={
                "verbose_name": "delivery",
                "verbose_name_plural": "deliveries",
            },
        ),
        migrations.CreateModel(
            name="Webhook",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("url", models.URLField(max_length=2000, verbose_name="address")),
                ("secret", models.CharField(max_length=64, verbose_name="signing secret")),
                ("active", models.BooleanField(default=True, verbose_name="active")),
                ("consecutive_failures", models.PositiveIntegerField(default=0)),
                ("disabled_note", models.TextField(blank=True, verbose_name="why it was disabled")),
                (
                    "last_status",
                    models.CharField(blank=True, max_length=300, verbose_name="last answer"),
                ),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                (
                    "user",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="webhooks",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={
                "verbose_name": "webhook",
                "verbose_name_plural": "webhooks",
                "ordering": ["-created_at", "-id"],
            },
        ),
        migrations.CreateModel(
            name="WebhookCall",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "state",
                    models.CharField(
                        choices=[("pending", "Waiting"), ("sent", "Sent"), ("failed", "Given up")],
                        default="pending",
                        max_length=10,
                    ),
                ),
                ("attempts", models.PositiveIntegerField(default=0)),
                ("next_attempt_at", models.DateTimeField(db_index=True)),
                ("last_error", models.TextField(blank=True)),
                ("sent_at", models.DateTimeField(blank=True, null=True)),
                (
                    "delivery",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="webhook_calls",
                        to="research.delivery",
                    ),
                ),
                (
                    "webhook",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="calls",
                        to="research.webhook",
                    ),
                ),
            ],
            options={
                "verbose_name": "webhook call",
                "verbose_name_plural": "webhook calls",
            },
        ),
        migrations.AddIndex(
            model_name="watch",
            index=models.Index(fields=["scope", "state"], name="research_wa_scope_5e94a4_idx"),
        ),
        migrations.AddIndex(
            model_name="watch",
            index=models.Index(fields=["county_fips"], name="research_wa_county__644bd7_idx"),
        ),
        migrations.AddConstraint(
            model_name="watch",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    models.Q(
                        ("agency__isnull", False),
                        ("county_fips", ""),
                        ("scope", "agency"),
                        ("state", ""),
                    ),
                    models.Q(
                        ("agency__isnull", True),
                        ("county_fips__regex", "^[0-9]{5}$"),
                        ("scope", "county"),
                    ),
                    models.Q(
                        ("agency__isnull", True),
                        ("county_fips", ""),
                        ("scope", "state"),
                        ("state__regex", "^[A-Z]{2}$"),
                    ),
                    models.Q(
                        ("agency__isnull", True),
                        ("county_fips", ""),
                        ("scope", "program"),
                        ("state", ""),
                    ),
                    _connector="OR",
                ),
                name="watch_scope_consistent",
            ),
        ),
        migrations.AddIndex(
            model_name="delivery",
            index=models.Index(fields=["user", "digest"], name="research_de_user_id_1b828c_idx"),
        ),
        migrations.AddConstraint(
            model_name="delivery",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    ("watch__isnull", True), ("saved_search__isnull", True), _connector="XOR"
                ),
                name="delivery_one_alert",
            ),
        ),
        migrations.AddConstraint(
            model_name="delivery",
            constraint=models.UniqueConstraint(
                condition=models.Q(("watch__isnull", False)),
                fields=("watch", "item"),
                name="delivery_once_watch",
            ),
        ),
        migrations.AddConstraint(
            model_name="delivery",
            constraint=models.UniqueConstraint(
                condition=models.Q(("saved_search__isnull", False)),
                fields=("saved_search", "item"),
                name="delivery_once_search",
            ),
        ),
        migrations.AddConstraint(
            model_name="webhookcall",
            constraint=models.UniqueConstraint(
                fields=("webhook", "delivery"), name="webhookcall_once"
            ),
        ),
        migrations.RunPython(grant, revoke),
    ]
