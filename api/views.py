"""A user's own API tokens: list, make (the key shown once) and revoke."""

from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from api import selectors, tokens
from api.forms import ApiTokenForm
from api.models import ApiToken


@require_http_methods(["GET", "POST"])
@login_required
def token_list(request):
    form = ApiTokenForm(request.POST if request.method == "POST" else None)
    new_key = None
    if form.is_bound and form.is_valid():
        try:
            _, new_key = tokens.api_token_create(
                user=request.user, name=form.cleaned_data["name"], days=form.cleaned_data["days"]
            )
        except ValidationError as error:
            form.add_error(None, error)
        else:
            form = ApiTokenForm()
    context = {"form": form, "tokens": selectors.api_tokens_of(user=request.user), "new_key": new_key}
    response = render(request, "api/tokens.html", context, status=422 if form.errors else 200)
    # The page may hold a key that must not be kept in any cache.
    response["Cache-Control"] = "no-store"
    return response


@require_POST
@login_required
def token_revoke(request, token_id: int):
    try:
        token = selectors.api_token_of(user=request.user, token_id=token_id)
    except ApiToken.DoesNotExist:
        raise Http404("you have no API token with this id")
    tokens.api_token_revoke(token=token)
    return redirect("api_tokens:list")
