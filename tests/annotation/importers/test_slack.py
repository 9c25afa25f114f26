import json
import shutil
from datetime import UTC, datetime

from annotation.importers import messages_import
from annotation.models import Chat, Message
from tests.annotation.importers.conftest import FIXTURES, rejected

EXPORT = FIXTURES / "slack_export"


def day_file(*messages: dict) -> str:
    return json.dumps(list(messages), indent=4)


class TestImport:
    def test_directory_export(self, project):
        result = messages_import(project=project, path=EXPORT)

        assert (result.format, result.added) == ("slack", 4)  # join and leave skipped
        question = Message.objects.get(external_id="general:1704103260.000200")
        assert question.sender == "Alice Liddell"
        assert question.text == "does anyone know why the redis pod restarts?"
        assert question.sent_at == datetime(2024, 1, 1, 10, 1, 0, 200, tzinfo=UTC)
        answer = Message.objects.get(external_id="general:1704103320.000300")
        # No user_profile on the message: the name comes from users.json.
        assert answer.sender == "Bob Stone"
        assert answer.metadata == {"user": "U02", "thread_ts": "1704103260.000200"}
        assert {(c.external_id, c.title) for c in Chat.objects.all()} == {
            ("general", "general"), ("random", "random"),
        }

    def test_zip_export_with_a_top_folder(self, project, tmp_path):
        archive = shutil.make_archive(str(tmp_path / "export"), "zip", FIXTURES, "slack_export")

        result = messages_import(project=project, path=archive)

        assert (result.format, result.added) == ("slack", 4)
        assert Message.objects.filter(chat__external_id="random").count() == 1

    def test_single_day_file_takes_its_folder_as_channel(self, project):
        result = messages_import(project=project, path=EXPORT / "general" / "2024-01-01.json")

        assert (result.format, result.added) == ("slack", 2)
        assert set(Message.objects.values_list("chat__external_id", flat=True)) == {"general"}
        # Without users.json, a message lacking user_profile keeps the user id.
        assert Message.objects.get(external_id="general:1704103320.000300").sender == "U02"

    def test_reimport_adds_nothing(self, project):
        messages_import(project=project, path=EXPORT)

        result = messages_import(project=project, path=EXPORT)

        assert (result.added, result.skipped) == (0, 4)


class TestRejected:
    def export_with_day(self, tmp_path, content: str):
        export = tmp_path / "export"
        shutil.copytree(EXPORT, export)
        (export / "general" / "2024-01-02.json").write_text(content)
        return export

    def test_record_error_names_day_file_line_and_path(self, project, tmp_path, existing):
        content = day_file(
            {"type": "message", "ts": "1704189600.000100", "user": "U01", "text": "ok"},
            {"type": "message", "user": "U01", "text": "no ts"},
        )
        error = rejected(project, self.export_with_day(tmp_path, content))

        assert str(error) == "export/general/2024-01-02.json:8: [1]: field 'ts': missing"
        assert (error.line, error.path, error.field) == (8, "[1]", "ts")

    def test_text_that_is_null(self, project, tmp_path, existing):
        content = day_file({"type": "message", "ts": "1704189600.0001", "user": "U01", "text": None})
        error = rejected(project, self.export_with_day(tmp_path, content))

        assert str(error) == (
            "export/general/2024-01-02.json:2: [0]: field 'text': expected a string, got null"
        )

    def test_truncated_day_file(self, project, tmp_path, existing):
        content = day_file(
            {"type": "message", "ts": "1704189600.000100", "user": "U01", "text": "ok"},
            {"type": "message", "ts": "1704189700.000100", "user": "U01", "text": "cut here"},
        )[:-40]
        error = rejected(project, self.export_with_day(tmp_path, content))

        assert str(error) == (
            "export/general/2024-01-02.json:8: [1]: truncated JSON: the file ends inside this record"
        )

    def test_duplicate_ts_in_a_channel(self, project, tmp_path, existing):
        content = day_file({"type": "message", "ts": "1704103260.000200", "user": "U1", "text": "!"})
        export = self.export_with_day(tmp_path, content)
        error = rejected(project, export)

        assert str(error) == (
            "export/general/2024-01-02.json:2: [0]: field 'id': duplicate id "
            "'general:1704103260.000200' (first at export/general/2024-01-01.json:9)"
        )

    def test_directory_without_channels_list(self, project, tmp_path, existing):
        (tmp_path / "empty").mkdir()

        error = rejected(project, tmp_path / "empty")

        assert "no channels.json" in str(error)
