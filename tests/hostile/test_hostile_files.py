"""Hostile input through every door: the import service, the `import_messages`
command and the lead's upload page (multipart over HTTP, then the import task).

Each case is either rejected whole, with an error that starts with the file
and line and names the field to blame, leaving every Corpus, Chat, Message and
Item row as it was; or accepted, with every string stored exactly as written.
Small files live in `files/`; big ones (a 10 MB line, zip bombs) are made in
tmp_path at test time.
"""

import io
import json
import struct
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse
from django.utils.html import escape

from annotation.importers import ImportFailed, messages_import
from annotation.models import Chat, Corpus, ImportJob, Item, Message
from annotation.preprocessing import items_preprocess
from annotation.tasks import import_job_run
from api.tokens import api_token_create

FILES = Path(__file__).parent / "files"
MiB = 1 << 20

SCRIPT = "<script>alert(1)</script>"
IMG = '"><img src=x onerror=alert(1)>'
TEMPLATE = "{{ request.user }}{% debug %}"
COMMENT = "<!--"
QUOTE = "';alert(String.fromCharCode(88))//"


@dataclass(frozen=True)
class Rejected:
    line: int | None
    field: str | None
    problem: str
    # Where the error starts when not with the file's own name (a member of a zip).
    where: str | None = None


@dataclass(frozen=True)
class Stored:
    """One message as it must be in the database."""

    id: str
    chat: str
    sender: str
    text: str
    metadata: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Accepted:
    messages: tuple[Stored, ...]


@dataclass(frozen=True)
class Case:
    name: str
    expected: Rejected | Accepted
    # Makes the bytes at test time; None reads the committed file of that name.
    make: Callable[[], bytes] | None = None
    # IMPORT_MAX_BYTES for this case, where the default would need a huge file.
    max_bytes: int | None = None

    def content(self) -> bytes:
        return self.make() if self.make else (FILES / self.name).read_bytes()


def good_record(n: int, **fields) -> bytes:
    record = {
        "id": f"m{n}", "chat": "ops", "sender": "sam",
        "sent_at": f"2024-05-01T10:00:{n:02d}Z", "text": f"message {n}",
    }
    record.update(fields)
    return (json.dumps(record) + "\n").encode()


def long_jsonl_line() -> bytes:
    return good_record(1) + good_record(2, text="x" * (10 * MiB))


def long_csv_line() -> bytes:
    head = b"id,chat,sender,sent_at,text\nc1,ops,sam,2024-05-01T10:00:00Z,hi\nc2,ops,sam,2024-05-01T10:00:01Z,"
    return head + b"x" * (10 * MiB) + b"\n"


def long_irc_line() -> bytes:
    return b"[10:00] <alice> hello\n[10:01] <bob> " + b"x" * (10 * MiB) + b"\n"


def deep_nesting() -> bytes:
    depth = 100_000
    head = b'{"id": "m2", "chat": "ops", "sender": "sam", "sent_at": "2024-05-01T10:00:02Z", "text": "x", "deep": '
    return good_record(1) + head + b"[" * depth + b"]" * depth + b"}\n"


SLACK_DAY = "general/2024-05-01.json"


