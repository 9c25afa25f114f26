"""The ladder's opinion where people work: the queue's "most informative first" order, the annotators'
suggestion (off by default) and the lead's view of it on the review page."""

import pytest
from django.urls import reverse

from annotation import assignments, services
from annotation.models import Item
from tests.annotation.assignments.test_assignment_claim import make_annotators, make_items


def suggest(project, run_id: int, margins: dict[Item, float], option: str = "extraction") -> int:
    return services.item_suggestions_replace(
        project=project,
        run_id=run_id,
        suggestions={
            item.pk: services.Suggestion(option=option, probability=(1 + margin) / 2, margin=margin)
            for item, margin in margins.items()
        },
    )


def claimed_order(project, count: int) -> list[int]:
    """Item ids in the order annotators get them: one annotator per claim, so no lease ends early."""
    return [
        assignments.assignment_claim_next(project=project, annotator=annotator).item_id
        for annotator in make_annotators(project, count)
    ]


class TestInformativeFirst:
    def test_off_the_queue_keeps_its_order_whatever_the_ladder_thinks(self, project):
        items = make_items(project, 4)
        suggest(project, 1, {items[3]: 0.01, items[2]: 0.5})
        assert claimed_order(project, 4) == [item.pk for item in items]

    def test_on_the_least_certain_items_come_first_then_the_unscored_in_order(self, project):
        items = make_items(project, 5)
        project.informative_first = True
        project.save(update_fields=["informative_first"])
        suggest(project, 1, {items[3]: 0.05, items[1]: 0.9, items[4]: 0.3})
        assert claimed_order(project, 5) == [items[3].pk, items[4].pk, items[1].pk, items[0].pk, items[2].pk]

    def test_items_closer_to_their_overlap_still_come_before_sure_ones(self, project):
        project.informative_first, project.overlap = True, 2
        project.save(update_fields=["informative_first", "overlap"])
        items = make_items(project, 3)
        suggest(project, 1, {items[0]: 0.9, items[1]: 0.1, items[2]: 0.5})
        (first,) = make_annotators(project, 1)
        lease = assignments.assignment_claim_next(project=project, annotator=first)
        assert lease.item_id == items[1].pk
        services.item_annotate(item=lease.item, annotator=first, option="extraction")
        # The half-labelled item first for the next annotator, then by the ladder's margin.
        second = services.user_get_or_create(username="second", password="x-pass-123")
        services.membership_set(project=project, user=second, role="annotator")
        assert assignments.assignment_claim_next(project=project, annotator=second).item_id == items[1].pk


class TestSuggestionsReplace:
    def test_a_later_run_replaces_the_open_items_opinion_and_labelled_items_keep_theirs(self, project, annotator):
        items = make_items(project, 3)
        assert suggest(project, 1, {items[0]: 0.2, items[1]: 0.4, items[2]: 0.6}) == 3
        services.item_annotate(item=items[0], annotator=annotator, option="no_extraction")
        assert suggest(project, 2, {items[1]: 0.7}, option="no_extraction") == 1
        rows = {
            item.pk: (item.suggestion, item.suggestion_run, item.suggestion_margin)
            for item in Item.objects.filter(project=project)
        }
        assert rows[items[0].pk] == ("extraction", 1, 0.2)
        assert rows[items[1].pk] == ("no_extraction", 2, 0.7)
        # Open, but not scored by the latest run: no stale margin to order by.
        assert rows[items[2].pk] == ("", None, None)


@pytest.fixture
def suggested_item(project):
    (item,) = make_items(project, 1)
    suggest(project, 7, {item: 0.35})
    return item


class TestWhoSeesTheSuggestion:
    def test_annotators_see_it_only_when_the_project_says_so(self, client, project, annotator, suggested_item):
        client.force_login(annotator)
        page = client.get(reverse("annotation:label", args=[project.pk])).content.decode()
        assert 'id="suggestion"' not in page and "suggested" not in page
        services.project_settings_update(project=project, suggest_labels=True)
        page = client.get(reverse("annotation:label", args=[project.pk])).content.decode()
        assert 'id="suggestion"' in page and "The ladder suggests <strong>needs extraction from the context</strong>" in page
        assert 'class="option suggested"' in page

    def test_the_lead_always_sees_it_on_the_review_page(self, client, project, lead, suggested_item):
        client.force_login(lead)
        page = client.get(reverse("annotation:item_review", args=[project.pk, suggested_item.pk])).content.decode()
        assert 'id="ladder-suggestion"' in page and "run 7" in page
        assert "annotators were not shown it" in page

    def test_a_lead_turns_both_options_on_in_the_settings_page(self, client, project, lead):
        client.force_login(lead)
        page = client.get(reverse("annotation:project_settings", args=[project.pk])).content.decode()
        assert "Most informative first" in page and "anchors people" in page
        form = {
            "name": project.name, "description": "", "instruction": project.instruction,
            "options": "\n".join(f"{o['key']} | {o['value']} | {o['text']}" for o in project.options),
            "positive_option": project.positive_option, "abstain_options": ", ".join(project.abstain_options),
            "shuffle_options": "on", "context_window": project.context_window,
            "merge_window_seconds": project.merge_window_seconds, "min_chars": project.min_chars,
            "candidate_threshold": project.candidate_threshold, "overlap": project.overlap,
            "lease_seconds": project.lease_seconds, "informative_first": "on", "suggest_labels": "on",
            "label_check": project.label_check, "label_check_folds": project.label_check_folds,
            "label_check_epochs_factor": project.label_check_epochs_factor,
        }
        response = client.post(reverse("annotation:project_settings", args=[project.pk]), form)
        assert response.status_code == 302, response.content.decode()[:2000]
        project.refresh_from_db()
        assert project.informative_first and project.suggest_labels and project.task_version == 1
