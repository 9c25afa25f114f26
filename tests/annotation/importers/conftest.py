import json
from pathlib import Path

import pytest

from annotation.importers import ImportFailed, messages_import
from annotation.models import Chat, Message

FIXTURES = Path(__file__).parent / "fixtures"


def jsonl(*records: dict) -> str:
    return "".join(json.dumps(record) + "\n" for record in records)


def message(n: int, **fields) -> dict:
    """A valid JSONL record; `fields` override or add keys."""
    record = {
        "id": f"m{n}",
        "chat": "ops",
        "sender": "alice" if n % 2 else "bob",
        "sent_at": f"2024-01-01T10:{n // 60 % 60:02d}:{n % 60:02d}Z",
        "text": f"message number {n}",
    }
    record.update(fields)
    return record


def counts() -> tuple[int, int]:
    return Message.objects.count(), Chat.objects.count()


def rejected(project, path, **kwargs) -> ImportFailed:
    """The error importing `path` raises; asserts the database did not change."""
    before = counts()
    with pytest.raises(ImportFailed) as caught:
        messages_import(project=project, path=path, **kwargs)
    assert counts() == before
    return caught.value


@pytest.fixture
def write(tmp_path):
    def write(name: str, content: str | bytes) -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content.encode() if isinstance(content, str) else content)
        return path

    return write


@pytest.fixture
def existing(project, write):
    """Messages already in the corpus, so a rejected import has something to leave alone."""
    path = write("existing.jsonl", jsonl(message(900), message(901)))
    messages_import(project=project, path=path)
    return counts()
