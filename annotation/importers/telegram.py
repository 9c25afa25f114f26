"""Telegram Desktop exports: result.json of one chat, or of a full export.

One chat is `{"name", "id", "messages": [...]}`; a full export lists chats
under `chats.list` (and `left_chats.list`). Service messages are skipped.
chat = str(chat id), id = "<chat>:<message id>", sender = `from` (or `from_id`).
sent_at comes from `date_unixtime` when present, since `date` is the exporting
machine's local time without an offset; otherwise `date`, naive taken as UTC.
"""

from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

from annotation.importers.errors import ImportFailed, json_type_name
from annotation.importers.reading import JsonDocument, ReadProgress
from annotation.importers.records import (
    FieldProblem,
    StagedMessage,
    as_identifier,
    as_name,
    as_text,
    as_timestamp,
    check_storable,
    from_unix_seconds,
    get_required,
    metadata_json,
)

CHAT_LISTS = ("chats", "left_chats")
METADATA_KEYS = ("from_id", "reply_to_message_id", "forwarded_from", "media_type", "edited")


def read_messages(path: Path, *, progress: ReadProgress, name: str) -> Iterator[StagedMessage]:
    file = name
    file_no = progress.file_no(file)
    doc = JsonDocument(lambda: open(path, "rb"), file=file, progress=progress)
    with closing(doc):
        reader = _Reader(doc, file, file_no)
        found = yield from reader.chat(doc.start(), prefix="", top_level=True)
        doc.finish()
    if not found:
        raise ImportFailed("not a Telegram export: no 'messages' or 'chats'", file=file)


class _Reader:
    def __init__(self, doc: JsonDocument, file: str, file_no: int):
        self.doc = doc
        self.file = file
        self.file_no = file_no

    def fail(self, exc: FieldProblem, pos: int, path: str | None) -> ImportFailed:
        return ImportFailed(
            exc.problem, file=self.file, line=self.doc.line_at(pos), path=path or None,
            field=exc.field,
        )

    def chat(self, pos: int, *, prefix: str, top_level: bool = False):
        """Messages of the chat object at `pos`; returns whether it held any chat data."""
        doc = self.doc
        chat_id: str | None = None
        title = ""
        deferred_messages: int | None = None
        found = False
        for key, value_pos in doc.members(pos, path=prefix or None):
            if key == "messages":
                found = True
                if chat_id is None:
                    deferred_messages = value_pos
                    continue
                yield from self.messages(value_pos, chat_id, title, prefix)
            elif key == "id":
                try:
                    chat_id = as_identifier(doc.value(value_pos, path=prefix), "id")
                except FieldProblem as exc:
                    raise self.fail(exc, pos, prefix) from None
            elif key == "name":
                name = doc.value(value_pos, path=prefix)
                try:
                    title = check_storable(name[:255], "name") if isinstance(name, str) else ""
                except FieldProblem as exc:
                    raise self.fail(exc, value_pos, prefix) from None
            elif top_level and key in CHAT_LISTS:
                found = True
                yield from self.chat_list(value_pos, prefix=key)
        if deferred_messages is not None:
            if chat_id is None:
                raise self.fail(FieldProblem("id", "missing"), pos, prefix)
            # The messages came before the chat's id: read them again, now that it is known.
            end = doc.pos
            doc.seek(deferred_messages)
            yield from self.messages(deferred_messages, chat_id, title, prefix)
            doc.seek(end)
        return found

    def chat_list(self, pos: int, *, prefix: str):
        for key, value_pos in self.doc.members(pos, path=prefix):
            if key == "list":
                for index, chat_pos in self.doc.elements(value_pos, path=f"{prefix}.list"):
                    yield from self.chat(chat_pos, prefix=f"{prefix}.list[{index}]")

    def messages(self, pos: int, chat_id: str, title: str, prefix: str):
        doc = self.doc
        base = f"{prefix}.messages" if prefix else "messages"
        for index, message_pos in doc.elements(pos, path=base):
            path = f"{base}[{index}]"
            record = doc.value(message_pos, path=path)
            try:
                message = self.message(record, chat_id, title, doc.line_at(message_pos), path)
            except FieldProblem as exc:
                raise self.fail(exc, message_pos, path) from None
            if message is not None:
                yield message

    def message(self, record, chat_id: str, title: str, line: int, path: str):
        if not isinstance(record, dict):
            raise FieldProblem("message", f"expected an object, got {json_type_name(record)}")
        if record.get("type", "message") != "message":
            return None
        message_id = as_identifier(get_required(record, "id"), "id")
        if "date_unixtime" in record:
            sent_at = from_unix_seconds(record["date_unixtime"], "date_unixtime")
        else:
            sent_at = as_timestamp(get_required(record, "date"), "date")
        metadata = {key: record[key] for key in METADATA_KEYS if key in record}
        return StagedMessage(
            as_name(f"{chat_id}:{message_id}", "id"), chat_id, title, _sender(record),
            sent_at, _text(get_required(record, "text")), metadata_json(metadata),
            line, self.file_no, path,
        )


def _sender(record: dict) -> str:
    sender = record.get("from")
    if isinstance(sender, str) and sender:
        return as_name(sender, "from")
    if record.get("from_id") is not None:
        return as_identifier(record["from_id"], "from_id")
    if sender is not None:
        as_name(sender, "from")
    raise FieldProblem("from", "missing")


def _text(value) -> str:
    """Text as a string, or a list of strings and entities like {"type": "link", "text": ...}."""
    if isinstance(value, str):
        return as_text(value, "text")
    if not isinstance(value, list):
        raise FieldProblem(
            "text", f"expected a string or an array of text parts, got {json_type_name(value)}"
        )
    parts = []
    for index, part in enumerate(value):
        if isinstance(part, dict):
            part = get_required(part, "text", f"text[{index}].text")
            field = f"text[{index}].text"
        else:
            field = f"text[{index}]"
        parts.append(as_text(part, field))
    return "".join(parts)
