from datetime import UTC, datetime

from annotation.importers import messages_import
from annotation.models import Message
from tests.annotation.importers.conftest import rejected

HEADER = "id,chat,sender,sent_at,text,lang\n"


class TestImport:
    def test_rows_with_quoted_multiline_fields_and_extra_columns(self, project, write):
        path = write("messages.csv", HEADER + (
            'm1,ops,alice,2024-01-01T10:00:00,"first line\nsecond, with ""quotes""",en\n'
            "m2,ops,bob,2024-01-01T10:00:30+01:00,plain,de\n"
        ))

        result = messages_import(project=project, path=path)

        assert (result.format, result.added) == ("csv", 2)
        first = Message.objects.get(external_id="m1")
        assert first.text == 'first line\nsecond, with "quotes"'
        assert first.metadata == {"lang": "en"}
        assert Message.objects.get(external_id="m2").sent_at == datetime(
            2024, 1, 1, 9, 0, 30, tzinfo=UTC
        )

    def test_columns_in_any_order_with_windows_line_ends(self, project, write):
        path = write("messages.csv", "text,sent_at,sender,chat,id\r\nhello,2024-01-01,ann,ops,1\r\n")

        assert messages_import(project=project, path=path).added == 1
        assert Message.objects.get().text == "hello"

    def test_reimport_adds_nothing(self, project, write):
        path = write("messages.csv", HEADER + "m1,ops,alice,2024-01-01T10:00:00,hi,en\n")
        messages_import(project=project, path=path)

        result = messages_import(project=project, path=path)

        assert (result.added, result.skipped) == (0, 1)


class TestRejected:
    def test_missing_column(self, project, write, existing):
        error = rejected(project, write("messages.csv", "id,chat,sender,text\nm1,ops,a,hi\n"))

        assert str(error) == "messages.csv:1: field 'sent_at': missing column"

    def test_line_numbers_count_multiline_fields(self, project, write, existing):
        path = write("messages.csv", HEADER + (
            'm1,ops,alice,2024-01-01T10:00:00,"one\ntwo\nthree",en\n'
            "m2,ops,bob,2024-13-01,hi,en\n"
        ))
        error = rejected(project, path)

        assert str(error) == "messages.csv:5: field 'sent_at': unparseable timestamp '2024-13-01'"

    def test_wrong_number_of_fields(self, project, write, existing):
        error = rejected(project, write("messages.csv", HEADER + "m1,ops,alice,2024-01-01\n"))

        assert str(error) == "messages.csv:2: expected 6 fields as in the header, got 4"

    def test_unterminated_quote(self, project, write, existing):
        path = write("messages.csv", HEADER + 'm1,ops,alice,2024-01-01,"never closed,en\n')
        error = rejected(project, path)

        assert error.line == 2 and "malformed CSV" in str(error)

    def test_empty_sender(self, project, write, existing):
        error = rejected(project, write("messages.csv", HEADER + "m1,ops,,2024-01-01,hi,en\n"))

        assert str(error) == "messages.csv:2: field 'sender': empty"

    def test_duplicate_id(self, project, write, existing):
        path = write("messages.csv", HEADER + (
            "m1,ops,alice,2024-01-01,hi,en\nm1,ops,bob,2024-01-01,ho,en\n"
        ))
        error = rejected(project, path)

        assert str(error) == "messages.csv:3: field 'id': duplicate id 'm1' (first at line 2)"

    def test_invalid_utf8(self, project, write, existing):
        path = write("messages.csv", HEADER.encode() + b"m1,ops,alice,2024-01-01,\xff,en\n")
        error = rejected(project, path)

        assert str(error) == "messages.csv:2: invalid UTF-8 at byte 25 of the line"
