"""JSONL: one message object a line (`id`, `chat`, `sender`, `sent_at`, `text`, metadata)."""

import json
import json.scanner
from collections.abc import Iterator
from pathlib import Path

from annotation.importers.errors import ImportFailed, json_type_name
from annotation.importers.reading import (
    READ_BUFFER_BYTES,
    TOO_MANY_DIGITS,
    ReadProgress,
    iter_lines,
)
from annotation.importers.records import FieldProblem, StagedMessage, message_from_mapping


# The C scanner json.loads runs, called directly: loads adds two regular
# expression matches and a few calls to every line.
_scan = json.scanner.make_scanner(json.JSONDecoder())


def _parse(line: str):
    """`json.loads(line)`, by the scanner alone where it takes the whole line."""
    try:
        value, end = _scan(line, 0)
    except (StopIteration, ValueError, RecursionError):
        # loads raises the error the message names (or reads past leading whitespace).
        return json.loads(line)
    return value if end == len(line) else json.loads(line)


def read_messages(path: Path, *, progress: ReadProgress, name: str) -> Iterator[StagedMessage]:
    file = name
    progress.file_no(file)
    with open(path, "rb", buffering=READ_BUFFER_BYTES) as stream:
        for line_no, line in iter_lines(stream, file=file, progress=progress):
            if not line or line.isspace():
                continue
            try:
                record = _parse(line)
            except json.JSONDecodeError as exc:
                raise ImportFailed(
                    f"invalid JSON at column {exc.colno}: {exc.msg}", file=file, line=line_no
                ) from None
            except RecursionError:
                raise ImportFailed("JSON nested too deeply", file=file, line=line_no) from None
            except ValueError:
                raise ImportFailed(TOO_MANY_DIGITS, file=file, line=line_no) from None
            if not isinstance(record, dict):
                raise ImportFailed(
                    f"expected a JSON object, got {json_type_name(record)}",
                    file=file, line=line_no,
                )
            try:
                message = message_from_mapping(record, line_no)
            except FieldProblem as exc:
                raise ImportFailed(exc.problem, file=file, line=line_no, field=exc.field) from None
            yield message
