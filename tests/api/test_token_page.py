"""The page where a logged-in user lists, makes and revokes their own API tokens."""

import pytest
from django.test import Client
from django.urls import reverse

from annotation import services
from api.models import ApiToken
from api.tokens import api_token_create, api_token_user

PAGE = reverse("api_tokens:list")


def revoke_url(token) -> str:
    return reverse("api_tokens:revoke", args=[token.pk])


@pytest.fixture
def other(db):
    return services.user_get_or_create(username="olga", password="olga-pass-123")


@pytest.fixture
def browser(annotator):
    client = Client()
    client.force_login(annotator)
    return client


def test_the_page_lists_only_your_tokens_and_never_their_keys(browser, annotator, other):
    mine, my_key = api_token_create(user=annotator, name="nightly export")
    _, their_key = api_token_create(user=other, name="olga's laptop")
    page = browser.get(PAGE)
    assert page.status_code == 200
    html = page.content.decode()
    assert "nightly export" in html and mine.prefix in html and "never" in html
    assert "olga&#x27;s laptop" not in html and "olga's laptop" not in html
    assert my_key not in html and mine.key_hash not in html and their_key not in html


def test_making_a_token_shows_its_key_once(browser, annotator):
    response = browser.post(PAGE, {"name": "ci", "days": "30"})
    assert response.status_code == 200 and response["Cache-Control"] == "no-store"
    key = response.context["new_key"]
    assert key in response.content.decode()
    token = ApiToken.objects.get(user=annotator)
    assert api_token_user(key=key) == annotator and token.name == "ci"
    assert key not in browser.get(PAGE).content.decode()


def test_a_lifetime_out_of_bounds_is_refused_naming_the_field_and_makes_nothing(browser):
    response = browser.post(PAGE, {"name": "ci", "days": "9999"})
    assert response.status_code == 422
    assert "less than or equal to 366" in response.content.decode()
    assert not ApiToken.objects.exists()


def test_names_are_escaped(browser, annotator):
    api_token_create(user=annotator, name="<script>alert(1)</script>")
    html = browser.get(PAGE).content.decode()
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_revoking_your_token_stops_its_key(browser, annotator):
    token, key = api_token_create(user=annotator)
    response = browser.post(revoke_url(token))
    assert response.status_code == 302 and response["Location"] == PAGE
    assert not ApiToken.objects.filter(pk=token.pk).exists()
    assert api_token_user(key=key) is None


def test_another_users_token_cannot_be_revoked_and_is_not_found(browser, other):
    theirs, key = api_token_create(user=other)
    assert browser.post(revoke_url(theirs)).status_code == 404
    assert browser.post(reverse("api_tokens:revoke", args=[10**19])).status_code == 404
    assert api_token_user(key=key) == other


def test_revoking_takes_a_post_with_a_csrf_token(annotator):
    token, _ = api_token_create(user=annotator)
    client = Client(enforce_csrf_checks=True)
    client.force_login(annotator)
    assert client.get(revoke_url(token)).status_code == 405
    assert client.post(revoke_url(token)).status_code == 403
    assert client.post(PAGE, {"name": "x", "days": "1"}).status_code == 403
    assert ApiToken.objects.filter(user=annotator).count() == 1


def test_the_page_needs_a_login(annotator):
    token, _ = api_token_create(user=annotator)
    response = Client().get(PAGE)
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))
    assert Client().post(revoke_url(token)).status_code == 302
    assert ApiToken.objects.filter(pk=token.pk).exists()


def test_the_top_bar_links_to_the_page(browser):
    assert f'href="{PAGE}"' in browser.get(reverse("annotation:project_list")).content.decode()
