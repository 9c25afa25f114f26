"""Malformed, huge and non-finite numbers in query strings, forms and JSON bodies:
each answers 422 naming the field (409 for a name taken at the same moment) and
changes nothing; none reaches the database as a failed query (a 500)."""

import pytest
from django.test import Client
from django.urls import reverse
from django.utils.html import escape

from annotation import assignments, services
from annotation.batches import batch_create, batch_freeze
from annotation.models import Annotation, Item
from annotation.preprocessing import items_preprocess
from api.tokens import api_token_create
from tests.annotation.factories import make_chat
from training.models import Ladder, Rung, Run

HUGE = "99999999999999999999"  # 20 digits: more than PostgreSQL's bigint holds


@pytest.fixture
def labelled(project, lead):
    for index in range(3):
        make_chat(project, f"c{index}", [("amy", 0, "the cache is cold"), ("bo", 40, f"is it the ttl {index}?")])
    items_preprocess(project=project)
    # One item is left unlabelled, for an annotator's lease.
    first_two = Item.objects.filter(project=project).order_by("id")[:2]
    for item in first_two:
        services.item_annotate(item=item, annotator=lead, option="extraction")
    return Item.objects.filter(pk__in=[item.pk for item in first_two])


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.mark.parametrize("page", ["annotation:item_list", "annotation:batch_list"])
@pytest.mark.parametrize("field", ["batch", "guideline"])
@pytest.mark.parametrize("value", ["abc", "1.5", "-1", "²", HUGE])
def test_a_filter_that_is_not_an_id_is_422_naming_it(project, lead, labelled, page, field, value):
    response = client_for(lead).get(reverse(page, args=[project.pk]), {field: value})
    assert response.status_code == 422
    assert f"{field} must be an id" in response.content.decode()


def test_the_422_page_shows_the_value_escaped(project, lead):
    response = client_for(lead).get(reverse("annotation:item_list", args=[project.pk]), {"batch": "<b>x"})
    assert response.status_code == 422
    html = response.content.decode()
    assert "<b>x" not in html and escape("'<b>x'") in html


@pytest.mark.parametrize("field", ["run", "batch"])
@pytest.mark.parametrize("value", ["abc", "²"])
def test_the_verdict_banner_refuses_an_id_that_is_not_one(project, lead, field, value):
    response = client_for(lead).get(reverse("scaling:verdict_banner", args=[project.pk]), {field: value})
    assert response.status_code == 422 and f"{field} must be an id" in response.content.decode()


@pytest.mark.parametrize("seconds", ["1e999", "inf", "-inf", "nan", "-1", "86401", "abc"])
def test_a_label_with_an_impossible_time_is_refused_and_saves_nothing(project, annotator, labelled, seconds):
    lease = assignments.assignment_claim_next(project=project, annotator=annotator)
    before = Annotation.objects.count()
    response = client_for(annotator).post(
        reverse("annotation:label_submit", args=[project.pk, lease.pk]), {"option": "extraction", "seconds": seconds}
    )
    assert response.status_code == 422
    assert "seconds must be a number from 0 to 86400" in response.content.decode()
    assert Annotation.objects.count() == before


def test_a_label_refused_quotes_what_was_posted_as_text_never_as_markup(project, annotator, labelled):
    lease = assignments.assignment_claim_next(project=project, annotator=annotator)
    response = client_for(annotator).post(
        reverse("annotation:label_submit", args=[project.pk, lease.pk]), {"option": "<img src=x onerror=alert(1)>"}
    )
    assert response.status_code == 422 and response["Content-Type"].startswith("text/plain")
    assert "is not an option" in response.content.decode()


def test_a_label_with_a_real_time_is_saved(project, annotator, labelled):
    lease = assignments.assignment_claim_next(project=project, annotator=annotator)
    response = client_for(annotator).post(
        reverse("annotation:label_submit", args=[project.pk, lease.pk]), {"option": "extraction", "seconds": "4.5"}
    )
    assert response.status_code == 200
    assert Annotation.objects.filter(annotator=annotator).get().seconds_spent == 4.5


def test_a_review_based_on_a_revision_that_is_not_an_id_is_422_naming_it(project, lead, labelled):
    item = labelled.first()
    response = client_for(lead).post(
        reverse("annotation:item_review", args=[project.pk, item.pk]),
        {"option": "extraction", "expected_current": "abc"},
    )
    assert response.status_code == 422 and "expected_current must be an id" in response.content.decode()
    assert not Annotation.objects.filter(kind=Annotation.REVIEW_ACCEPT).exists()


