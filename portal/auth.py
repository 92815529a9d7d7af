"""The portal's authentication backend: Django's, with a user's permissions read in one query.

Every page asks the user's role (research/policy.py), and Django's ModelBackend
reads a user's own and their groups' permissions in two ORM queries a request,
about as much as the rest of a search page's SQL. The same set, read once, and
for the user of a session in the statement that reads their row.
"""

# The SQL is assembled from the models' table names only; the user id is bound.
# ruff: noqa: S608

from __future__ import annotations

import functools

from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.db import connection


@functools.cache
def _permissions_sql(user_id: str = "%s") -> str:
    """The user's own and their groups' permissions, as (app label, codename) rows;
    ``user_id``: where the statement finds the user's id (a parameter by default)."""
    user = get_user_model()
    user_permissions = user.user_permissions.through._meta.db_table
    user_groups = user.groups.through._meta.db_table
    group_permissions = Group.permissions.through._meta.db_table
    return (
        f"SELECT ct.app_label, p.codename FROM {Permission._meta.db_table} p"
        f" JOIN {ContentType._meta.db_table} ct ON ct.id = p.content_type_id"
        f" WHERE p.id IN (SELECT up.permission_id FROM {user_permissions} up"
        f" WHERE up.user_id = {user_id} UNION SELECT gp.permission_id FROM {group_permissions} gp"
        f" JOIN {user_groups} ug ON ug.group_id = gp.group_id WHERE ug.user_id = {user_id})"
    )


@functools.cache
def _user_sql(vendor: str) -> str:
    """A user's row by id, with their permissions joined in one more column,
    ``joined_permissions``: "app.codename,..."."""
    model = get_user_model()
    table = connection.ops.quote_name(model._meta.db_table)
    # Columns by name, not u.*: a prepared statement whose columns change (a column
    # added by a migration) fails until its connection closes.
    columns = ", ".join(
        f"u.{connection.ops.quote_name(field.column)}" for field in model._meta.concrete_fields
    )
    joined = "string_agg" if vendor == "postgresql" else "group_concat"
    return (
        f"SELECT {columns}, (SELECT {joined}(q.app_label || '.' || q.codename, ',')"
        f" FROM ({_permissions_sql('u.id')}) q) AS joined_permissions"
        f" FROM {table} u WHERE u.id = %s"
    )


class PermissionsBackend(ModelBackend):
    """ModelBackend, whose ``get_all_permissions`` of an active non-superuser is one
    query, and comes with the user's row where a session's user is read."""

    def get_user(self, user_id):
        """The user of a session, with their permissions read in the same statement
        (every page asks the user's role)."""
        # A raw query (fields converted as the ORM would): building the ORM's
        # statement cost twice as much as running it, on every signed-in page.
        model = get_user_model()
        user = next(iter(model._default_manager.raw(_user_sql(connection.vendor), [user_id])), None)
        if user is None:
            return None
        if not self.user_can_authenticate(user):
            return None
        if not user.is_superuser:
            joined = user.joined_permissions
            user._perm_cache = set(joined.split(",")) if joined else set()
        return user

    def get_all_permissions(self, user_obj, obj=None):
        if not user_obj.is_active or user_obj.is_anonymous or obj is not None:
            return set()
        if user_obj.is_superuser:
            return super().get_all_permissions(user_obj, obj)
        if not hasattr(user_obj, "_perm_cache"):
            with connection.cursor() as cursor:
                cursor.execute(_permissions_sql(), [user_obj.pk, user_obj.pk])
                user_obj._perm_cache = {f"{app}.{codename}" for app, codename in cursor}
        return user_obj._perm_cache
