from datetime import UTC, datetime

from annotation.importers import messages_import
from annotation.models import Chat, Message
from tests.annotation.importers.conftest import rejected


def sent(external_id: str) -> datetime:
    return Message.objects.get(external_id=external_id).sent_at


class TestImport:
    def test_date_from_the_file_name_and_rollover_at_midnight(self, project, write):
        path = write("#ops.2024-03-05.log", (
            "--- Log opened Tue Mar 05 23:50:00 2024\n"
            "[23:58] <alice> anyone around?\n"
            "[23:59:30] <@bob> yes\n"
            "[23:59] * alice waves\n"
            "[00:01] -!- carol [~c@host] has joined #ops\n"
            "[00:02] <+carol> happy new day\n"
            "[00:03] *** dave is now known as dave_\n"
            "\n"
            "[00:04] <alice>\n"
        ))

        result = messages_import(project=project, path=path)

        assert (result.format, result.added) == ("irc", 4)
        assert sent("#ops.2024-03-05:2") == datetime(2024, 3, 5, 23, 58, tzinfo=UTC)
        assert sent("#ops.2024-03-05:3") == datetime(2024, 3, 5, 23, 59, 30, tzinfo=UTC)
        assert sent("#ops.2024-03-05:6") == datetime(2024, 3, 6, 0, 2, tzinfo=UTC)
        carol = Message.objects.get(external_id="#ops.2024-03-05:6")
        assert (carol.sender, carol.text) == ("carol", "happy new day")
        assert Message.objects.get(external_id="#ops.2024-03-05:3").sender == "bob"
        assert Message.objects.get(external_id="#ops.2024-03-05:9").text == ""
        assert Chat.objects.get().external_id == "#ops.2024-03-05"

    def test_date_from_log_lines(self, project, write):
        path = write("ops.log", (
            "--- Log opened Tue Jan 02 10:00:00 2024\n"
            "[10:00] <alice> morning\n"
            "--- Day changed Wed Jan 03 2024\n"
            "[09:00] <bob> morning again\n"
        ))

        messages_import(project=project, path=path)

        assert sent("ops:2") == datetime(2024, 1, 2, 10, 0, tzinfo=UTC)
        assert sent("ops:4") == datetime(2024, 1, 3, 9, 0, tzinfo=UTC)

    def test_no_date_anywhere_starts_at_the_epoch(self, project, write):
        path = write("ops.txt", "[10:00] <alice> hi\n[09:00] <bob> hello\n")

        assert messages_import(project=project, path=path).format == "irc"
        assert sent("ops:1") == datetime(1970, 1, 1, 10, 0, tzinfo=UTC)
        assert sent("ops:2") == datetime(1970, 1, 2, 9, 0, tzinfo=UTC)

    def test_reimport_adds_nothing(self, project, write):
        path = write("ops.log", "[10:00] <alice> hi\n")
        messages_import(project=project, path=path)

        assert messages_import(project=project, path=path).skipped == 1


class TestRejected:
    def test_a_line_matching_nothing(self, project, write, existing):
        path = write("ops.log", "[10:00] <alice> hi\n[10:01] <bob> ho\n\nhello there\n")
        error = rejected(project, path)

        assert str(error) == "ops.log:4: unrecognised line 'hello there'"

    def test_an_impossible_time(self, project, write, existing):
        error = rejected(project, write("ops.log", "[10:00] <alice> hi\n[25:00] <bob> ho\n"))

        assert str(error) == "ops.log:2: field 'time': invalid time '[25:00]'"

    def test_nul_byte(self, project, write, existing):
        error = rejected(project, write("ops.log", b"[10:00] <alice> h\x00i\n"))

        assert str(error) == "ops.log:1: NUL byte at byte 18 of the line"
