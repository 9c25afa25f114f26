"""Error pages that say what was wrong with the request."""

from django.shortcuts import render


def bad_request(request, exception):
    """400: the message of the `BadRequest` raised (by `config.params`), escaped as any text is."""
    return render(request, "400.html", {"message": str(exception)}, status=400)
