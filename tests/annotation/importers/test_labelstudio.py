import json
from datetime import UTC, datetime

from annotation.importers import messages_import
from annotation.models import Message
from tests.annotation.importers.conftest import FIXTURES, rejected


class TestImport:
    def test_tasks_with_and_without_message_fields(self, project):
        result = messages_import(project=project, path=FIXTURES / "labelstudio.json")

        assert (result.format, result.added) == ("labelstudio", 3)
        full = Message.objects.get(external_id="101")
        assert (full.chat.external_id, full.sender) == ("ops", "carol")
        assert full.sent_at == datetime(2024, 2, 1, 12, 0, tzinfo=UTC)
        # The annotations become labels (test_labelstudio_labels), not metadata.
        assert full.metadata == {"source": "helpdesk", "labelstudio": {"task_id": 101}}
        bare = Message.objects.get(external_id="102")
        assert (bare.chat.external_id, bare.sender) == ("labelstudio", "unknown")
        # A time from the task's position, a minute apart.
        assert bare.sent_at == datetime(1970, 1, 1, 0, 1, tzinfo=UTC)
        third = Message.objects.get(external_id="ext-7")
        assert third.sent_at == datetime(1970, 1, 1, 0, 2, tzinfo=UTC)

    def test_reimport_adds_nothing(self, project):
        messages_import(project=project, path=FIXTURES / "labelstudio.json")

        result = messages_import(project=project, path=FIXTURES / "labelstudio.json")

        assert (result.added, result.skipped) == (0, 3)


class TestRejected:
    def test_task_without_text(self, project, write, existing):
        tasks = [{"id": 1, "data": {"text": "ok"}}, {"id": 2, "data": {"image": "x.png"}}]
        content = json.dumps(tasks, indent=2)
        error = rejected(project, write("tasks.json", content))

        assert str(error) == "tasks.json:8: [1]: field 'data.text': missing"

    def test_malformed_choices(self, project, write, existing):
        task = {"id": 1, "data": {"text": "ok"},
                "annotations": [{"result": [{"value": {"choices": "yes"}}]}]}
        error = rejected(project, write("tasks.json", json.dumps([task])))

        assert (error.line, error.path, error.field) == (
            1, "[0]", "annotations[0].result[0].value.choices"
        )

    def test_duplicate_task_ids(self, project, write, existing):
        tasks = [{"id": 1, "data": {"text": "a"}}, {"id": 1, "data": {"text": "b"}}]
        content = json.dumps(tasks, indent=2)
        error = rejected(project, write("tasks.json", content))

        assert str(error) == "tasks.json:8: [1]: field 'id': duplicate id '1' (first at line 2)"
