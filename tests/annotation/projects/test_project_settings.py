"""Projects and their tasks: made and changed through one service, from the browser and the API alike."""

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse

from annotation import services, task_settings
from annotation.batches import batch_create, batch_freeze
from annotation.models import Batch, BatchItem, Item, Membership, Project
from tests.annotation.assignments.test_assignment_claim import make_items

pytestmark = pytest.mark.django_db

THREE = [
    {"value": "question", "text": "a question", "key": "q"},
    {"value": "work", "text": "a work update", "key": "w"},
    {"value": "small-talk", "text": "small talk", "key": "t"},
]
THREE_LINES = "q | question | a question\nw | work | a work update\nt | small-talk | small talk"


def errors_of(**task) -> dict:
    defaults = {"instruction": "Which kind?", "options": THREE, "positive_option": "", "abstain_options": []}
    return task_settings.task_errors(**{**defaults, **task})


class TestTaskRules:
    def test_a_three_option_task_with_no_positive_is_valid(self):
        assert errors_of() == {}

    @pytest.mark.parametrize(
        ("task", "field", "words"),
        [
            ({"options": THREE[:1]}, "options", "2 to 10 options"),
            ({"options": [*THREE, {"value": "x", "text": "x", "key": "q"}]}, "options", "key 'q' is used twice"),
            ({"options": [*THREE[:2], {"value": "skip-it", "text": "skip", "key": "s"}]}, "options", "reserved for skip"),
            ({"options": [*THREE[:2], {"value": "Bad Value", "text": "b", "key": "b"}]}, "options", "value 'Bad Value'"),
            ({"positive_option": "answer"}, "positive_option", "not one of the options"),
            ({"abstain_options": ["unsure"]}, "abstain_options", "not options: unsure"),
            ({"abstain_options": ["question", "work"]}, "abstain_options", "must be real answers"),
            ({"instruction": "  "}, "instruction", "write the instruction"),
        ],
    )
    def test_each_broken_rule_names_its_field(self, task, field, words):
        errors = errors_of(**task)
        assert field in errors and any(words in message for message in errors[field]), errors

    def test_option_lines_that_do_not_parse_name_their_line(self):
        options, problems = task_settings.options_parse("q | question | a question\n\nw | work")
        assert options == THREE[:1] and problems == [
            "line 3: write 'key | value | text', e.g. 'q | question | a question'"
        ]


class TestService:
    def test_a_blank_template_project_gets_its_own_task_and_its_maker_as_admin(self):
        maker = get_user_model().objects.create_user("maker", is_staff=True)
        project = services.project_create(
            name="Kinds", template=task_settings.BLANK, created_by=maker,
            instruction="Which kind of message?", options=THREE, positive_option="", abstain_options=[],
        )
        assert project.metric_name == "macro-F1" and project.option_values == ["question", "work", "small-talk"]
        assert Membership.objects.get(project=project, user=maker).role == Membership.ADMIN

    def test_a_blank_template_without_options_is_refused_and_nothing_is_made(self):
        with pytest.raises(ValidationError) as refused:
            services.project_create(name="Empty", template=task_settings.BLANK)
        assert {"instruction", "options"} <= set(refused.value.message_dict)
        assert not Project.objects.filter(name="Empty").exists()

    def test_a_task_change_after_a_freeze_is_a_new_version_and_the_frozen_batch_keeps_its_records(
        self, project, lead
    ):
        items = make_items(project, 6)
        for item in items:
            services.item_annotate(item=item, annotator=lead, option="extraction")
        frozen = batch_freeze(batch=batch_create(project=project, name="before", items=Item.objects.all()))
        records = list(BatchItem.objects.filter(batch=frozen).order_by("position").values_list("record", flat=True))
        draft = batch_create(project=project, name="draft", items=Item.objects.all())

        change = services.project_settings_update(project=project, instruction="A new instruction.")

        assert change.new_task_version == 2 and Project.objects.get(pk=project.pk).task_version == 2
        assert records == list(
            BatchItem.objects.filter(batch=frozen).order_by("position").values_list("record", flat=True)
        )
        with pytest.raises(ValidationError, match="the task changed since draft 'draft' was made"):
            batch_freeze(batch=draft)
        assert Batch.objects.get(pk=draft.pk).status == Batch.DRAFT
        remade = batch_freeze(batch=batch_create(project=project, name="after", items=Item.objects.all()))
        assert remade.task_version == 2
        assert all(
            record.startswith('{"instruction": "A new instruction.')
            for record in BatchItem.objects.filter(batch=remade).values_list("record", flat=True)
        )
        # Another change before any batch of version 2 is frozen… is version 3: one was frozen under 2.
        assert services.project_settings_update(project=project, shuffle_options=False).new_task_version == 3
        assert services.project_settings_update(project=project, overlap=2).new_task_version is None

    def test_removing_an_option_sends_its_labels_back_for_recheck(self, project, lead):
        items = make_items(project, 4)
        for item, option in zip(items, ["extraction", "extraction", "no_extraction", "dont_know"]):
            services.item_annotate(item=item, annotator=lead, option=option)
        options = [option for option in project.options if option["value"] != "extraction"]
        options.append({"value": "needs-context", "text": "needs the context", "key": "k"})
        change = services.project_settings_update(
            project=project, options=options, positive_option="needs-context"
        )
        assert change.flagged_for_recheck == 2
        assert set(Item.objects.filter(needs_recheck=True).values_list("label", flat=True)) == {"extraction"}

    def test_an_invalid_change_changes_nothing(self, project):
        with pytest.raises(ValidationError) as refused:
            services.project_settings_update(project=project, positive_option="nope", instruction="Changed")
        assert "positive_option" in refused.value.message_dict
        assert Project.objects.get(pk=project.pk).instruction == project.instruction