def slack_zip(day: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        archive.writestr("channels.json", b'[{"name": "general"}]')
        archive.writestr(SLACK_DAY, day)
    return buffer.getvalue()


def slack_users_nul() -> bytes:
    """A users.json display name that PostgreSQL text cannot hold; it would become a sender."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("channels.json", b'[{"name": "general"}]')
        archive.writestr(
            "users.json", b'[\n {"id": "U1", "real_name": "sam"},\n {"id": "U2", "real_name": "a\\u0000b"}\n]'
        )
        archive.writestr(SLACK_DAY, b'[{"ts": "1714557600.000100", "user": "U2", "text": "hi"}]')
    return buffer.getvalue()


def bomb_member(unpacked_bytes: int) -> bytes:
    """A valid day file of `unpacked_bytes`, nearly all whitespace: it deflates a thousandfold."""
    head = b'[{"ts": "1714557600.000100", "user": "U1", "text": "boom"}'
    return head + b" " * (unpacked_bytes - len(head) - 1) + b"]"


def zip_bomb() -> bytes:
    return slack_zip(bomb_member(64 * MiB))


def understated_zip() -> bytes:
    """A day file of 4 MiB whose entries declare 1000 bytes, so no size check up front sees it."""
    data = slack_zip(bomb_member(4 * MiB))
    name = SLACK_DAY.encode()
    actual = 4 * MiB
    patched = bytearray(data)
    # The local header keeps the uncompressed size at offset 22, the central directory's entry at 24.
    for signature, offset in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
        start = 0
        while (start := patched.find(signature, start)) >= 0:
            if name in patched[start : start + 64 + len(name)]:
                assert struct.unpack_from("<I", patched, start + offset)[0] == actual
                struct.pack_into("<I", patched, start + offset, 1000)
            start += 4
    return bytes(patched)


def corrupt_zip() -> bytes:
    """A zip whose end record survives but whose central directory is overwritten."""
    data = bytearray(slack_zip(b"[]"))
    directory = data.find(b"PK\x01\x02")
    data[directory : directory + 4] = b"XXXX"
    return bytes(data)


CSV_INJECTION = Accepted((
    Stored("c1", "ops", '=HYPERLINK("http://evil.example","x")', "=cmd|' /C calc'!A0", {"note": "=1+1"}),
    Stored("c2", "ops", "+sam", "+SUM(1+1)?", {"note": "-2+3"}),
    Stored("c3", "ops", "-sam", "-2+3*cmd|' /C notepad'!A1", {"note": "@SUM(A1)"}),
    Stored("c4", "ops", "@sam", "@SUM(1+1)*cmd|' /C calc'!A0", {"note": "x"}),
    Stored("c5", "ops", "sam", "\t=1+2", {"note": "y"}),
    Stored("c6", "ops", "sam", "\r=1+3", {"note": "z"}),
))

HTML_JSONL = Accepted((
    Stored(SCRIPT, IMG, SCRIPT, f"{SCRIPT} how do I fix this?", {"note": IMG}),
    Stored(IMG, IMG, IMG, f"{IMG} anyone know why?", {SCRIPT: TEMPLATE}),
    Stored(TEMPLATE, IMG, TEMPLATE, f"{TEMPLATE} what is wrong here?", {"nested": {"html": [COMMENT, QUOTE]}}),
))

HTML_IRC = Accepted((
    Stored("html_everywhere:2", "html_everywhere", '"onmouseover=alert(1)//', f"{SCRIPT} why does this fail?"),
    Stored("html_everywhere:3", "html_everywhere", "{{nick}}", f"{IMG} anyone know?"),
    Stored("html_everywhere:4", "html_everywhere", "bob", "{% debug %} {{ request.user }} how?"),
))

RTL_CHAT = "\u05e2\u05e8\u05d5\u05e5 \U0001F680"
RTL_EMOJI = Accepted((
    Stored(
        "rtl-1", RTL_CHAT, "\u202eevil\u202c",
        "\u202eexe.fdp\u202c does this \u0645\u0631\u062d\u0628\u0627 work? "
        "\U0001F468\u200d\U0001F469\u200d\U0001F467 \U0001F44D\U0001F3FD",
    ),
    Stored(
        "rtl-2", RTL_CHAT, "\u0639\u0644\u064a",
        "\u05e9\u05dc\u05d5\u05dd? \U0001F1EE\U0001F1F1 \u2067isolate\u2069 zero\u200bwidth",
    ),
))

TELEGRAM_HTML = Accepted((Stored("7:1", "7", IMG, f"{SCRIPT}{TEMPLATE} what now?"),))

CASES = [
    # JSONL
    Case("truncated.jsonl", Rejected(3, None, "invalid JSON")),
    Case("invalid_utf8.jsonl", Rejected(2, None, "invalid UTF-8")),
    Case("nul_byte.jsonl", Rejected(2, None, "NUL byte")),
    Case("escaped_nul.jsonl", Rejected(2, "text", "NUL character")),
    Case("lone_surrogate.jsonl", Rejected(2, "sender", "unpaired surrogate")),
    Case("wrong_type_text.jsonl", Rejected(2, "text", "expected a string, got a number")),
    Case("wrong_type_sent_at.jsonl", Rejected(2, "sent_at", "expected an ISO 8601 string, got a number")),
    Case("wrong_type_id.jsonl", Rejected(2, "id", "got a boolean")),
    Case("wrong_type_chat.jsonl", Rejected(2, "chat", "got an object")),
    Case("not_an_object.jsonl", Rejected(2, None, "expected a JSON object, got an array")),
    Case("missing_field.jsonl", Rejected(2, "chat", "missing")),
    Case("duplicate_ids.jsonl", Rejected(3, "id", "duplicate id 'm1' (first at line 1)")),
    Case("huge_number.jsonl", Rejected(2, None, "a number with more than")),
    Case("timestamp_overflow.jsonl", Rejected(2, "sent_at", "timestamp out of range")),
    Case("unparseable_timestamp.jsonl", Rejected(2, "sent_at", "unparseable timestamp")),
    Case("nan_metadata.jsonl", Rejected(2, "metadata", "NaN or Infinity")),
    Case("long_sender.jsonl", Rejected(2, "sender", "longer than 255 characters")),
    Case("long_line.jsonl", Rejected(2, None, "line longer than"), make=long_jsonl_line),
    Case("deep_nesting.jsonl", Rejected(2, None, "nested too deeply"), make=deep_nesting),
    Case("html_everywhere.jsonl", HTML_JSONL),
    Case("rtl_emoji.jsonl", RTL_EMOJI),
    # CSV
    Case("csv_injection.csv", CSV_INJECTION),
    Case("unterminated_quote.csv", Rejected(3, None, "malformed CSV")),
    Case("missing_column.csv", Rejected(1, "text", "missing column")),
    Case("wrong_field_count.csv", Rejected(3, None, "expected 5 fields")),
    Case("invalid_utf8.csv", Rejected(3, None, "invalid UTF-8")),
    Case("duplicate_ids.csv", Rejected(3, "id", "duplicate id 'c1' (first at line 2)")),
    Case("long_line.csv", Rejected(3, None, "line longer than"), make=long_csv_line),
    # IRC logs
    Case("html_everywhere.log", HTML_IRC),
    Case("garbage.log", Rejected(3, None, "unrecognised line")),
    Case("invalid_utf8.log", Rejected(2, None, "invalid UTF-8")),
    Case("nul_byte.log", Rejected(2, None, "NUL byte")),
    Case("bad_time.log", Rejected(2, "time", "invalid time")),
    Case("date_overflow.log", Rejected(3, "time", "past 9999-12-31")),
    Case("long_line.log", Rejected(2, None, "line longer than"), make=long_irc_line),
    # Telegram, Label Studio, a Slack day file
    Case("telegram_truncated.json", Rejected(6, None, "truncated JSON")),
    Case("telegram_nul_title.json", Rejected(2, "name", "NUL character")),
    Case("telegram_html.json", TELEGRAM_HTML),
    Case("labelstudio_wrong_type.json", Rejected(8, "data.text", "expected a string, got an array")),
    Case("slack_wrong_ts.json", Rejected(7, "ts", "expected Unix seconds, got an object")),
    # Zip archives (Slack exports)
    Case("not_a_zip.zip", Rejected(None, None, "not a zip archive")),
    Case(
        "slack_users_nul.zip", Rejected(3, "real_name", "NUL character", where="slack_users_nul.zip:users.json"),
        make=slack_users_nul,
    ),
    Case("corrupt.zip", Rejected(None, None, "unreadable zip archive"), make=corrupt_zip),
    Case("bomb.zip", Rejected(None, None, "the archive unpacks to"), make=zip_bomb, max_bytes=MiB),
    Case(
        "understated.zip", Rejected(None, None, "unreadable in the archive", where=f"understated.zip:{SLACK_DAY}"),
        make=understated_zip,
    ),
]


def row_counts() -> tuple[int, ...]:
    return tuple(model.objects.count() for model in (Corpus, Chat, Message, Item))


@pytest.fixture
def settled(project, tmp_path):
    """Rows already in the project, so a rejected import has something to leave alone."""
    path = tmp_path / "settled.jsonl"
    path.write_bytes(b"".join(good_record(n, text=f"is message {n} here?") for n in range(1, 4)))
    messages_import(project=project, path=path, corpus_name="settled")
    items_preprocess(project=project)
    assert Item.objects.exists()
    return row_counts()


class ZipReads:
    """Bytes unpacked from zip members, so a test can tell a refusal from an extraction."""

    def __init__(self, monkeypatch):
        self.bytes = 0
        original = zipfile.ZipExtFile.read

        def read(extfile, n=-1):
            data = original(extfile, n)
            self.bytes += len(data)
            return data

        monkeypatch.setattr(zipfile.ZipExtFile, "read", read)


# Each door takes a file and answers the error text, or "" when the import was accepted.


def through_service(project, path: Path, client) -> str:
    try:
        messages_import(project=project, path=path)
    except ImportFailed as exc:
        return str(exc)
    return ""


def through_command(project, path: Path, client) -> str:
    try:
        call_command("import_messages", str(path), "--project", project.name, verbosity=0, stdout=io.StringIO())
    except CommandError as exc:
        return str(exc)
    return ""


def through_upload(project, path: Path, client) -> str:
    url = reverse("annotation:import_upload", args=[project.pk])
    upload = SimpleUploadedFile(path.name, path.read_bytes())
    response = client.post(url, {"file": upload, "format": "", "corpus": "default"})
    assert response.status_code == 302, response.content.decode()[:500]
    job = ImportJob.objects.filter(file_name=path.name).latest("pk")
    # The page queues the job after its transaction commits; the test runs the task itself.
    import_job_run(job.pk)
    job.refresh_from_db()
    page = client.get(response["Location"]).content.decode()
    if job.status == ImportJob.FAILED:
        assert escape(job.error) in page
        assert "nothing was imported" in page
        return job.error
    assert job.status == ImportJob.DONE, job.error
    return ""


DOORS = {"service": through_service, "command": through_command, "upload": through_upload}


@pytest.mark.parametrize("door", DOORS)
@pytest.mark.parametrize("case", CASES, ids=lambda case: case.name)
def test_hostile_file(case, door, project, lead, settled, tmp_path, settings, monkeypatch):
    if case.max_bytes is not None:
        settings.IMPORT_MAX_BYTES = case.max_bytes
    path = tmp_path / case.name
    path.write_bytes(case.content())
    client = Client()
    client.force_login(lead)
    reads = ZipReads(monkeypatch)

    error = DOORS[door](project, path, client)

    expected = case.expected
    if isinstance(expected, Rejected):
        assert error, f"{case.name} was accepted"
        where = expected.where or case.name
        start = f"{where}:{expected.line}: " if expected.line is not None else f"{where}: "
        assert error.startswith(start), error
        if expected.field is not None:
            assert f"field '{expected.field}'" in error, error
        assert expected.problem in error, error
        assert row_counts() == settled
        # However the archive lies, no more is unpacked than the limit allows.
        assert reads.bytes <= settings.IMPORT_MAX_BYTES
    else:
        assert error == "", error
        stored = {
            message.external_id: Stored(
                message.external_id, message.chat.external_id, message.sender, message.text, message.metadata
            )
            for message in Message.objects.exclude(corpus__name="settled").select_related("chat")
        }
        assert stored == {message.id: message for message in expected.messages}


def test_the_bomb_is_refused_from_the_archive_directory_before_any_member_is_unpacked(
    project, settings, tmp_path, monkeypatch
):
    settings.IMPORT_MAX_BYTES = MiB
    path = tmp_path / "bomb.zip"
    path.write_bytes(zip_bomb())
    assert path.stat().st_size < MiB // 4
    reads = ZipReads(monkeypatch)
    with pytest.raises(ImportFailed, match="unpacks to 67,108,885 bytes"):
        messages_import(project=project, path=path)
    assert reads.bytes == 0


def test_an_entry_that_understates_its_size_unpacks_no_more_than_it_declares(project, tmp_path, monkeypatch):
    path = tmp_path / "understated.zip"
    path.write_bytes(understated_zip())
    reads = ZipReads(monkeypatch)
    with pytest.raises(ImportFailed, match="CRC"):
        messages_import(project=project, path=path)
    assert reads.bytes <= 1000 + len(b'[{"name": "general"}]')


def test_an_uploaded_irc_log_keeps_its_chat_and_date_from_the_name_the_lead_gave(project, lead, tmp_path):
    """Stored as `upload.log`, the log would otherwise land in a chat named "upload"
    and every later upload's line 2 would be skipped as already present."""
    client = Client()
    client.force_login(lead)
    first, second = tmp_path / "ops-2024-05-01.log", tmp_path / "dev-2024-05-02.log"
    first.write_text("[10:00] <alice> first log\n")
    second.write_text("[11:00] <bob> second log\n")
    for path in (first, second):
        assert through_upload(project, path, client) == ""
    rows = Message.objects.order_by("sent_at").values_list(
        "chat__external_id", "external_id", "sent_at__date", "text"
    )
    assert [(chat, id, str(day), text) for chat, id, day, text in rows] == [
        ("ops-2024-05-01", "ops-2024-05-01:1", "2024-05-01", "first log"),
        ("dev-2024-05-02", "dev-2024-05-02:1", "2024-05-02", "second log"),
    ]


def test_an_uploaded_slack_day_file_uploaded_again_adds_nothing(project, lead, tmp_path):
    """Its channel comes from its name, not from the folder the upload is stored in,
    so a second upload of the same file finds its messages already present."""
    client = Client()
    client.force_login(lead)
    path = tmp_path / "2024-05-01.json"
    path.write_text('[{"ts": "1714557600.000100", "user": "U1", "text": "hello"}]')
    for _ in range(2):
        assert through_upload(project, path, client) == ""
    assert list(Message.objects.values_list("chat__external_id", "external_id")) == [
        ("2024-05-01", "2024-05-01:1714557600.000100")
    ]
    added = ImportJob.objects.order_by("pk").values_list("messages_added", "messages_skipped")
    assert list(added) == [(1, 0), (0, 1)]


def test_a_file_name_with_markup_is_shown_escaped(project, lead, tmp_path):
    client = Client()
    client.force_login(lead)
    name = "<img src=x onerror=alert(1)>.jsonl"
    path = tmp_path / "upload-source.jsonl"
    path.write_bytes((FILES / "truncated.jsonl").read_bytes())
    url = reverse("annotation:import_upload", args=[project.pk])
    response = client.post(url, {"file": SimpleUploadedFile(name, path.read_bytes()), "corpus": "default"})
    job = ImportJob.objects.get()
    assert job.file_name == name
    import_job_run(job.pk)
    job.refresh_from_db()
    assert job.error.startswith(f"{name}:3: ")
    for page in (client.get(response["Location"]), client.get(url)):
        html = page.content.decode()
        assert "<img src=x" not in html
        assert escape(name) in html


class RefusesToBeRead(io.RawIOBase):
    """A request body that fails the test if anything reads it."""

    def readable(self):
        return True

    def readinto(self, buffer):
        raise AssertionError("the body of an oversized upload was read")


@pytest.mark.parametrize("enforce_csrf", [False, True], ids=["test-client", "with-csrf-check"])
def test_a_declared_gigabyte_is_refused_before_the_body_is_read(project, lead, settings, enforce_csrf):
    client = Client(enforce_csrf_checks=enforce_csrf)
    client.force_login(lead)
    url = reverse("annotation:import_upload", args=[project.pk])
    # The CSRF cookie and token a browser would send, from the form page.
    token = client.get(url).context["csrf_token"]
    before = row_counts()
    # A small body declared as a gigabyte, behind a stream that fails if read.
    response = client.generic(
        "POST", url, b"--hostile--\r\n",
        content_type="multipart/form-data; boundary=hostile",
        headers={"X-CSRFToken": str(token)},
        CONTENT_LENGTH=str(1 << 30),
        **{"wsgi.input": RefusesToBeRead()},
    )
    assert response.status_code == 413
    assert f"{1 << 30:,} bytes" in response.content.decode()
    assert not ImportJob.objects.exists()
    assert row_counts() == before


def test_the_json_api_refuses_a_declared_gigabyte_before_the_body_is_read(project, lead):
    _, key = api_token_create(user=lead)
    response = Client().generic(
        "POST", f"/api/v1/projects/{project.pk}/imports", b"--hostile--\r\n",
        content_type="multipart/form-data; boundary=hostile",
        headers={"Authorization": f"Bearer {key}"},
        CONTENT_LENGTH=str(1 << 30),
        **{"wsgi.input": RefusesToBeRead()},
    )
    assert response.status_code == 413
    assert f"{1 << 30:,} bytes" in response.json()["detail"]
    assert not ImportJob.objects.exists()


def test_a_csrf_check_still_guards_uploads_within_the_limit(project, lead):
    client = Client(enforce_csrf_checks=True)
    client.force_login(lead)
    url = reverse("annotation:import_upload", args=[project.pk])
    upload = SimpleUploadedFile("ok.jsonl", good_record(1))
    assert client.post(url, {"file": upload}).status_code == 403
    assert not ImportJob.objects.exists()
    token = client.get(url).context["csrf_token"]
    upload = SimpleUploadedFile("ok.jsonl", good_record(1))
    response = client.post(url, {"file": upload, "csrfmiddlewaretoken": str(token)})
    assert response.status_code == 302
    assert ImportJob.objects.get().file_name == "ok.jsonl"


def test_a_malformed_content_length_is_not_a_server_error(project, lead):
    client = Client()
    client.force_login(lead)
    url = reverse("annotation:import_upload", args=[project.pk])
    response = client.generic(
        "POST", url, b"--x--\r\n", content_type="multipart/form-data; boundary=x", CONTENT_LENGTH="lots"
    )
    assert response.status_code == 422
    assert "choose a file to import" in response.content.decode()
