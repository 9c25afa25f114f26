import pytest
from django.contrib.auth import get_user_model

from annotation import services
from annotation.models import Membership


def _member(project, username: str, role: str):
    # No password: these tests log in with force_login, and hashing one costs a quarter second.
    user = get_user_model().objects.create(username=username)
    services.membership_set(project=project, user=user, role=role)
    return user


@pytest.fixture
def lead(project):
    return _member(project, "lead", Membership.LEAD)


@pytest.fixture
def annotator(project):
    return _member(project, "ann", Membership.ANNOTATOR)
