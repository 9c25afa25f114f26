from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from annotation import permissions, selectors, services
from annotation.forms import NewProjectForm, ProjectForm
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


def _change_notes(change: services.ProjectChange) -> list[str]:
    notes = [f"Saved: {', '.join(field.replace('_', ' ') for field in change.changed)}." if change.changed
             else "Nothing changed."]
    if change.new_task_version:
        notes.append(
            f"The task is now version {change.new_task_version}: frozen batches keep theirs, new batches use this one."
        )
    if change.flagged_for_recheck:
        notes.append(f"{change.flagged_for_recheck} labels name an option that is gone: they are back for re-check.")
    return notes


def _new_project_initial() -> dict:
    defaults = ProjectForm.initial_for(Project())
    return {**defaults, "instruction": "", "options": "", "positive_option": "", "abstain_options": ""}


@require_http_methods(["GET", "POST"])
@login_required
def project_new(request):
    """Site staff make projects; the maker becomes the project's admin."""
    if not (request.user.is_staff or request.user.is_superuser):
        raise PermissionDenied("only site staff may make projects")
    form = NewProjectForm(request.POST or None, initial=_new_project_initial())
    if request.method == "POST" and form.is_valid():
        settings = form.settings()
        try:
            project = services.project_create(created_by=request.user, **settings)
        except ValidationError as error:
            form.add_error(None, error)
        else:
            messages.success(request, f"Made project {project.name}. Next: import its messages.")
            return redirect("annotation:import_upload", project_id=project.pk)
    return render(
        request, "annotation/project_form.html", {"form": form, "project": None},
        status=422 if form.errors else 200,
    )


@require_http_methods(["GET", "POST"])
@login_required
def project_settings(request, project_id: int):
    """A lead changes the task and the workflow; frozen batches keep the task they were frozen under."""
    project, _ = permissions.project_for(request.user, project_id, roles=permissions.LEADS)
    form = ProjectForm(request.POST or None, initial=ProjectForm.initial_for(project))
    if request.method == "POST" and form.is_valid():
        try:
            change = services.project_settings_update(project=project, **form.cleaned_data)
        except ValidationError as error:
            form.add_error(None, error)
        else:
            for note in _change_notes(change):
                messages.info(request, note)
            return redirect("annotation:project_settings", project_id=project.pk)
    return render(
        request, "annotation/project_form.html", {"form": form, "project": project},
        status=422 if form.errors else 200,
    )
