"""The lead's preprocessing page: the project's settings, a live preview of the
items they make, and a button that makes them."""

from dataclasses import asdict

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from annotation import permissions, preprocessing
from annotation.preprocessing import SETTING_BOUNDS, PreprocessSettings

TEMPLATE = "annotation/preprocess.html"


def _bounded(field_class, name: str, **options):
    low, high = SETTING_BOUNDS[name]
    return field_class(min_value=low, max_value=high, **options)


class PreprocessForm(forms.Form):
    merge_window_seconds = _bounded(
        forms.FloatField, "merge_window_seconds", label="Merge a sender's messages sent within (seconds)"
    )
    min_chars = _bounded(forms.IntegerField, "min_chars", label="Drop turns shorter than (characters)")
    candidate_threshold = _bounded(
        forms.FloatField, "candidate_threshold", label="Keep candidates scoring at least (0 to 1)"
    )
    context_window = _bounded(forms.IntegerField, "context_window", label="Earlier turns shown as context")

    def preprocess_settings(self) -> PreprocessSettings:
        return PreprocessSettings(**self.cleaned_data)


@require_http_methods(["GET", "POST"])
@login_required
def preprocess(request, project_id: int):
    project, _ = permissions.project_for(request.user, project_id, roles=permissions.LEADS)
    if request.method == "POST":
        form = PreprocessForm(request.POST)
        if form.is_valid():
            result = preprocessing.items_preprocess(project=project, settings=form.preprocess_settings())
            messages.success(request, f"Made {result.created:,} items.")
            return redirect("annotation:project_detail", project_id=project.pk)
    elif any(name in request.GET for name in PreprocessForm.base_fields):
        form = PreprocessForm(request.GET)
    else:
        form = PreprocessForm(initial=asdict(PreprocessSettings.of(project)))
    settings = None
    if not form.is_bound:
        settings = PreprocessSettings.of(project)
    elif form.is_valid():
        settings = form.preprocess_settings()
    context = {
        "project": project,
        "form": form,
        "settings": asdict(settings) if settings else None,
        "preview": preprocessing.items_preview(project=project, settings=settings) if settings else None,
    }
    status = 200 if settings else 422
    if request.htmx and request.method == "GET":
        return render(request, f"{TEMPLATE}#preview", context, status=status)
    return render(request, TEMPLATE, context, status=status)
