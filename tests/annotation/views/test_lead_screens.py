"""The lead's screens: who may see them, review conflicts, guidelines, members."""

import pytest
from django.test import Client
from django.urls import reverse

from annotation import services
from annotation.models import Annotation, Item, Membership
from tests.annotation.assignments.test_assignment_claim import make_items


@pytest.fixture
def admin_user(project):
    user = services.user_get_or_create(username="boss", password="boss-pass-123")
    services.membership_set(project=project, user=user, role=Membership.ADMIN)
    return user


@pytest.fixture
def outsider(db):
    return services.user_get_or_create(username="stranger", password="stranger-pass-123")


def client_for(user):
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


LEAD_PAGES = ["annotation:item_list", "annotation:agreement"]


@pytest.mark.parametrize("name", LEAD_PAGES)
def test_lead_pages_are_for_leads_and_admins_only(name, project, annotator, lead, admin_user, outsider):
    url = reverse(name, args=[project.pk])
    assert client_for(lead).get(url).status_code == 200
    assert client_for(admin_user).get(url).status_code == 200
    assert client_for(annotator).get(url).status_code == 403
    assert client_for(outsider).get(url).status_code == 403
    anonymous = client_for(None).get(url)
    assert anonymous.status_code == 302 and "/login/" in anonymous["Location"]


def test_members_page_is_for_admins_only(project, lead, admin_user):
    url = reverse("annotation:members", args=[project.pk])
    assert client_for(admin_user).get(url).status_code == 200
    assert client_for(lead).get(url).status_code == 403
    assert client_for(lead).post(url, {"username": "lead", "role": "admin"}).status_code == 403
    assert Membership.objects.get(project=project, user=lead).role == Membership.LEAD


def test_an_admin_adds_changes_and_removes_members(project, admin_user, outsider):
    url = reverse("annotation:members", args=[project.pk])
    client = client_for(admin_user)
    client.post(url, {"username": "stranger", "role": "annotator"})
    assert Membership.objects.get(project=project, user=outsider).role == "annotator"
    client.post(url, {"username": "stranger", "role": "lead"})
    assert Membership.objects.get(project=project, user=outsider).role == "lead"
    client.post(url, {"username": "stranger", "action": "remove"})
    assert not Membership.objects.filter(project=project, user=outsider).exists()
    response = client.post(url, {"username": "nobody", "role": "lead"})
    assert response.status_code == 422 and "no user named" in response.content.decode()
    assert not Membership.objects.filter(project=project, user__username="nobody").exists()


def test_an_invited_person_sets_a_password_once_and_logs_in(project, admin_user):
    import re

    url = reverse("annotation:members", args=[project.pk])
    page = client_for(admin_user).post(url, {"username": "newbie", "role": "annotator", "action": "invite"})
    link = re.search(r'value="(http://testserver/invite/[^"]+)"', page.content.decode()).group(1)
    newbie = Membership.objects.select_related("user").get(project=project, user__username="newbie").user
    assert not newbie.has_usable_password()
    visitor = Client()
    form = visitor.get(link, follow=True)
    assert form.status_code == 200 and "Choose a password" in form.content.decode()
    password = "a-long-new-password-42"
    done = visitor.post(form.redirect_chain[-1][0], {"new_password1": password, "new_password2": password})
    assert done.status_code == 302
    logged_in = Client().post(reverse("login"), {"username": "newbie", "password": password})
    assert logged_in.status_code == 302 and "/login/" not in logged_in["Location"]
    again = Client().get(link, follow=True).content.decode()
    assert "has been used or has expired" in again
    taken = client_for(admin_user).post(url, {"username": "newbie", "role": "lead", "action": "invite"})
    assert taken.status_code == 422 and "already has an account" in taken.content.decode()
    assert Membership.objects.get(project=project, user=newbie).role == Membership.ANNOTATOR


def test_posts_without_a_csrf_token_are_refused(project, admin_user):
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin_user)
    response = client.post(reverse("annotation:members", args=[project.pk]), {"username": "boss", "role": "lead"})
    assert response.status_code == 403
    assert Membership.objects.get(project=project, user=admin_user).role == Membership.ADMIN


