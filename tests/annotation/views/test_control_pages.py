"""The lead's control buttons, the controls' badge and accuracy table; the annotator's card gives nothing away."""

from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse

from annotation import services
from annotation.models import Annotation, Item, Membership
from tests.annotation.assignments.test_assignment_claim import make_items
from tests.annotation.controls.builders import claim_and_answer, every_claim_a_control_turn, make_controls


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def reviewed_item(project, annotator, lead) -> Item:
    (item,) = make_items(project, 1)
    label = services.item_annotate(item=item, annotator=annotator, option="extraction")
    client_for(lead).post(
        reverse("annotation:item_review", args=[project.pk, item.pk]),
        {"option": "extraction", "expected_current": label.pk},
    )
    return Item.objects.get(pk=item.pk)


def test_a_lead_uses_a_reviewed_item_as_a_control_and_stops(project, annotator, lead):
    item = reviewed_item(project, annotator, lead)
    review_url = reverse("annotation:item_review", args=[project.pk, item.pk])
    control_url = reverse("annotation:item_control", args=[project.pk, item.pk])
    lead_client = client_for(lead)
    assert "Use as control" in lead_client.get(review_url).content.decode()

    response = lead_client.post(control_url, {"control": "1"})
    assert response.status_code == 302 and response["Location"] == review_url
    assert Item.objects.get(pk=item.pk).control
    page = lead_client.get(review_url).content.decode()
    assert "Stop using as control" in page and "Use as control" not in page
    items_page = lead_client.get(reverse("annotation:item_list", args=[project.pk])).content.decode()
    assert '<span class="tag">control</span>' in items_page

    lead_client.post(control_url, {"control": "0"})
    assert not Item.objects.get(pk=item.pk).control


def test_an_unreviewed_item_has_no_button_and_is_refused(project, annotator, lead):
    (item,) = make_items(project, 1)
    services.item_annotate(item=item, annotator=annotator, option="extraction")
    lead_client = client_for(lead)
    page = lead_client.get(reverse("annotation:item_review", args=[project.pk, item.pk])).content.decode()
    assert "Use as control" not in page
    response = lead_client.post(reverse("annotation:item_control", args=[project.pk, item.pk]), {"control": "1"})
    assert response.status_code == 409 and "is not reviewed" in response.content.decode()
    assert not Item.objects.get(pk=item.pk).control


def test_a_control_value_other_than_1_or_0_is_a_422_naming_the_field(project, annotator, lead):
    item = reviewed_item(project, annotator, lead)
    response = client_for(lead).post(reverse("annotation:item_control", args=[project.pk, item.pk]), {"control": "yes"})
    assert response.status_code == 422 and "control must be 1" in response.content.decode()
    assert not Item.objects.get(pk=item.pk).control


def test_only_leads_may_use_an_item_as_a_control_and_only_with_a_csrf_token(project, annotator, lead):
    item = reviewed_item(project, annotator, lead)
    url = reverse("annotation:item_control", args=[project.pk, item.pk])
    assert client_for(annotator).post(url, {"control": "1"}).status_code == 403
    no_token = Client(enforce_csrf_checks=True)
    no_token.force_login(lead)
    assert no_token.post(url, {"control": "1"}).status_code == 403
    assert not Item.objects.get(pk=item.pk).control


def test_the_agreement_page_shows_each_annotators_accuracy_with_names_escaped(project, lead, monkeypatch):
    every_claim_a_control_turn(project, monkeypatch)
    make_controls(project, lead=lead, count=4)
    hostile = get_user_model().objects.create_user(username="<b>eve</b>")
    services.membership_set(project=project, user=hostile, role=Membership.ANNOTATOR)
    for option in ["extraction", "extraction", "extraction", "no_extraction"]:
        claim_and_answer(project, hostile, option=option)
    page = client_for(lead).get(reverse("annotation:agreement", args=[project.pk])).content.decode()
    assert "4 controls in force" in page and "about 50% of each annotator's items are controls" in page
    assert "<td>&lt;b&gt;eve&lt;/b&gt;</td><td>4</td><td>3</td><td>0.750</td>" in page
    assert "<b>eve</b>" not in page


def test_the_agreement_page_says_when_no_control_is_served(project, lead):
    page = client_for(lead).get(reverse("annotation:agreement", args=[project.pk])).content.decode()
    assert "0 controls in force" in page and "control rate is 0" in page
    assert "No control answered yet." in page


def test_the_card_of_a_control_looks_like_any_fresh_item(project, annotator, lead, monkeypatch):
    every_claim_a_control_turn(project, monkeypatch)
    (control,) = make_controls(project, lead=lead, count=1)
    client = client_for(annotator)
    card = client.get(reverse("annotation:label", args=[project.pk])).content.decode()
    assert f'data-item="{control.pk}"' in card
    assert '"expected_current": ""' in card
    assert "Your current label" not in card
    lease = annotator.assignments.get(item=control)
    response = client.post(
        reverse("annotation:label_submit", args=[project.pk, lease.pk]),
        {"option": "no_extraction", "expected_current": "", "seconds": "2"},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 200 and "Not saved" not in response.content.decode()
    assert Annotation.objects.get(item=control, annotator=annotator).kind == Annotation.CONTROL
    assert Item.objects.get(pk=control.pk).label == "extraction"


def test_the_control_rate_is_set_in_the_admin(project):
    root = get_user_model().objects.create_superuser(username="root", password="root-pass-123")
    page = client_for(root).get(reverse("admin:annotation_project_change", args=[project.pk])).content.decode()
    assert 'name="control_rate"' in page
