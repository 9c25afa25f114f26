from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_GET

from annotation import permissions, selectors
from annotation.models import Project


@require_GET
@login_required
def project_list(request):
    projects = selectors.project_list_for_user(user=request.user)
    return render(request, "annotation/project_list.html", {"projects": projects})


@require_GET
@login_required
def project_detail(request, project_id: int):
    project = get_object_or_404(Project, pk=project_id)
    role = selectors.membership_role(project=project, user=request.user)
    if role is None:
        raise PermissionDenied
    context = {"project": project, "role": role, "is_lead": role in permissions.LEADS}
    if context["is_lead"]:
        context["counts"] = selectors.project_counts(project=project)
    context["progress"] = selectors.labelling_progress(project=project, user=request.user)
    return render(request, "annotation/project_detail.html", context)
