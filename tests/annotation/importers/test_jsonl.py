import tracemalloc
from datetime import UTC, datetime

import pytest
from django.db import IntegrityError, connection, transaction
from django.db.models import F

from annotation.importers import messages_import
from annotation.importers import services as import_services
from annotation.models import Chat, Message
from tests.annotation.importers.conftest import counts, jsonl, message, rejected


class TestImport:
    def test_messages_land_in_their_chats_with_metadata(self, project, write):
        path = write("messages.jsonl", jsonl(
            message(1, sent_at="2024-01-01T10:00:00", lang="en", reply_to=None),
            message(2, id=2, chat="dev", sent_at="2024-01-01T12:00:00+02:00"),
            message(3, sent_at="2024-01-01 10:00:05.250Z"),
        ))

        result = messages_import(project=project, path=path)

        assert (result.format, result.added, result.skipped) == ("jsonl", 3, 0)
        first = Message.objects.get(external_id="m1")
        assert first.metadata == {"lang": "en", "reply_to": None}
        assert first.sender == "alice" and first.text == "message number 1"
        assert first.corpus.name == "default" and first.chat.external_id == "ops"
        # Naive timestamps are UTC; others are converted.
        assert first.sent_at == datetime(2024, 1, 1, 10, 0, tzinfo=UTC)
        assert Message.objects.get(external_id="2").sent_at == datetime(2024, 1, 1, 10, tzinfo=UTC)
        assert Message.objects.get(external_id="m3").sent_at == datetime(
            2024, 1, 1, 10, 0, 5, 250000, tzinfo=UTC
        )
        assert sorted(Chat.objects.values_list("external_id", flat=True)) == ["dev", "ops"]

    def test_characters_that_copy_escapes_arrive_intact(self, project, write):
        text = "tab\there\nnew line \\N not null, back\\slash\r\u00e9 \U0001f680"
        path = write("messages.jsonl", jsonl(
            message(1, text=text, sender="a\tb", note="C:\\temp\\new", path=None),
        ))

        messages_import(project=project, path=path)

        stored = Message.objects.get()
        assert (stored.text, stored.sender) == (text, "a\tb")
        assert stored.metadata == {"note": "C:\\temp\\new", "path": None}

    def test_empty_text_is_kept_for_preprocessing_to_judge(self, project, write):
        path = write("messages.jsonl", jsonl(message(1, text="")))

        assert messages_import(project=project, path=path).added == 1
        assert Message.objects.get().text == ""

    def test_blank_lines_and_a_byte_order_mark_are_ignored(self, project, write):
        path = write("messages.jsonl", "\ufeff" + jsonl(message(1)) + "\n   \n" + jsonl(message(2)))

        assert messages_import(project=project, path=path).added == 2

    def test_progress_reports_bytes_every_chunk(self, project, write, monkeypatch):
        monkeypatch.setattr(import_services, "CHUNK_ROWS", 10)
        path = write("messages.jsonl", jsonl(*(message(n) for n in range(35))))
        calls = []

        messages_import(project=project, path=path, progress=lambda *args: calls.append(args))

        size = path.stat().st_size
        assert len(calls) == 5  # four chunks, then the end
        assert all(total == size for _, total in calls)
        assert [done for done, _ in calls] == sorted(done for done, _ in calls)
        assert calls[-1] == (size, size)


    def test_the_callers_transaction_still_defers_foreign_keys(self, project, write):
        messages_import(project=project, path=write("messages.jsonl", jsonl(message(1))))
        known = Message.objects.get()

        # A chat that does not exist yet: checked at the commit, not now.
        early = Message.objects.create(
            corpus=known.corpus, chat_id=known.chat_id + 1000, external_id="early",
            sender="s", sent_at=known.sent_at, text="",
        )
        Chat.objects.create(id=known.chat_id + 1000, corpus=known.corpus, external_id="late")

        assert early.chat.external_id == "late"


    def test_each_message_keeps_its_chats_corpus_and_the_database_its_chat(self, project, write):
        # The message's corpus column has no foreign key of its own: it is its
        # chat's corpus, and the chat's foreign key is the database's check.
        messages_import(project=project, path=write("a.jsonl", jsonl(message(1), message(2, chat="dev"))),
                        corpus_name="a")
        messages_import(project=project, path=write("b.jsonl", jsonl(message(1))), corpus_name="b")

        assert Message.objects.exclude(corpus_id=F("chat__corpus_id")).count() == 0
        known = Message.objects.filter(corpus__name="a").first()
        with pytest.raises(IntegrityError), transaction.atomic():
            Message.objects.create(
                corpus=known.corpus, chat_id=known.chat_id + 1000, external_id="orphan",
                sender="s", sent_at=known.sent_at, text="",
            )
            connection.check_constraints()

        known.corpus.delete()
        assert list(Message.objects.values_list("corpus__name", flat=True)) == ["b"]


