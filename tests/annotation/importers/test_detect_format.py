import shutil

import pytest

from annotation.importers import ImportFailed, detect_format
from tests.annotation.importers.conftest import FIXTURES, jsonl, message


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("a.jsonl", jsonl(message(1)), "jsonl"),
        ("a.ndjson", jsonl(message(1)), "jsonl"),
        ("a.json", jsonl(message(1), message(2)), "jsonl"),
        ("a.csv", "id,chat,sender,sent_at,text\n", "csv"),
        ("export", "id,chat,sender,sent_at,text\n", "csv"),
        ("ops.log", "[10:00] <a> hi\n", "irc"),
        ("ops.txt", "[10:00:01] <a> hi\n", "irc"),
        ("ops.txt", "--- Log opened Tue Jan 02 10:00:00 2024\n", "irc"),
        ("result.json", '{\n "name": "x",\n "id": 1,\n "messages": []\n}', "telegram"),
        ("result.json", '{"about": "", "chats": {"list": []}}', "telegram"),
        ("tasks.json", '[{"id": 1, "data": {"text": "x"}}]', "labelstudio"),
        ("2024-01-01.json", '[{"type": "message", "ts": "1.0", "text": ""}]', "slack"),
    ],
)
def test_format_from_name_and_content(tmp_path, name, content, expected):
    path = tmp_path / name
    path.write_text(content)

    assert detect_format(path) == expected


def test_slack_export_directory_and_zip(tmp_path):
    archive = shutil.make_archive(str(tmp_path / "export"), "zip", FIXTURES / "slack_export")

    assert detect_format(FIXTURES / "slack_export") == "slack"
    assert detect_format(tmp_path / "export.zip") == "slack"
    assert archive.endswith("export.zip")


def test_unknown_content_is_refused(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("dear diary\n")

    with pytest.raises(ImportFailed, match="notes.txt: cannot tell the format"):
        detect_format(path)
