from django.core.exceptions import PermissionDenied
from ninja import Router, Status

from annotation import permissions, selectors, services
from api.endpoints import ERRORS, project_for
from api.schemas import Error, FieldErrors, ProjectChangeOut, ProjectDetailOut, ProjectIn, ProjectOut, ProjectSettingsIn

router = Router(tags=["projects"])


def _project_fields(project, role: str) -> dict:
    return {
        "id": project.pk,
        "name": project.name,
        "description": project.description,
        "role": role,
        "options": project.options,
        "positive_option": project.positive_option,
        "metric": project.metric_name,
        "task_version": project.task_version,
        "guideline_version": project.guideline_version,
        "overlap": project.overlap,
        "informative_first": project.informative_first,
        "suggest_labels": project.suggest_labels,
        "label_check": project.label_check,
        "label_check_folds": project.label_check_folds,
        "label_check_epochs_factor": project.label_check_epochs_factor,
        "created_at": project.created_at,
    }


@router.get("/projects", response={200: list[ProjectOut], 401: Error})
def project_list(request):
    """The projects the caller is a member of, with their role in each."""
    user = request.auth
    return [
        _project_fields(project, selectors.membership_role(project=project, user=user))
        for project in selectors.project_list_for_user(user=user)
    ]


@router.get("/projects/{project_id}", response={200: ProjectDetailOut, **ERRORS})
def project_detail(request, project_id: int):
    """A project, the caller's labelling progress, and for leads its item counts."""
    project, role = project_for(request, project_id, roles=permissions.MEMBERS)
    detail = _project_fields(project, role)
    detail["progress"] = selectors.labelling_progress(project=project, user=request.auth)
    if role in permissions.LEADS:
        detail["counts"] = selectors.project_counts(project=project)
    return detail


def _settings(payload: ProjectSettingsIn) -> dict:
    fields = payload.dict(exclude_unset=True, exclude_none=True)
    if "options" in fields:
        # Each option whole, its key included where the caller left it out.
        fields["options"] = [{"value": o.value, "text": o.text, "key": o.key} for o in payload.options]
    return fields


@router.post("/projects", response={201: ProjectOut, 400: FieldErrors, 401: Error, 403: Error, 422: FieldErrors})
def project_create(request, payload: ProjectIn):
    """Make a project from a task template (site staff only); the caller becomes its admin.

    Fields left out come from the template (`context`: the built-in task;
    `blank`: instruction and options must be given).
    """
    if not (request.auth.is_staff or request.auth.is_superuser):
        raise PermissionDenied("only site staff may make projects")
    fields = _settings(payload)
    project = services.project_create(
        name=fields.pop("name"), template=fields.pop("template", "context"), created_by=request.auth, **fields
    )
    return Status(201, _project_fields(project, "admin"))


@router.patch("/projects/{project_id}", response={200: ProjectChangeOut, **ERRORS})
def project_settings_update(request, project_id: int, payload: ProjectSettingsIn):
    """Change a project's settings (leads). A task change after a freeze makes a new task version;
    labels naming a removed option go back for re-check."""
    project, role = project_for(request, project_id, roles=permissions.LEADS)
    change = services.project_settings_update(project=project, **_settings(payload))
    return {
        "project": _project_fields(change.project, role),
        "changed": change.changed,
        "new_task_version": change.new_task_version,
        "flagged_for_recheck": change.flagged_for_recheck,
    }