class TestIdempotence:
    def test_reimport_adds_nothing_and_reports_skipped(self, project, write):
        path = write("messages.jsonl", jsonl(message(1), message(2), message(3, chat="dev")))
        messages_import(project=project, path=path)
        before = counts()

        again = messages_import(project=project, path=path)

        assert (again.added, again.skipped) == (0, 3)
        assert counts() == before

    def test_new_messages_among_known_ones_are_added(self, project, write):
        messages_import(project=project, path=write("a.jsonl", jsonl(message(1), message(2))))

        result = messages_import(
            project=project, path=write("b.jsonl", jsonl(message(1), message(2), message(3)))
        )

        assert (result.added, result.skipped) == (1, 2)
        assert Chat.objects.count() == 1

    def test_ids_are_unique_per_corpus_only(self, project, write):
        path = write("messages.jsonl", jsonl(message(1)))
        messages_import(project=project, path=path)

        result = messages_import(project=project, path=path, corpus_name="second")

        assert result.added == 1
        assert Chat.objects.count() == 2


class TestRejected:
    def test_unparseable_timestamp(self, project, write, existing):
        records = [message(n) for n in range(1, 17)] + [message(17, sent_at="2024-13-01")]
        error = rejected(project, write("messages.jsonl", jsonl(*records)))

        assert str(error) == "messages.jsonl:17: field 'sent_at': unparseable timestamp '2024-13-01'"
        assert (error.file, error.line, error.field) == ("messages.jsonl", 17, "sent_at")

    def test_truncated_json(self, project, write, existing):
        content = jsonl(message(1), message(2)) + jsonl(message(3))[:30]
        error = rejected(project, write("messages.jsonl", content))

        assert (error.file, error.line, error.field) == ("messages.jsonl", 3, None)
        assert str(error).startswith("messages.jsonl:3: invalid JSON at column")

    def test_invalid_utf8(self, project, write, existing):
        content = jsonl(message(1)).encode() + b'{"id": "m2", "text": "caf\xe9"}\n'
        error = rejected(project, write("messages.jsonl", content))

        assert str(error) == "messages.jsonl:2: invalid UTF-8 at byte 26 of the line"

    def test_nul_byte(self, project, write, existing):
        content = jsonl(message(1)).encode() + b'{"id": "m2",\x00 "chat": "ops"}\n'
        error = rejected(project, write("messages.jsonl", content))

        assert str(error) == "messages.jsonl:2: NUL byte at byte 13 of the line"

    def test_escaped_nul_character_in_text(self, project, write, existing):
        error = rejected(project, write("messages.jsonl", jsonl(message(1, text="a\u0000b"))))

        assert str(error) == "messages.jsonl:1: field 'text': contains a NUL character"

    def test_missing_field(self, project, write, existing):
        record = message(2)
        del record["sender"]
        error = rejected(project, write("messages.jsonl", jsonl(message(1), record)))

        assert str(error) == "messages.jsonl:2: field 'sender': missing"

    def test_text_that_is_a_number(self, project, write, existing):
        error = rejected(project, write("messages.jsonl", jsonl(message(1, text=42))))

        assert str(error) == "messages.jsonl:1: field 'text': expected a string, got a number"

    def test_text_that_is_null(self, project, write, existing):
        error = rejected(project, write("messages.jsonl", jsonl(message(1), message(2, text=None))))

        assert str(error) == "messages.jsonl:2: field 'text': expected a string, got null"

    def test_sent_at_that_is_a_number(self, project, write, existing):
        error = rejected(project, write("messages.jsonl", jsonl(message(1, sent_at=1704103200))))

        assert error.field == "sent_at" and "expected an ISO 8601 string, got a number" in str(error)

    def test_line_that_is_not_an_object(self, project, write, existing):
        error = rejected(project, write("messages.jsonl", jsonl(message(1)) + "[1, 2]\n"))

        assert str(error) == "messages.jsonl:2: expected a JSON object, got an array"

    def test_duplicate_id_within_the_file(self, project, write, existing):
        path = write("messages.jsonl", jsonl(message(1), message(2), message(3, id="m1")))
        error = rejected(project, path)

        assert str(error) == "messages.jsonl:3: field 'id': duplicate id 'm1' (first at line 1)"

    def test_duplicate_id_chunks_apart(self, project, write, existing, monkeypatch):
        monkeypatch.setattr(import_services, "CHUNK_ROWS", 50)
        records = [message(n) for n in range(1, 200)] + [message(200, id="m7")]
        error = rejected(project, write("messages.jsonl", jsonl(*records)))

        assert (error.line, error.field) == (200, "id")

    def test_duplicate_id_into_an_empty_corpus(self, project, write, monkeypatch):
        # Written straight into the message table, the duplicate is found and
        # the file read again through the staging tables, which name it.
        monkeypatch.setattr(import_services, "CHUNK_ROWS", 50)
        records = [message(n, chat=f"chat-{n % 3}") for n in range(1, 200)] + [message(200, id="m7")]
        error = rejected(project, write("messages.jsonl", jsonl(*records)))

        assert str(error) == "messages.jsonl:200: field 'id': duplicate id 'm7' (first at line 7)"
        assert counts() == (0, 0)

    def test_id_longer_than_the_column(self, project, write, existing):
        error = rejected(project, write("messages.jsonl", jsonl(message(1, id="x" * 256))))

        assert str(error) == "messages.jsonl:1: field 'id': longer than 255 characters"

    def test_nan_in_metadata(self, project, write, existing):
        path = write("messages.jsonl", jsonl(message(1))[:-2] + ', "score": NaN}\n')
        error = rejected(project, path)

        assert error.field == "metadata" and error.line == 1

    def test_ten_megabyte_line_is_refused_without_reading_it_whole(self, project, write, existing):
        huge = message(2, text="x" * 10_000_000)
        path = write("messages.jsonl", jsonl(message(1), huge, message(3)))

        tracemalloc.start()
        try:
            error = rejected(project, path)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()

        assert str(error) == "messages.jsonl:2: line longer than 1048576 bytes"
        assert peak < 4 * 1024 * 1024

    def test_a_bad_500th_line_leaves_the_database_as_it_was(self, project, write, monkeypatch):
        # Small chunks, so hundreds of rows are written before line 500 is read.
        monkeypatch.setattr(import_services, "CHUNK_ROWS", 100)
        messages_import(project=project, path=write("before.jsonl", jsonl(message(5000))))
        before = counts()
        records = [message(n, chat=f"chat-{n % 7}") for n in range(1, 600)]
        records[499]["sent_at"] = "yesterday"

        error = rejected(project, write("messages.jsonl", jsonl(*records)))

        assert (error.line, error.field) == (500, "sent_at")
        assert counts() == before
        assert not Chat.objects.filter(external_id__startswith="chat-").exists()

    def test_missing_file(self, project, tmp_path):
        error = rejected(project, tmp_path / "nowhere.jsonl")

        assert str(error).endswith("nowhere.jsonl: no such file or directory")
