"""Pages whose fragment htmx polls until the work behind it is done."""

from django.shortcuts import render
from django_htmx.http import HttpResponseStopPolling


def render_polled(request, template: str, fragment: str, context: dict, *, finished: bool):
    """The full page, or for htmx the fragment; a finished fragment answers 286 to stop polling."""
    if not request.htmx:
        return render(request, template, context)
    response = render(request, f"{template}#{fragment}", context)
    if finished:
        response.status_code = HttpResponseStopPolling.status_code
    return response
