"""The lead's screens: item browser, review with merge on conflict, guidelines, members."""

from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from annotation import (
    agreement,
    batches,
    exports,
    permissions,
    review,
    selectors,
    services,
)
from annotation.importers import jobs as import_jobs
from annotation.models import Batch, Guideline, ImportJob, Item, Membership
from config import params
from config.polling import render_polled

PAGE_SIZE = 50
FILTER_KEYS = [
    "label", "annotator", "batch", "guideline", "disagreement", "disputed", "recheck", "reviewed", "q",
]
# Filters the database compares with integer columns: a malformed one is a 422, not a failed query.
INTEGER_FILTER_KEYS = ["batch", "guideline"]


def _browse_filters(source) -> dict:
    for key in INTEGER_FILTER_KEYS:
        params.id_param(source, key)
    return {key: source.get(key, "").strip() for key in FILTER_KEYS}


@require_GET
@login_required
def item_list(request, project_id: int):
    project, role = permissions.project_for(request.user, project_id, roles=permissions.LEADS)
    filters = _browse_filters(request.GET)
    page = selectors.item_browse_page(
        project=project, filters=filters, page_number=request.GET.get("page"), per_page=PAGE_SIZE
    )
    query = urlencode({key: value for key, value in filters.items() if value})
    context = {"project": project, "page": page, "filters": filters, "query": query, "role": role}
    template = "annotation/items.html#results" if request.htmx else "annotation/items.html"
    return render(request, template, context)


def _review_context(project, item, **extra):
    item = Item.objects.select_related("current_annotation__annotator").get(pk=item.pk)
    return {
        "project": project,
        "item": item,
        "history": selectors.item_history(item=item),
        "disputes": selectors.item_disputes(item=item),
        **extra,
    }


@require_http_methods(["GET", "POST"])
@login_required
def item_review(request, project_id: int, item_id: int):
    project, _ = permissions.project_for(request.user, project_id, roles=permissions.LEADS)
    item = get_object_or_404(Item, pk=item_id, project=project)
    if request.method == "GET":
        return render(request, "annotation/item_review.html", _review_context(project, item))
    option = request.POST.get("option", "")
    reason = request.POST.get("reason", "")
    expected_current_id = params.id_param(request.POST, "expected_current")
    try:
        review.item_review(
            item=item,
            lead=request.user,
            option=option,
            reason=reason,
            expected_current_id=expected_current_id,
        )
    except review.StaleRevision as stale:
        context = _review_context(
            project, item, conflict={"option": option, "reason": reason, "theirs": stale.current}
        )
        return render(request, "annotation/item_review.html", context, status=409)
    except (ValidationError, ValueError) as error:
        messages = error.messages if isinstance(error, ValidationError) else [str(error)]
        context = _review_context(project, item, errors=messages, draft={"option": option, "reason": reason})
        return render(request, "annotation/item_review.html", context, status=422)
    back = request.POST.get("next", "")
    if back and url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()},
                                                 require_https=request.is_secure()):
        # A fix from a queue (the suspect queue's one-click buttons) goes back to the queue.
        return redirect(back)
    return redirect("annotation:item_review", project_id=project.pk, item_id=item.pk)


@require_POST
@login_required
def item_control(request, project_id: int, item_id: int):
    """Use the reviewed item as a control (`control` = 1), or stop (0)."""
    project, _ = permissions.project_for(request.user, project_id, roles=permissions.LEADS)
    item = get_object_or_404(Item, pk=item_id, project=project)
    choice = request.POST.get("control", "")
    if choice not in {"0", "1"}:
        raise params.InvalidParameter(f"control must be 1 (use the item as a control) or 0 (stop), not {choice[:40]!r}")
    try:
        review.item_control_set(item=item, control=choice == "1")
    except ValidationError as error:
        # The item is not reviewed: a conflict with its state, as the API answers it.
        context = _review_context(project, item, errors=error.messages)
        return render(request, "annotation/item_review.html", context, status=409)
    return redirect("annotation:item_review", project_id=project.pk, item_id=item.pk)


