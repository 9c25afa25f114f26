"""Error pages that say what was wrong with the request."""

from django.shortcuts import render

from config.params import InvalidParameter


def bad_request(request, exception):
    """The message of the `BadRequest` raised, escaped as any text is.

    422 for a value that is not valid (`config.params`), 400 for a request
    that could not be read at all (Django's own refusals).
    """
    invalid = isinstance(exception, InvalidParameter)
    context = {"message": str(exception), "title": "Invalid input" if invalid else "Bad request"}
    return render(request, "400.html", context, status=422 if invalid else 400)
