"""One module of endpoints per topic; each holds a ninja Router."""

from annotation import permissions
from api.schemas import Error, FieldErrors

# What any endpoint under a project may answer besides its success (api.api says when each is given).
ERRORS = {400: FieldErrors, 401: Error, 403: Error, 404: Error, 422: FieldErrors}


def project_for(request, project_id: int, *, roles: set[str]):
    """The project and the caller's role, as the pages check it: 404 unknown, 403 not allowed."""
    return permissions.project_for(request.auth, project_id, roles=roles)