@require_GET
@login_required
def agreement_view(request, project_id: int):
    project, _ = permissions.project_for(request.user, project_id, roles=permissions.LEADS)
    summary = agreement.agreement_summary(project=project)
    disputed = selectors.items_disputed(project=project).count()
    context = {
        "project": project,
        "summary": summary,
        "disputed": disputed,
        "controls": selectors.control_accuracy(project=project),
        "controls_in_force": selectors.controls_in_force(project=project).count(),
    }
    return render(request, "annotation/agreement.html", context)


@require_http_methods(["GET", "POST"])
@login_required
def guidelines(request, project_id: int):
    project, role = permissions.project_for(request.user, project_id, roles=permissions.MEMBERS)
    errors = []
    if request.method == "POST":
        if role not in permissions.LEADS:
            raise PermissionDenied
        try:
            services.guideline_publish(
                project=project,
                text=request.POST.get("text", ""),
                author=request.user,
                recheck=request.POST.get("recheck") == "on",
            )
            return redirect("annotation:guidelines", project_id=project.pk)
        except ValidationError as error:
            errors = error.messages
    versions = Guideline.objects.filter(project=project).select_related("created_by")
    return render(
        request,
        "annotation/guidelines.html",
        {"project": project, "versions": versions, "role": role, "errors": errors,
         "can_edit": role in permissions.LEADS},
    )


@require_http_methods(["GET", "POST"])
@login_required
def members(request, project_id: int):
    project, _ = permissions.project_for(request.user, project_id, roles=permissions.ADMINS)
    errors, invite = [], None
    if request.method == "POST":
        username = request.POST.get("username", "")
        action = request.POST.get("action")
        try:
            if action == "invite":
                membership, link = services.member_invite(
                    project=project, username=username, role=request.POST.get("role", "")
                )
                invite = {"username": membership.user.username, "url": request.build_absolute_uri(link)}
            elif action == "remove":
                services.member_remove(project=project, username=username, acting_user=request.user)
            else:
                services.member_role_change(project=project, username=username, role=request.POST.get("role", ""))
        except ValidationError as error:
            errors.extend(error.messages)
        if not errors and invite is None:
            return redirect("annotation:members", project_id=project.pk)
    memberships = Membership.objects.filter(project=project).select_related("user").order_by("user__username")
    return render(
        request,
        "annotation/members.html",
        {"project": project, "memberships": memberships, "roles": Membership.ROLES, "errors": errors, "invite": invite},
        status=422 if errors else 200,
    )


@csrf_exempt
@require_http_methods(["GET", "POST"])
@login_required
def import_upload(request, project_id: int):
    # The CSRF check reads the whole multipart body (a large upload goes to a
    # temporary file), so an oversized upload is refused from its declared
    # Content-Length first, and the check runs after, in `_import_upload_form`.
    project, _ = permissions.project_for(request.user, project_id, roles=permissions.LEADS)
    if request.method == "POST":
        too_large = import_jobs.upload_too_large(request.META.get("CONTENT_LENGTH"))
        if too_large:
            return render(
                request,
                "annotation/import_upload.html",
                {"project": project, "jobs": [], "errors": [too_large]},
                status=413,
            )
    return _import_upload_form(request, project)


@csrf_protect
def _import_upload_form(request, project):
    errors = []
    status = 422
    if request.method == "POST":
        upload = request.FILES.get("file")
        if upload is None:
            errors.append("choose a file to import")
        else:
            try:
                job = import_jobs.import_job_start(
                    project=project,
                    upload=upload,
                    corpus_name=request.POST.get("corpus", ""),
                    format=request.POST.get("format", ""),
                    created_by=request.user,
                )
            except import_jobs.UploadQuotaExceeded as refused:
                errors.append(str(refused))
                status = 413
            except ValidationError as error:
                errors.extend(error.messages)
            else:
                return redirect("annotation:import_status", project_id=project.pk, job_id=job.pk)
    jobs = ImportJob.objects.filter(project=project).order_by("-created_at")[:20]
    return render(
        request,
        "annotation/import_upload.html",
        {"project": project, "jobs": jobs, "errors": errors},
        status=status if errors else 200,
    )


