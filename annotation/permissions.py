"""Who may do what in a project, in one place.

Annotators label and see their own work; leads see and review everything in
their projects; admins also manage members. Outsiders get 403 (404 would hide
nothing: project ids are not secret, their contents are).
"""

from django.core.exceptions import PermissionDenied
from django.db.models import OuterRef, Subquery
from django.shortcuts import get_object_or_404

from annotation.models import Membership, Project

MEMBERS = {Membership.ANNOTATOR, Membership.LEAD, Membership.ADMIN}
LEADS = {Membership.LEAD, Membership.ADMIN}
ADMINS = {Membership.ADMIN}


def project_for(user, project_id: int, *, roles: set[str]) -> tuple[Project, str]:
    """The project and the user's role in it, or PermissionDenied."""
    if user.is_superuser:
        return get_object_or_404(Project, pk=project_id), Membership.ADMIN
    project = get_object_or_404(
        Project.objects.annotate(
            member_role=Subquery(
                Membership.objects.filter(project=OuterRef("pk"), user=user).values("role")[:1]
            )
        ),
        pk=project_id,
    )
    if project.member_role not in roles:
        raise PermissionDenied
    return project, project.member_role