def test_the_item_browser_filters_and_escapes(project, annotator, lead):
    items = make_items(project, 3)
    Item.objects.filter(pk=items[0].pk).update(text="<b>bold</b> question about redis?")
    services.item_annotate(item=items[0], annotator=annotator, option="extraction")
    url = reverse("annotation:item_list", args=[project.pk])
    page = client_for(lead).get(url, {"label": "extraction"}).content.decode()
    assert "1 items" in page
    assert "&lt;b&gt;bold&lt;/b&gt;" in page and "<b>bold</b>" not in page
    assert "1 items" in client_for(lead).get(url, {"q": "REDIS"}).content.decode()
    assert "2 items" in client_for(lead).get(url, {"label": "none"}).content.decode()
    assert "1 items" in client_for(lead).get(url, {"annotator": "ann"}).content.decode()


def test_disagreement_filter_finds_items_whose_annotators_differ(project, lead):
    project.overlap = 2
    project.save()
    items = make_items(project, 2)
    users = [services.user_get_or_create(username=f"u{n}", password="u-pass-1234") for n in range(2)]
    for item, options in zip(items, [("extraction", "no_extraction"), ("extraction", "extraction")]):
        for user, option in zip(users, options):
            services.item_annotate(item=item, annotator=user, option=option)
    page = client_for(lead).get(reverse("annotation:item_list", args=[project.pk]), {"disagreement": "1"})
    assert "1 items" in page.content.decode()


def test_two_leads_saving_the_same_item_the_second_gets_409_and_a_merge_view(project, annotator, lead):
    (item,) = make_items(project, 1)
    label = services.item_annotate(item=item, annotator=annotator, option="extraction")
    other = services.user_get_or_create(username="lead2", password="lead2-pass-123")
    services.membership_set(project=project, user=other, role=Membership.LEAD)
    url = reverse("annotation:item_review", args=[project.pk, item.pk])
    first = client_for(lead).post(url, {"option": "no_extraction", "reason": "nothing to extract", "expected_current": label.pk})
    assert first.status_code == 302
    second = client_for(other).post(url, {"option": "dont_know", "reason": "unclear to me", "expected_current": label.pk})
    assert second.status_code == 409
    body = second.content.decode()
    assert "Theirs (now current)" in body and "nothing to extract" in body and "unclear to me" in body
    assert Annotation.objects.filter(item=item).count() == 2


def test_an_annotator_cannot_review(project, annotator):
    (item,) = make_items(project, 1)
    url = reverse("annotation:item_review", args=[project.pk, item.pk])
    assert client_for(annotator).post(url, {"option": "extraction"}).status_code == 403
    assert not Annotation.objects.filter(item=item).exists()


def test_a_new_guideline_version_sends_older_labels_back_for_recheck(project, annotator, lead):
    items = make_items(project, 2)
    services.item_annotate(item=items[0], annotator=annotator, option="extraction")
    url = reverse("annotation:guidelines", args=[project.pk])
    assert client_for(annotator).post(url, {"text": "new rules"}).status_code == 403
    client_for(lead).post(url, {"text": "Pronouns with no referent: no extraction.", "recheck": "on"})
    project.refresh_from_db()
    assert project.guideline_version == 2
    assert list(Item.objects.filter(needs_recheck=True).values_list("pk", flat=True)) == [items[0].pk]
    later = services.item_annotate(item=items[1], annotator=annotator, option="extraction")
    assert later.guideline_version == 2
    assert "Pronouns with no referent" in client_for(annotator).get(url).content.decode()


def test_a_project_is_invisible_to_outsiders(project, outsider, annotator):
    assert client_for(outsider).get(reverse("annotation:project_detail", args=[project.pk])).status_code == 403
    assert project.name not in client_for(outsider).get(reverse("annotation:project_list")).content.decode()
    assert project.name in client_for(annotator).get(reverse("annotation:project_list")).content.decode()
    assert client_for(outsider).get(reverse("annotation:label", args=[project.pk])).status_code == 403