class TestNonFiniteNumbersInJson:
    """Python's json module reads NaN, Infinity and 1e999 (as inf); the API refuses them."""

    @pytest.fixture
    def token(self, lead):
        return api_token_create(user=lead)[1]

    def post(self, token, path, body: str):
        return Client().post(path, body, content_type="application/json", headers={"Authorization": f"Bearer {token}"})

    @pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e999"])
    def test_a_run_with_a_non_finite_hyperparameter_is_422_naming_it(self, project, labelled, token, number):
        batch = batch_freeze(batch=batch_create(project=project, name="b", items=labelled))
        ladder = Ladder.objects.create(name="l")
        Rung.objects.create(ladder=ladder, order=0, name="r", checkpoint_path="/x", parameters=1)
        ladder.projects.add(project)
        body = f'{{"batch_id": {batch.pk}, "ladder_id": {ladder.pk}, "hyperparameters": {{"learning_rate": {number}}}}}'
        response = self.post(token, f"/api/v1/projects/{project.pk}/runs", body)
        assert response.status_code == 422, response.content
        assert response.json()["errors"] == {"hyperparameters.learning_rate": [
            "must be a finite number (NaN, Infinity and 1e999 are not)"
        ]}
        assert not Run.objects.exists()

    @pytest.mark.parametrize("number", ["NaN", "Infinity", "1e999"])
    def test_a_label_with_a_non_finite_time_is_422_naming_it(self, project, annotator, labelled, number):
        lease = assignments.assignment_claim_next(project=project, annotator=annotator)
        before = Annotation.objects.count()
        response = self.post(
            api_token_create(user=annotator)[1], f"/api/v1/projects/{project.pk}/assignments/{lease.pk}/label",
            f'{{"option": "extraction", "seconds": {number}}}',
        )
        assert response.status_code == 422
        assert "finite" in response.json()["errors"]["seconds"][0]
        assert Annotation.objects.count() == before

    def test_a_non_finite_number_deep_in_a_list_is_named_by_its_path(self, project, token):
        response = self.post(token, f"/api/v1/projects/{project.pk}/batches", '{"name": "b", "x": [1, {"y": NaN}]}')
        assert response.status_code == 422 and list(response.json()["errors"]) == ["x.1.y"]


@pytest.mark.parametrize("page, field", [("runs:run_rerun", "rung"), ("runs:batch_run_start", "ladder")])
def test_a_posted_choice_that_only_looks_like_digits_is_no_choice(project, lead, labelled, page, field):
    batch = batch_freeze(batch=batch_create(project=project, name="b", items=labelled))
    ladder = Ladder.objects.create(name="l")
    Rung.objects.create(ladder=ladder, order=0, name="r", checkpoint_path="/x", parameters=1)
    run = Run.objects.create(batch=batch, ladder=ladder, code_version="v", config_hash="c" * 64)
    target = run.pk if page == "runs:run_rerun" else batch.pk
    response = client_for(lead).post(reverse(page, args=[project.pk, target]), {field: "²"})
    assert response.status_code == 422 and "choose" in response.content.decode()


class TestTheApiAnswersAsThePagesDo:
    """The same values through the API: 422 naming the field; 400 only for a body that is not JSON at all."""

    @pytest.fixture
    def get(self, lead):
        token = api_token_create(user=lead)[1]
        return lambda path, query: Client().get(path, query, headers={"Authorization": f"Bearer {token}"})

    @pytest.mark.parametrize("field", ["batch", "guideline"])
    @pytest.mark.parametrize("value", ["abc", "1.5", "-1", HUGE])
    def test_an_item_filter_that_is_not_an_id_is_422_naming_it(self, project, labelled, get, field, value):
        response = get(f"/api/v1/projects/{project.pk}/items", {field: value})
        assert response.status_code == 422, response.content
        assert list(response.json()["errors"]) == [field]

    @pytest.mark.parametrize("value", ["abc", HUGE])
    def test_runs_of_a_batch_that_is_not_an_id_are_422_naming_it(self, project, get, value):
        response = get(f"/api/v1/projects/{project.pk}/runs", {"batch_id": value})
        assert response.status_code == 422 and list(response.json()["errors"]) == ["batch_id"]

    @pytest.mark.parametrize("body", ["{not json", '{"name": "b",', "\udcff"])
    def test_a_body_that_is_not_json_is_400(self, project, lead, body):
        token = api_token_create(user=lead)[1]
        response = Client().post(
            f"/api/v1/projects/{project.pk}/batches", body.encode("utf-8", "surrogateescape"),
            content_type="application/json", headers={"Authorization": f"Bearer {token}"},
        )
        assert response.status_code == 400, response.content
        assert list(response.json()["errors"]) == ["body"]
