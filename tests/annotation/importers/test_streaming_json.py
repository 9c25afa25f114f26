"""Slack, Telegram and Label Studio files are read as a stream, not whole.

Memory flat with file size is measured in benchmarks/bench_import_memory.py;
here: a record comes out before its file has been written to the end, and
reading in tiny blocks (every record split across several) gives the same
messages and the same errors, naming file, line, record and field.
"""

import json
import os
import threading
import zipfile

import pytest

from annotation.importers import ImportFailed, reading, services
from annotation.importers.reading import ReadProgress
from tests.annotation.importers.conftest import FIXTURES


def telegram(messages: int) -> str:
    records = [
        {"id": n, "type": "message", "date": "2024-01-01T10:00:00", "from": "Alice", "text": f"message {n}"}
        for n in range(messages)
    ]
    return json.dumps({"name": "Ops", "type": "private_group", "id": 42, "messages": records}, indent=1)


def slack_day(messages: int) -> str:
    records = [{"ts": f"17041032{n:02d}.000100", "user": "U01", "text": f"message {n}"} for n in range(messages)]
    return json.dumps(records, indent=4)


def labelstudio(messages: int) -> str:
    return json.dumps([{"id": n, "data": {"text": f"message {n}"}} for n in range(messages)], indent=2)


CONTENT = {"telegram": telegram, "slack": slack_day, "labelstudio": labelstudio}


def read_all(format: str, path, name: str | None = None) -> list[tuple]:
    progress = ReadProgress(total_bytes=1)
    return list(services.READERS[format](path, progress=progress, name=name or path.name))


def read_error(format: str, path) -> str:
    with pytest.raises(ImportFailed) as caught:
        read_all(format, path)
    return str(caught.value)


@pytest.mark.parametrize("format", sorted(CONTENT))
def test_a_record_comes_out_before_the_file_is_written_to_its_end(tmp_path, format):
    content = CONTENT[format](40)
    head = content[: content.index("message 3")]
    pipe = tmp_path / "export.json"
    os.mkfifo(pipe)
    first_seen = threading.Event()
    seen_before_the_end = []

    def write():
        with open(pipe, "w") as out:
            out.write(head)
            out.flush()
            # Waits for the first message; a reader that needs the whole file never sends it.
            seen_before_the_end.append(first_seen.wait(timeout=10))
            out.write(content[len(head):])

    writer = threading.Thread(target=write)
    writer.start()
    messages = services.READERS[format](pipe, progress=ReadProgress(total_bytes=1), name="export.json")
    first = next(messages)
    first_seen.set()
    rest = list(messages)
    writer.join()

    assert first.text == "message 0"
    assert len(rest) == 39
    assert seen_before_the_end == [True]


@pytest.fixture
def tiny_blocks(monkeypatch):
    """Read five bytes at a time, so every record and token is split across blocks."""

    def use():
        monkeypatch.setattr(reading, "READ_BUFFER_BYTES", 5)

    return use


def slack_zip(tmp_path):
    archive = tmp_path / "export.zip"
    with zipfile.ZipFile(archive, "w") as out:
        for path in sorted((FIXTURES / "slack_export").rglob("*.json")):
            out.write(path, f"top/{path.relative_to(FIXTURES / 'slack_export')}")
    return archive


@pytest.mark.parametrize(
    "format, source",
    [
        ("slack", lambda tmp: FIXTURES / "slack_export"),
        ("slack", slack_zip),
        ("telegram", lambda tmp: FIXTURES / "telegram_chat.json"),
        # Lists one chat's messages before its id: read twice.
        ("telegram", lambda tmp: FIXTURES / "telegram_full.json"),
        ("labelstudio", lambda tmp: FIXTURES / "labelstudio.json"),
    ],
)
def test_tiny_blocks_read_the_same_messages(tmp_path, tiny_blocks, format, source):
    path = source(tmp_path)
    whole = read_all(format, path)

    tiny_blocks()

    assert read_all(format, path) == whole
    assert whole


def line_of(content: str, needle: str) -> int:
    return content[: content.index(needle)].count("\n") + 1


def record_line(content: str, record_id: int) -> int:
    """The line a record's opening brace is on: the one above its id."""
    return line_of(content, f'"id": {record_id},') - 1


def text_a_number():
    content = telegram(10).replace('"text": "message 4"', '"text": 7')
    expected = f"export.json:{record_line(content, 4)}: messages[4]: field 'text': " \
        "expected a string or an array of text parts, got a number"
    return content, expected


def truncated():
    content = telegram(10)[:-60]
    return content, (
        f"export.json:{record_line(content, 9)}: messages[9]: truncated JSON: "
        "the file ends inside this record"
    )


def invalid_utf8():
    content = telegram(10)
    return (
        content.encode().replace(b"message 7", b"message \xc3"),
        f"export.json:{line_of(content, 'message 7')}: invalid UTF-8",
    )


def bad_escape():
    content = telegram(10).replace('"text": "message 5"', '"text": "message\\u12"')
    with pytest.raises(json.JSONDecodeError) as whole_document:
        json.loads(content)
    at = whole_document.value
    return content, (
        f"export.json:{record_line(content, 5)}: messages[5]: invalid JSON at line {at.lineno} "
        f"column {at.colno}: {at.msg}"
    )


def chat_without_id():
    # The error names the chat's first line, long read past when the id turns out missing.
    return telegram(10).replace('"id": 42,', ""), "export.json:1: field 'id': missing"


def slack_ts_null():
    content = slack_day(10).replace('"ts": "1704103203.000100"', '"ts": null')
    line = line_of(content, '"ts": null') - 1
    return content, f"export.json:{line}: [3]: field 'ts': expected Unix seconds, got null"


def task_without_text():
    content = labelstudio(10).replace('"text": "message 8"', '"note": "x"')
    return content, f"export.json:{record_line(content, 8)}: [8]: field 'data.text': missing"


def extra_data():
    content = labelstudio(3) + " []"
    return content, f"export.json:{content.count(chr(10)) + 1}: invalid JSON: extra data after the document"


ERRORS = [
    ("telegram", text_a_number),
    ("telegram", truncated),
    ("telegram", invalid_utf8),
    ("telegram", bad_escape),
    ("telegram", chat_without_id),
    ("slack", slack_ts_null),
    ("labelstudio", task_without_text),
    ("labelstudio", extra_data),
]


@pytest.mark.parametrize("format, case", ERRORS, ids=[case.__name__ for _, case in ERRORS])
@pytest.mark.parametrize("blocks", ["whole", "tiny"])
def test_errors_name_the_same_place_however_the_file_is_read(tmp_path, tiny_blocks, format, case, blocks):
    path = tmp_path / "export.json"
    data, expected = case()
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    if blocks == "tiny":
        tiny_blocks()

    assert read_error(format, path) == expected