def form_data(**changes) -> dict:
    data = {
        "name": "Kinds of message", "template": task_settings.BLANK, "description": "",
        "instruction": "Which kind of message is this?", "options": THREE_LINES, "positive_option": "",
        "abstain_options": "", "shuffle_options": "", "context_window": "5", "merge_window_seconds": "18",
        "min_chars": "3", "candidate_threshold": "0", "overlap": "1", "lease_seconds": "600",
        "label_check": Project.LABEL_CHECK_NOT_MONOTONE, "label_check_folds": "3", "label_check_epochs_factor": "2",
    }
    data.update(changes)
    return {key: value for key, value in data.items() if value is not None}


class TestPages:
    def staff(self) -> Client:
        client = Client(enforce_csrf_checks=False)
        client.force_login(get_user_model().objects.create_user("site-staff", is_staff=True))
        return client

    def test_staff_make_a_three_option_project_and_go_on_to_import(self):
        client = self.staff()
        assert client.get(reverse("annotation:project_new")).status_code == 200
        response = client.post(reverse("annotation:project_new"), form_data())
        project = Project.objects.get(name="Kinds of message")
        assert response.status_code == 302
        assert response["Location"] == reverse("annotation:import_upload", args=[project.pk])
        assert project.options == THREE and project.metric_name == "macro-F1" and not project.shuffle_options
        assert (project.context_window, project.min_chars, project.candidate_threshold) == (5, 3, 0.0)

    def test_the_built_in_template_fills_what_is_left_empty(self):
        self.staff().post(
            reverse("annotation:project_new"),
            form_data(name="Context", template=task_settings.BUILT_IN, instruction="", options=""),
        )
        project = Project.objects.get(name="Context")
        assert project.options == task_settings.TEMPLATES[task_settings.BUILT_IN]["options"]
        assert project.positive_option == "extraction"

    @pytest.mark.parametrize(
        ("changes", "field"),
        [
            ({"options": "s | skip-it | skip\nw | work | work"}, "options"),
            ({"options": "q | question | a question\nq | other | other"}, "options"),
            ({"positive_option": "answer"}, "positive_option"),
            ({"candidate_threshold": "nan"}, "candidate_threshold"),
            ({"overlap": "99999999999999999999"}, "overlap"),
            ({"merge_window_seconds": "1e999"}, "merge_window_seconds"),
            ({"label_check": "sometimes"}, "label_check"),
            ({"label_check_folds": "1"}, "label_check_folds"),
            ({"label_check_epochs_factor": "0"}, "label_check_epochs_factor"),
        ],
    )
    def test_bad_fields_answer_422_naming_the_field_and_make_nothing(self, changes, field):
        response = self.staff().post(reverse("annotation:project_new"), form_data(**changes))
        assert response.status_code == 422
        assert f'data-field="{field}"' in response.content.decode()
        assert not Project.objects.filter(name="Kinds of message").exists()

    def test_only_staff_make_projects_and_the_form_needs_its_csrf_token(self, annotator):
        client = Client()
        client.force_login(annotator)
        assert client.get(reverse("annotation:project_new")).status_code == 403
        strict = Client(enforce_csrf_checks=True)
        strict.force_login(get_user_model().objects.create_user("staff-2", is_staff=True))
        assert strict.post(reverse("annotation:project_new"), form_data()).status_code == 403
        assert not Project.objects.filter(name="Kinds of message").exists()

    def test_a_lead_changes_settings_and_is_told_what_it_did(self, project, lead, annotator):
        url = reverse("annotation:project_settings", args=[project.pk])
        client = Client()
        client.force_login(lead)
        page = client.get(url).content.decode()
        assert "j | no_extraction | no extraction needed" in page
        data = form_data(name=project.name, template=None, options=task_settings.options_text(project.options),
                         positive_option="extraction", abstain_options="dont_know", overlap="2",
                         label_check=Project.LABEL_CHECK_EVERY_FREEZE, label_check_folds="2",
                         label_check_epochs_factor="1.5")
        response = client.post(url, data, follow=True)
        saved = Project.objects.get(pk=project.pk)
        assert response.status_code == 200 and saved.overlap == 2
        assert (saved.label_check, saved.label_check_folds, saved.label_check_epochs_factor) == (
            Project.LABEL_CHECK_EVERY_FREEZE, 2, 1.5
        )
        assert "Saved:" in response.content.decode()
        other = Client()
        other.force_login(annotator)
        assert other.get(url).status_code == 403 and other.post(url, data).status_code == 403
