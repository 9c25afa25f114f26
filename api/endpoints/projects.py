from ninja import Router

from annotation import permissions, selectors
from api.endpoints import ERRORS, project_for
from api.schemas import Error, ProjectDetailOut, ProjectOut

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
        "guideline_version": project.guideline_version,
        "overlap": project.overlap,
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
