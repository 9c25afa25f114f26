"""The project form: one set of fields for a new project and a project's settings."""

from django import forms

from annotation import task_settings
from annotation.models import (
    LABEL_CHECK_MAX_EPOCHS_FACTOR,
    LABEL_CHECK_MAX_FOLDS,
    LABEL_CHECK_MIN_EPOCHS_FACTOR,
    LABEL_CHECK_MIN_FOLDS,
    Project,
)
from annotation.preprocessing import SETTING_BOUNDS


class ProjectForm(forms.Form):
    name = forms.CharField(max_length=200)
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    instruction = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text="What the models and the annotators read before each message.",
    )
    options = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 5}),
        help_text=(
            "One option per line: key | value | text, e.g. 'q | question | a question'. The key labels "
            "with one keystroke (s, u and ? are taken); the value is what labels store."
        ),
    )
    positive_option = forms.CharField(
        required=False,
        max_length=64,
        help_text="The value that counts as positive for precision, recall and F1; blank scores by macro-F1.",
    )
    abstain_options = forms.CharField(
        required=False,
        help_text="Values that mean “don't know”, comma-separated: never a right answer.",
    )
    shuffle_options = forms.BooleanField(
        required=False, help_text="Letter each item's options in its own shuffled order."
    )
    context_window = forms.IntegerField(
        min_value=SETTING_BOUNDS["context_window"][0], max_value=SETTING_BOUNDS["context_window"][1],
        help_text="Earlier turns shown with a message.",
    )
    merge_window_seconds = forms.FloatField(
        min_value=SETTING_BOUNDS["merge_window_seconds"][0], max_value=SETTING_BOUNDS["merge_window_seconds"][1],
        help_text="A sender's messages this close together merge into one turn.",
    )
    min_chars = forms.IntegerField(
        min_value=SETTING_BOUNDS["min_chars"][0], max_value=SETTING_BOUNDS["min_chars"][1],
        help_text="Shorter turns are left out.",
    )
    candidate_threshold = forms.FloatField(
        min_value=SETTING_BOUNDS["candidate_threshold"][0], max_value=SETTING_BOUNDS["candidate_threshold"][1],
        help_text="Turns the candidate rule scores below this are not items (0 keeps all).",
    )
    overlap = forms.IntegerField(min_value=1, max_value=10, help_text="Annotators who label each item.")
    lease_seconds = forms.IntegerField(
        min_value=30, max_value=86400, help_text="How long a claimed item stays with its annotator."
    )
    informative_first = forms.BooleanField(
        required=False,
        label="Most informative first",
        help_text="Order each queue by the latest run: the items its largest models are least sure of first.",
    )
    suggest_labels = forms.BooleanField(
        required=False,
        label="Show the ladder's suggestion to annotators",
        help_text=(
            "Off by default: a suggestion anchors people towards it, and labels that follow it teach the "
            "models nothing new. Leads always see it on the review page."
        ),
    )
    label_check = forms.ChoiceField(
        choices=Project.LABEL_CHECK_CHOICES,
        initial=Project._meta.get_field("label_check").default,
        label="Check every label",
        help_text="When the ladder's judging rungs also fine-tune on folds of the train split to judge every label.",
    )
    label_check_folds = forms.IntegerField(
        min_value=LABEL_CHECK_MIN_FOLDS, max_value=LABEL_CHECK_MAX_FOLDS,
        initial=Project._meta.get_field("label_check_folds").default, label="Label check: folds",
        help_text="Each judging rung trains once per fold; fewer folds cost less and train each judge on less.",
    )
    label_check_epochs_factor = forms.FloatField(
        min_value=LABEL_CHECK_MIN_EPOCHS_FACTOR, max_value=LABEL_CHECK_MAX_EPOCHS_FACTOR,
        initial=Project._meta.get_field("label_check_epochs_factor").default, label="Label check: epochs factor",
        help_text="The judges' epochs as a multiple of the ladder's: judges fitted well contradict fewer right labels.",
    )

    def clean_options(self) -> list[dict]:
        options, problems = task_settings.options_parse(self.cleaned_data["options"])
        if problems:
            raise forms.ValidationError(problems)
        return options

    def clean_abstain_options(self) -> list[str]:
        return [value.strip() for value in self.cleaned_data["abstain_options"].split(",") if value.strip()]

    @classmethod
    def initial_for(cls, project) -> dict:
        """The form's values for an existing project."""
        return {
            **{field: getattr(project, field) for field in cls.base_fields if hasattr(project, field)},
            "options": task_settings.options_text(project.options),
            "abstain_options": ", ".join(project.abstain_options),
        }


class NewProjectForm(ProjectForm):
    template = forms.ChoiceField(
        choices=task_settings.TEMPLATE_CHOICES,
        initial=task_settings.BUILT_IN,
        help_text="The built-in task fills the instruction and options you leave empty.",
    )
    field_order = ["name", "template"]

    def settings(self) -> dict:
        """The fields for `services.project_create`: what the form left empty comes from the template."""
        data = dict(self.cleaned_data)
        template = task_settings.TEMPLATES[data["template"]]
        if not data["instruction"].strip():
            data["instruction"] = template["instruction"]
        if not data["options"]:
            data["options"] = template["options"]
            data["positive_option"] = data["positive_option"] or template["positive_option"]
            data["abstain_options"] = data["abstain_options"] or template["abstain_options"]
        return data
