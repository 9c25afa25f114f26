from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404
from ninja import Query, Router

from annotation import permissions, selectors
from annotation.models import Item
from api.endpoints import ERRORS, project_for
from api.schemas import ItemFilters, ItemHistoryOut, ItemOut, ItemPage

router = Router(tags=["items"])


@router.get("/projects/{project_id}/items", response={200: ItemPage, **ERRORS})
def item_list(request, project_id: int, filters: Query[ItemFilters]):
    """The project's items with the lead's browser filters, a page at a time, by id."""
    project, _ = project_for(request, project_id, roles=permissions.LEADS)
    items = selectors.item_browse(project=project, filters=filters.as_browse_filters())
    paginator = Paginator(items, filters.page_size)
    # A page past the end is empty rather than an error, so a client can loop until it is.
    page_items = (
        list(paginator.page(filters.page).object_list) if filters.page <= paginator.num_pages else []
    )
    return {
        "count": paginator.count,
        "page": filters.page,
        "pages": paginator.num_pages,
        "page_size": filters.page_size,
        "items": page_items,
    }


@router.get("/projects/{project_id}/items/{item_id}", response={200: ItemOut, **ERRORS})
def item_detail(request, project_id: int, item_id: int):
    project, _ = project_for(request, project_id, roles=permissions.LEADS)
    return get_object_or_404(Item, pk=item_id, project=project)


@router.get("/projects/{project_id}/items/{item_id}/history", response={200: ItemHistoryOut, **ERRORS})
def item_history(request, project_id: int, item_id: int):
    """Every label revision of the item, and each annotator's own labels side by side."""
    project, _ = project_for(request, project_id, roles=permissions.LEADS)
    item = get_object_or_404(Item, pk=item_id, project=project)
    history = selectors.item_history(item=item)
    return {
        "item_id": item.pk,
        "current_annotation_id": item.current_annotation_id,
        "revisions": history["revisions"],
        "by_annotator": history["by_annotator"],
    }
