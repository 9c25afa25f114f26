"""CSV with a header row naming `id`, `chat`, `sender`, `sent_at` and `text`.

Other columns become metadata. Quoted fields may span lines; a record's line
is the line it starts on.
"""

import csv
from collections.abc import Iterator
from pathlib import Path

from annotation.importers.errors import ImportFailed
from annotation.importers.reading import MAX_LINE_BYTES, READ_BUFFER_BYTES, ReadProgress, iter_lines
from annotation.importers.records import (
    MESSAGE_FIELDS,
    FieldProblem,
    StagedMessage,
    message_from_mapping,
)


def read_messages(path: Path, *, progress: ReadProgress, name: str) -> Iterator[StagedMessage]:
    file = name
    progress.file_no(file)
    # A quoted field may hold a whole long message; the default limit is 128 KiB.
    if csv.field_size_limit() < MAX_LINE_BYTES:
        csv.field_size_limit(MAX_LINE_BYTES)
    with open(path, "rb", buffering=READ_BUFFER_BYTES) as stream:
        lines = (
            text + "\n" for _, text in iter_lines(stream, file=file, progress=progress)
        )
        reader = csv.reader(lines, strict=True)
        header: list[str] | None = None
        line_no = 1
        while True:
            try:
                row = next(reader)
            except StopIteration:
                break
            except csv.Error as exc:
                raise ImportFailed(f"malformed CSV: {exc}", file=file, line=line_no) from None
            start, line_no = line_no, reader.line_num + 1
            if not row or (len(row) == 1 and not row[0].strip()):
                continue
            if header is None:
                header = _header(row, file=file, line=start)
                continue
            if len(row) != len(header):
                raise ImportFailed(
                    f"expected {len(header)} fields as in the header, got {len(row)}",
                    file=file, line=start,
                )
            try:
                message = message_from_mapping(dict(zip(header, row)), start)
            except FieldProblem as exc:
                raise ImportFailed(exc.problem, file=file, line=start, field=exc.field) from None
            yield message
    if header is None:
        raise ImportFailed("no header row", file=file)


def _header(row: list[str], *, file: str, line: int) -> list[str]:
    names = [name.strip() for name in row]
    for name in MESSAGE_FIELDS:
        if name not in names:
            raise ImportFailed("missing column", file=file, line=line, field=name)
    seen = set()
    for name in names:
        if name in seen:
            raise ImportFailed("column named twice", file=file, line=line, field=name)
        seen.add(name)
    return names