@require_GET
@login_required
def import_status(request, project_id: int, job_id: int):
    project, _ = permissions.project_for(request.user, project_id, roles=permissions.LEADS)
    job = get_object_or_404(ImportJob, pk=job_id, project=project)
    return render_polled(
        request, "annotation/import_status.html", "progress", {"project": project, "job": job},
        finished=job.is_final,
    )


@require_http_methods(["GET", "POST"])
@login_required
def batch_list(request, project_id: int):
    project, _ = permissions.project_for(request.user, project_id, roles=permissions.LEADS)
    source = request.POST if request.method == "POST" else request.GET
    selection = source.get("selection", "reviewed")
    if selection not in batches.BATCH_SELECTIONS:
        selection = "reviewed"
    filters = _browse_filters(source)
    items = batches.batch_candidates(project=project, selection=selection, filters=filters)
    errors, status = [], 200
    if request.method == "POST":
        if source.get("confirm") != "on":
            errors.append("tick the box to confirm: a frozen batch can never change")
            status = 422
        else:
            try:
                batch = batches.batch_create_frozen(
                    project=project,
                    name=source.get("name", ""),
                    selection=selection,
                    filters=filters,
                    created_by=request.user,
                )
                return redirect("annotation:batch_detail", project_id=project.pk, batch_id=batch.pk)
            except ValidationError as error:
                errors.extend(error.messages)
                status = 409 if isinstance(error, batches.BatchNameTaken) else 422
    context = {
        "project": project,
        "batches": Batch.objects.filter(project=project).order_by("-created_at"),
        "preview": batches.batch_preview(project=project, items=items),
        "selection": selection,
        "selections": batches.BATCH_SELECTIONS,
        "filters": filters,
        "errors": errors,
        "name": source.get("name", ""),
    }
    if request.htmx and request.method == "GET":
        return render(request, "annotation/batches.html#preview", context)
    return render(request, "annotation/batches.html", context, status=status)


@require_GET
@login_required
def batch_detail(request, project_id: int, batch_id: int):
    project, _ = permissions.project_for(request.user, project_id, roles=permissions.LEADS)
    batch = get_object_or_404(Batch, pk=batch_id, project=project)
    axolotl = exports.axolotl_config_text(batch=batch) if batch.is_frozen else ""
    return render(
        request,
        "annotation/batch_detail.html",
        {"project": project, "batch": batch, "downloads": EXPORT_DOWNLOADS, "axolotl": axolotl},
    )


EXPORT_DOWNLOADS = {
    # url name: (split, kind, label)
    "alpaca-train": ("train", "alpaca", "Alpaca JSON, train"),
    "alpaca-eval": ("eval", "alpaca", "Alpaca JSON, eval"),
    "chat-train": ("train", "chat-jsonl", "Chat messages JSONL, train"),
    "chat-eval": ("eval", "chat-jsonl", "Chat messages JSONL, eval"),
    "dataset-info": ("train", "dataset-info", "LLaMA-Factory dataset_info.json"),
    "parquet-train": ("train", "parquet", "Parquet (Hugging Face datasets), train"),
    "parquet-eval": ("eval", "parquet", "Parquet (Hugging Face datasets), eval"),
    "axolotl": ("train", "axolotl", "axolotl config (YAML)"),
}


@require_GET
@login_required
def batch_export(request, project_id: int, batch_id: int, fmt: str):
    project, _ = permissions.project_for(request.user, project_id, roles=permissions.LEADS)
    batch = get_object_or_404(Batch, pk=batch_id, project=project, status=Batch.FROZEN)
    if fmt not in EXPORT_DOWNLOADS:
        raise Http404(f"unknown export {fmt!r}")
    split, kind, _ = EXPORT_DOWNLOADS[fmt]
    response = StreamingHttpResponse(
        exports.export_chunks(batch=batch, split=split, kind=kind), content_type=exports.CONTENT_TYPES[kind]
    )
    name = exports.file_name(batch=batch, split=split, kind=kind)
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response
