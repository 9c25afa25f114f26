"""One message as every format hands it to the database, and the field checks.

Format readers turn their input into `StagedMessage` tuples with the helpers
below; a helper that rejects a value raises `FieldProblem`, which the reader
turns into an `ImportFailed` naming the file, line and record.
"""

import json
import re
from datetime import UTC, datetime
from typing import NamedTuple

from annotation.importers.errors import json_type_name, shorten

# Message.external_id, Message.sender and Chat.external_id are CharField(max_length=255).
MAX_NAME_CHARS = 255
# PostgreSQL text cannot hold NUL, and UTF-8 cannot encode a lone surrogate.
UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
EMPTY_METADATA = "{}"
_encode_json = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode


class StagedMessage(NamedTuple):
    external_id: str
    chat: str
    chat_title: str
    sender: str
    sent_at: datetime
    text: str
    # Message.metadata, already serialised.
    metadata: str
    # Where the record starts: for error messages only.
    line: int
    file_no: int = 0
    path: str | None = None


class FieldProblem(Exception):
    """A field's value is unusable; the reader adds the file and line."""

    def __init__(self, field: str, problem: str):
        self.field = field
        self.problem = problem
        super().__init__(f"{field}: {problem}")


def check_storable(value: str, field: str) -> str:
    bad = UNSTORABLE.search(value)
    if bad is not None:
        char = bad.group()
        what = "a NUL character" if char == "\x00" else f"an unpaired surrogate {char!a}"
        raise FieldProblem(field, f"contains {what}")
    return value


def get_required(record: dict, key: str, field: str | None = None):
    try:
        return record[key]
    except KeyError:
        raise FieldProblem(field or key, "missing") from None


def as_identifier(value, field: str) -> str:
    """An id or chat name: a non-empty string, or an integer written as one."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str):
        raise FieldProblem(field, f"expected a string or an integer, got {json_type_name(value)}")
    return as_name(value, field)


def as_name(value, field: str) -> str:
    """A sender or id string of at most 255 characters."""
    if not isinstance(value, str):
        raise FieldProblem(field, f"expected a string, got {json_type_name(value)}")
    if not value:
        raise FieldProblem(field, "empty")
    if len(value) > MAX_NAME_CHARS:
        raise FieldProblem(field, f"longer than {MAX_NAME_CHARS} characters")
    return check_storable(value, field)


def as_text(value, field: str = "text") -> str:
    """Message text. Empty text is kept: preprocessing decides what is noise."""
    if not isinstance(value, str):
        raise FieldProblem(field, f"expected a string, got {json_type_name(value)}")
    return check_storable(value, field)


def as_timestamp(value, field: str = "sent_at") -> datetime:
    """An ISO 8601 timestamp as an aware UTC datetime; a naive one is taken as UTC."""
    if not isinstance(value, str):
        raise FieldProblem(field, f"expected an ISO 8601 string, got {json_type_name(value)}")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise FieldProblem(field, f"unparseable timestamp {shorten(value)!r}") from None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        # An offset can carry 0001-01-01 or 9999-12-31 past the years a datetime holds.
        raise FieldProblem(field, f"timestamp out of range {shorten(value)!r}") from None


def from_unix_seconds(value, field: str) -> datetime:
    """Seconds since the epoch, given as a number or a decimal string ("1700000000.000200")."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise FieldProblem(field, f"expected Unix seconds, got {json_type_name(value)}")
    text = str(value)
    whole, _, fraction = text.partition(".")
    if not whole.lstrip("-").isdigit() or (fraction and not fraction.isdigit()):
        raise FieldProblem(field, f"unparseable Unix timestamp {shorten(text)!r}")
    micros = int(fraction[:6].ljust(6, "0")) if fraction else 0
    try:
        return datetime.fromtimestamp(int(whole), UTC).replace(microsecond=micros)
    except (OverflowError, OSError, ValueError):
        raise FieldProblem(field, f"Unix timestamp out of range {shorten(text)!r}") from None


def metadata_json(metadata: dict, field: str = "metadata") -> str:
    """Message.metadata serialised once, checked to fit PostgreSQL jsonb."""
    if not metadata:
        return EMPTY_METADATA
    try:
        serialised = _encode_json(metadata)
    except ValueError:
        # Python's json reads NaN and Infinity, but they are not JSON.
        raise FieldProblem(field, "contains NaN or Infinity, which JSON cannot store") from None
    if "\\u0000" in serialised or UNSTORABLE.search(serialised):
        _check_storable_tree(metadata, field)
    return serialised


def _check_storable_tree(value, field: str) -> None:
    if isinstance(value, str):
        check_storable(value, field)
    elif isinstance(value, dict):
        for key, item in value.items():
            check_storable(key, f"{field}.{key}")
            _check_storable_tree(item, f"{field}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _check_storable_tree(item, f"{field}[{index}]")



MESSAGE_FIELDS = ("id", "chat", "sender", "sent_at", "text")


def message_from_mapping(record: dict, line: int) -> StagedMessage:
    """A JSONL object or CSV row with the five message fields; other keys become metadata."""
    try:
        external_id = record["id"]
        chat = record["chat"]
        sender = record["sender"]
        sent_at = record["sent_at"]
        text = record["text"]
    except KeyError as exc:
        raise FieldProblem(exc.args[0], "missing") from None
    # Fast path for the common case of five plain strings; anything else, or
    # anything suspicious, goes through the checks that name the field.
    if not (
        type(external_id) is str
        and type(chat) is str
        and type(sender) is str
        and type(text) is str
        and 0 < len(external_id) <= MAX_NAME_CHARS
        and 0 < len(chat) <= MAX_NAME_CHARS
        and 0 < len(sender) <= MAX_NAME_CHARS
        and UNSTORABLE.search(f"{external_id}{chat}{sender}{text}") is None
    ):
        external_id = as_identifier(external_id, "id")
        chat = as_identifier(chat, "chat")
        sender = as_identifier(sender, "sender")
        text = as_text(text, "text")
    moment = as_timestamp(sent_at, "sent_at")
    metadata = EMPTY_METADATA
    if len(record) > len(MESSAGE_FIELDS):
        metadata = metadata_json(
            {key: value for key, value in record.items() if key not in MESSAGE_FIELDS}
        )
    return StagedMessage(external_id, chat, "", sender, moment, text, metadata, line)
