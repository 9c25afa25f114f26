"""Plain IRC-style logs: `[HH:MM] <nick> text` or `[HH:MM:SS] <nick> text`.

The date comes from a YYYY-MM-DD in the file name, else from `--- Day changed`
and `--- Log opened` lines, else 1970-01-01; when the clock goes backwards the
date rolls over a day. Actions and notices (`* nick ...`, `-!- ...`, `--- ...`,
`*** ...`) are skipped; any other line is an error. Times are taken as UTC.
chat = file stem, id = "<stem>:<line number>".
"""

import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path, PurePath

from annotation.importers.errors import ImportFailed, shorten
from annotation.importers.reading import READ_BUFFER_BYTES, ReadProgress, iter_lines
from annotation.importers.records import (
    EMPTY_METADATA,
    FieldProblem,
    StagedMessage,
    as_name,
    as_text,
)

STAMP = re.compile(r"\[(\d{1,2}):(\d{2})(?::(\d{2}))?\] ?")
SPOKEN = re.compile(r"<[@%+&~ ]?([^>]+)>(?: (.*))?")
SYSTEM_PREFIXES = ("* ", "-!-", "---", "***")
DATE_LINE_PREFIXES = ("--- Day changed", "--- Log opened")
ISO_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})")
# irssi writes "Tue Jan 02 2024" and "Tue Jan 02 10:00:00 2024".
WORDY_DATE = re.compile(r"([A-Z][a-z]{2}) +(\d{1,2})(?: \d{1,2}:\d{2}(?::\d{2})?)? (\d{4})")
MONTHS = {name: n for n, name in enumerate(
    ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"], 1
)}
FALLBACK_DATE = date(1970, 1, 1)


def read_messages(path: Path, *, progress: ReadProgress, name: str) -> Iterator[StagedMessage]:
    file = name
    chat = PurePath(name).stem
    file_no = progress.file_no(file)
    day = _date_in(name)
    last_time: time | None = None
    with open(path, "rb", buffering=READ_BUFFER_BYTES) as stream:
        for line_no, line in iter_lines(stream, file=file, progress=progress):
            if not line or line.isspace():
                continue
            stamp = STAMP.match(line)
            rest = line[stamp.end():] if stamp else line
            if rest.startswith(DATE_LINE_PREFIXES):
                announced = _date_in(rest)
                if announced is not None:
                    day, last_time = announced, None
                continue
            if rest.startswith(SYSTEM_PREFIXES):
                continue
            spoken = SPOKEN.fullmatch(rest) if stamp else None
            if spoken is None:
                raise ImportFailed(
                    f"unrecognised line {shorten(line)!r}", file=file, line=line_no
                )
            clock = _clock(stamp, file=file, line=line_no)
            if day is None:
                day = FALLBACK_DATE
            if last_time is not None and clock < last_time:
                if day == date.max:
                    raise ImportFailed(
                        "the date rolls over past 9999-12-31", file=file, line=line_no, field="time"
                    )
                day += timedelta(days=1)
            last_time = clock
            try:
                sender = as_name(spoken.group(1).strip(), "nick")
                text = as_text(spoken.group(2) or "", "text")
                external_id = as_name(f"{chat}:{line_no}", "id")
            except FieldProblem as exc:
                raise ImportFailed(exc.problem, file=file, line=line_no, field=exc.field) from None
            yield StagedMessage(
                external_id, chat, chat, sender, datetime.combine(day, clock, UTC), text,
                EMPTY_METADATA, line_no, file_no,
            )


def _clock(stamp: re.Match, *, file: str, line: int) -> time:
    hours, minutes, seconds = stamp.group(1), stamp.group(2), stamp.group(3) or "0"
    try:
        return time(int(hours), int(minutes), int(seconds))
    except ValueError:
        raise ImportFailed(
            f"invalid time {stamp.group().strip()!r}", file=file, line=line, field="time"
        ) from None


def _date_in(text: str) -> date | None:
    match = ISO_DATE.search(text)
    if match is not None:
        try:
            return date(int(match.group(1)), int(match.group(2)), int(match.group(3)))
        except ValueError:
            return None
    match = WORDY_DATE.search(text)
    if match is not None and match.group(1) in MONTHS:
        try:
            return date(int(match.group(3)), MONTHS[match.group(1)], int(match.group(2)))
        except ValueError:
            return None
    return None
