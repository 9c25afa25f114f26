import json
from datetime import UTC, datetime

from annotation.importers import messages_import
from annotation.models import Chat, Message
from tests.annotation.importers.conftest import FIXTURES, rejected


def export(*messages: dict) -> str:
    """A one-chat export as Telegram Desktop writes it (one-space indent)."""
    chat = {"name": "Ops", "type": "private_group", "id": 42, "messages": list(messages)}
    return json.dumps(chat, indent=1)


def text_message(n: int, **fields) -> dict:
    record = {"id": n, "type": "message", "date": "2024-01-01T10:00:00", "from": "Alice",
              "from_id": "user1", "text": f"message {n}"}
    record.update(fields)
    return record


class TestImport:
    def test_single_chat(self, project):
        result = messages_import(project=project, path=FIXTURES / "telegram_chat.json")

        assert (result.format, result.added) == ("telegram", 2)  # the service message is skipped
        chat = Chat.objects.get()
        assert (chat.external_id, chat.title) == ("1234567", "Ops team")
        question = Message.objects.get(external_id="1234567:2")
        assert (question.sender, question.text) == ("Alice", "is the deploy done?")
        assert question.sent_at == datetime(2024, 1, 1, 10, 0, tzinfo=UTC)
        answer = Message.objects.get(external_id="1234567:3")
        # A deleted account has no "from"; text parts and entities are joined.
        assert answer.sender == "user2"
        assert answer.text == "yes, see https://ci.example.com/42 for the log"
        assert answer.sent_at == datetime(2024, 1, 1, 10, 1, tzinfo=UTC)
        assert answer.metadata == {"from_id": "user2", "reply_to_message_id": 2}

    def test_full_export_with_several_chats(self, project):
        result = messages_import(project=project, path=FIXTURES / "telegram_full.json")

        assert result.added == 2
        assert {(c.external_id, c.title) for c in Chat.objects.all()} == {
            ("1234567", "Ops team"), ("7654321", "Bob"),
        }
        # The second chat lists its messages before its id.
        assert Message.objects.get(external_id="7654321:10").text == "hi"

    def test_unix_time_wins_over_the_local_date(self, project, write):
        path = write("result.json", export(
            text_message(1, date="2024-01-01T12:00:00", date_unixtime="1704103200"),
        ))

        messages_import(project=project, path=path)

        assert Message.objects.get().sent_at == datetime(2024, 1, 1, 10, 0, tzinfo=UTC)

    def test_reimport_adds_nothing(self, project):
        messages_import(project=project, path=FIXTURES / "telegram_chat.json")

        result = messages_import(project=project, path=FIXTURES / "telegram_chat.json")

        assert (result.added, result.skipped) == (0, 2)


class TestRejected:
    def test_text_that_is_a_number_names_line_and_path(self, project, write, existing):
        content = export(text_message(1), text_message(2, text=7))
        error = rejected(project, write("result.json", content))

        line = content.splitlines().index("  {", 10) + 1  # where messages[1] starts
        assert str(error) == (
            f"result.json:{line}: messages[1]: field 'text': "
            "expected a string or an array of text parts, got a number"
        )

    def test_text_part_without_text(self, project, write, existing):
        content = export(text_message(1, text=["see ", {"type": "link"}]))
        error = rejected(project, write("result.json", content))

        assert (error.path, error.field) == ("messages[0]", "text[1].text")

    def test_unparseable_date(self, project, write, existing):
        error = rejected(project, write("result.json", export(text_message(1, date="01.01.2024"))))

        assert str(error) == "result.json:6: messages[0]: field 'date': unparseable timestamp '01.01.2024'"

    def test_truncated_export(self, project, write, existing):
        content = export(text_message(1), text_message(2), text_message(3))
        cut = content[: content.index('"message 3"')]
        error = rejected(project, write("result.json", cut))

        line = content.splitlines().index("  {", 20) + 1  # where messages[2] starts
        assert str(error) == (
            f"result.json:{line}: messages[2]: truncated JSON: the file ends inside this record"
        )

    def test_invalid_utf8(self, project, write, existing):
        content = export(text_message(1)).encode().replace(b"message 1", b"message \xc3")
        error = rejected(project, write("result.json", content))

        assert str(error) == "result.json:12: invalid UTF-8"

    def test_not_a_telegram_export(self, project, write, existing):
        error = rejected(project, write("result.json", '{"about": "nothing"}'), format="telegram")

        assert str(error) == "result.json: not a Telegram export: no 'messages' or 'chats'"
