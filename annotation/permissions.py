"""Who may do what in a project, in one place.

Annotators label and see their own work; leads see and review everything in
their projects; admins also manage members. Outsiders get 403 (404 would hide
nothing: project ids are not secret, their contents are).
"""

from pathlib import Path

from django.conf import settings
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


def projects_administered(user, project_ids) -> list[Project]:
    """The projects by id, each administered by the user, for a change that reaches all of them.

    Staff may change any project; an unknown id is 404, one the user does not
    administer PermissionDenied. No project at all is a change for staff alone.
    """
    project_ids = list(dict.fromkeys(project_ids))
    projects = [get_object_or_404(Project, pk=project_id) for project_id in project_ids]
    if user.is_staff or user.is_superuser:
        return projects
    if not projects:
        raise PermissionDenied("only staff may change what belongs to no project")
    administered = set(
        Membership.objects.filter(user=user, role__in=ADMINS, project_id__in=project_ids).values_list(
            "project_id", flat=True
        )
    )
    refused = [str(project.pk) for project in projects if project.pk not in administered]
    if refused:
        raise PermissionDenied(f"you are not an admin of project {', '.join(refused)}")
    return projects


def checkpoint_directories_allowed(user, directories) -> None:
    """Refuse directories outside settings.CHECKPOINT_ROOTS to anyone but staff.

    A registration reads the directory and its errors say what is in it, so
    a project admin may not probe the server's file system with it.
    """
    if user.is_staff or user.is_superuser:
        return
    roots = [Path(root).resolve() for root in settings.CHECKPOINT_ROOTS]
    outside = [
        directory for directory in directories
        if not any(Path(directory).resolve().is_relative_to(root) for root in roots)
    ]
    if outside:
        raise PermissionDenied(
            f"{', '.join(outside)}: not under a checkpoint root (CHECKPOINT_ROOTS); only staff may register "
            "checkpoints elsewhere"
        )
