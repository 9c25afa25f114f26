"""Which format a file is in, from its name and, where that is ambiguous, its first bytes."""

import json
import re
import zipfile
from pathlib import Path

from annotation.importers import irc
from annotation.importers.errors import ImportFailed

FORMATS = ("jsonl", "csv", "slack", "telegram", "irc", "labelstudio")
EXTENSIONS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv", ".zip": "slack", ".log": "irc"}
HEAD_BYTES = 64 * 1024
# A full export may list contacts before its chats, beyond the head read here.
TELEGRAM_KEYS = re.compile(r'"(messages|chats|personal_information|contacts)"\s*:')
# A Label Studio task holds "data"; a Slack message holds "ts".
ARRAY_KIND = re.compile(r'"(data|ts)"\s*:')


def detect_format(path: Path, name: str | None = None) -> str:
    """The format of `path`; `name`, the name the input goes by in errors, defaults to its own."""
    name = name or path.name
    if path.is_dir():
        if any(path.rglob("channels.json")):
            return "slack"
        raise ImportFailed(
            "a directory imports only as a Slack export (no channels.json)", file=name
        )
    suffix = path.suffix.lower()
    if suffix in EXTENSIONS:
        if suffix == ".zip" and not zipfile.is_zipfile(path):
            raise ImportFailed("not a zip archive", file=name)
        return EXTENSIONS[suffix]
    with open(path, "rb") as stream:
        head = stream.read(HEAD_BYTES).decode("utf-8", errors="replace").lstrip("\ufeff \t\r\n")
    detected = _from_content(head)
    if detected is None:
        raise ImportFailed(
            f"cannot tell the format; name one of {', '.join(FORMATS)}", file=name
        )
    return detected


def _from_content(head: str) -> str | None:
    first_line = head.split("\n", 1)[0].strip()
    if head.startswith("{"):
        try:
            record = json.loads(first_line)
        except json.JSONDecodeError:
            record = None
        if isinstance(record, dict) and "sent_at" in record:
            return "jsonl"
        if TELEGRAM_KEYS.search(head):
            return "telegram"
        return None
    if head.startswith("["):
        if irc.STAMP.match(first_line):
            return "irc"
        match = ARRAY_KIND.search(head)
        if match is None:
            return None
        return "labelstudio" if match.group(1) == "data" else "slack"
    columns = {name.strip() for name in first_line.split(",")}
    if {"id", "chat", "sender", "sent_at", "text"} <= columns:
        return "csv"
    if first_line.startswith(("---", "***", "-!-")):
        return "irc"
    return None
