"""The members page's rules live in services: never yourself, never the last admin."""

import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse

from annotation import services
from annotation.models import Membership


@pytest.fixture
def admin_user(project):
    user = services.user_get_or_create(username="boss", password="boss-pass-123")
    services.membership_set(project=project, user=user, role=Membership.ADMIN)
    return user


def role_of(project, user) -> str | None:
    return Membership.objects.filter(project=project, user=user).values_list("role", flat=True).first()


class TestRemove:
    def test_nobody_removes_themselves(self, project, admin_user):
        other = services.user_get_or_create(username="boss2", password="boss2-pass-123")
        services.membership_set(project=project, user=other, role=Membership.ADMIN)
        with pytest.raises(ValidationError, match="cannot remove yourself"):
            services.member_remove(project=project, username="boss", acting_user=admin_user)
        assert role_of(project, admin_user) == Membership.ADMIN

    def test_the_last_admin_cannot_be_removed(self, project, admin_user, db):
        root = services.user_get_or_create(username="root", password="root-pass-123")
        with pytest.raises(ValidationError, match="last admin"):
            services.member_remove(project=project, username="boss", acting_user=root)
        assert role_of(project, admin_user) == Membership.ADMIN

    def test_a_member_is_removed_and_a_stranger_is_refused_by_name(self, project, admin_user, annotator):
        services.member_remove(project=project, username=annotator.username, acting_user=admin_user)
        assert role_of(project, annotator) is None
        with pytest.raises(ValidationError, match="is not a member"):
            services.member_remove(project=project, username=annotator.username, acting_user=admin_user)
        with pytest.raises(ValidationError, match="no user named 'ghost'"):
            services.member_remove(project=project, username="ghost", acting_user=admin_user)


class TestRoleChange:
    def test_the_last_admin_cannot_demote_themselves(self, project, admin_user):
        with pytest.raises(ValidationError, match="last admin"):
            services.member_role_change(project=project, username="boss", role=Membership.LEAD)
        assert role_of(project, admin_user) == Membership.ADMIN

    def test_an_admin_steps_down_once_another_admin_exists(self, project, admin_user, lead):
        services.member_role_change(project=project, username="lead", role=Membership.ADMIN)
        services.member_role_change(project=project, username="boss", role=Membership.LEAD)
        assert (role_of(project, admin_user), role_of(project, lead)) == (Membership.LEAD, Membership.ADMIN)

    def test_an_unknown_role_or_user_is_refused(self, project, admin_user, annotator):
        with pytest.raises(ValidationError, match="unknown role"):
            services.member_role_change(project=project, username=annotator.username, role="owner")
        with pytest.raises(ValidationError, match="invite them instead"):
            services.member_role_change(project=project, username="ghost", role=Membership.LEAD)
        assert role_of(project, annotator) == Membership.ANNOTATOR


def test_the_members_page_shows_the_services_refusal(project, admin_user):
    client = Client()
    client.force_login(admin_user)
    url = reverse("annotation:members", args=[project.pk])
    demoted = client.post(url, {"username": "boss", "role": Membership.ANNOTATOR})
    assert demoted.status_code == 422 and "last admin" in demoted.content.decode()
    removed = client.post(url, {"username": "boss", "action": "remove"})
    assert removed.status_code == 422 and "cannot remove yourself" in removed.content.decode()
    assert role_of(project, admin_user) == Membership.ADMIN
