"""The portal's authentication backend (portal/auth.py): Django's permissions, in one query."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext

from portal.auth import PermissionsBackend
from research import policy
from tests.research.factories import CuratorFactory, ResearcherFactory, UserFactory

pytestmark = pytest.mark.django_db


def fresh(user):
    """The user as the next request loads it: nothing cached on the object."""
    return get_user_model().objects.get(pk=user.pk)


@pytest.mark.parametrize("factory", [UserFactory, ResearcherFactory, CuratorFactory])
def test_a_role_holds_the_permissions_django_gives_it_read_in_one_query(factory):
    user = factory()
    expected = ModelBackend().get_all_permissions(fresh(user))
    user = fresh(user)
    with CaptureQueriesContext(connection) as queries:
        assert user.get_all_permissions() == expected
        user.has_perm(policy.VIEW_FULL_TEXT)
        policy.sees_unreviewed(user)
    assert len(queries) == 1
    assert (policy.VIEW_FULL_TEXT in expected) == (factory is not UserFactory)


@pytest.mark.parametrize("factory", [UserFactory, ResearcherFactory, CuratorFactory])
def test_a_sessions_user_comes_with_their_permissions_in_one_statement(factory):
    user = factory()
    expected = ModelBackend().get_all_permissions(fresh(user))
    with CaptureQueriesContext(connection) as queries:
        signed_in = PermissionsBackend().get_user(user.pk)
        assert signed_in.get_all_permissions() == expected
        assert policy.reads_full_text(signed_in) == (factory is not UserFactory)
        assert policy.sees_unreviewed(signed_in) == (factory is CuratorFactory)
    assert len(queries) == 1
    assert PermissionsBackend().get_user(user.pk + 1000) is None
    user.is_active = False
    user.save()
    assert PermissionsBackend().get_user(user.pk) is None


def test_a_permission_given_to_the_account_itself_counts_and_a_change_shows_on_the_next_request():
    user = UserFactory()
    assert not policy.reads_full_text(fresh(user))
    app, codename = policy.VIEW_FULL_TEXT.split(".")
    user.user_permissions.add(
        Permission.objects.get(content_type__app_label=app, codename=codename)
    )
    assert policy.reads_full_text(fresh(user))

    researcher = ResearcherFactory()
    assert policy.reads_full_text(fresh(researcher))
    researcher.groups.clear()
    assert not policy.reads_full_text(fresh(researcher))


def test_an_inactive_account_holds_nothing_and_a_superuser_everything():
    researcher = ResearcherFactory(is_active=False)
    assert fresh(researcher).get_all_permissions() == set()
    admin = UserFactory(is_superuser=True)
    assert fresh(admin).get_all_permissions() == ModelBackend().get_all_permissions(fresh(admin))
    assert policy.sees_unreviewed(fresh(admin))
    signed_in = PermissionsBackend().get_user(admin.pk)
    assert signed_in.get_all_permissions() == ModelBackend().get_all_permissions(fresh(admin))
