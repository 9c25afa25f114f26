"""Slack exports: a directory or .zip with channels.json and <channel>/<YYYY-MM-DD>.json.

Each day file is a JSON array of messages (`ts`, `user`, `text`, optional
`user_profile.real_name`, `subtype`). A single day file imports on its own; its
channel is the folder it sits in, or for an upload, which keeps no folder, its
file name. chat = channel name, id = "<channel>:<ts>".
Join, leave, topic and similar notices are not chat and are skipped.
"""

import re
import zipfile
import zlib
from collections.abc import Callable, Iterator
from contextlib import closing
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from django.conf import settings

from annotation.importers.errors import ImportFailed, json_type_name
from annotation.importers.reading import JsonDocument, ReadProgress
from annotation.importers.records import (
    FieldProblem,
    StagedMessage,
    as_identifier,
    as_name,
    as_text,
    from_unix_seconds,
    get_required,
    metadata_json,
)

SKIPPED_SUBTYPES = frozenset(
    {
        "channel_join", "channel_leave", "group_join", "group_leave",
        "channel_topic", "channel_purpose", "channel_name",
        "channel_archive", "channel_unarchive", "group_topic", "group_purpose",
        "group_name", "group_archive", "group_unarchive",
    }
)
# Conversation lists of an export; direct messages have no name, only an id.
CONVERSATION_LISTS = ("channels.json", "groups.json", "mpims.json", "dms.json")
DAY_FILE = re.compile(r"\d{4}-\d{2}-\d{2}\.json")
METADATA_KEYS = ("user", "bot_id", "subtype", "thread_ts", "parent_user_id", "client_msg_id")


class ExportFiles:
    """The files of an export, as a directory or a zip archive.

    An archive whose members unpack to more than IMPORT_MAX_BYTES in all is
    refused from its directory, before any member is read: a few megabytes
    can declare gigabytes. A member is streamed but never past the size its
    entry declares, since zipfile stops there and then fails the CRC check, so
    an entry that understates its size cannot unpack more than it declared.
    """

    def __init__(self, path: Path, *, name: str):
        self.path = path
        self.name = name
        self.zip = _open_zip(path, name) if not path.is_dir() else None
        if self.zip is not None:
            infos = self.zip.infolist()
            unpacked = sum(info.file_size for info in infos)
            if unpacked > settings.IMPORT_MAX_BYTES:
                self.zip.close()
                raise ImportFailed(
                    f"the archive unpacks to {unpacked:,} bytes; the limit is "
                    f"{settings.IMPORT_MAX_BYTES:,} bytes",
                    file=name,
                )
            self.names = [info.filename for info in infos if not info.is_dir()]
            self.sizes = {info.filename: info.compress_size for info in infos}
        else:
            files = sorted(p for p in path.rglob("*.json") if p.is_file())
            self.names = [p.relative_to(path).as_posix() for p in files]
            self.sizes = {name: (path / name).stat().st_size for name in self.names}

    def display(self, name: str) -> str:
        if self.zip is not None:
            return f"{self.name}:{name}"
        return f"{self.name}/{name}"

    def opener(self, name: str) -> Callable[[], BinaryIO]:
        """Opens the file `name` of the export for reading from its start."""
        if self.zip is None:
            return lambda: open(self.path / name, "rb")
        return lambda: _ArchiveMember(self.zip, name, file=self.display(name))

    def close(self) -> None:
        if self.zip is not None:
            self.zip.close()


class _ArchiveMember:
    """A member of the archive read as a stream; a damaged one fails naming itself."""

    ERRORS = (zipfile.BadZipFile, zlib.error, NotImplementedError, EOFError)

    def __init__(self, archive: zipfile.ZipFile, name: str, *, file: str):
        self.file = file
        try:
            self.stream = archive.open(name)
        except self.ERRORS as exc:
            raise self._unreadable(exc) from None

    def _unreadable(self, exc: Exception) -> ImportFailed:
        return ImportFailed(f"unreadable in the archive: {exc}", file=self.file)

    def read(self, size: int = -1) -> bytes:
        try:
            return self.stream.read(size)
        except self.ERRORS as exc:
            raise self._unreadable(exc) from None

    def close(self) -> None:
        self.stream.close()


def _open_zip(path: Path, name: str) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(path)
    except (zipfile.BadZipFile, NotImplementedError) as exc:
        raise ImportFailed(f"unreadable zip archive: {exc}", file=name) from None


def total_bytes(path: Path) -> int:
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*.json") if p.is_file())
    return path.stat().st_size


def read_messages(path: Path, *, progress: ReadProgress, name: str) -> Iterator[StagedMessage]:
    if path.is_dir() or zipfile.is_zipfile(path):
        export = ExportFiles(path, name=name)
        try:
            yield from _read_export(export, progress)
        finally:
            export.close()
        return
    file = name
    # An upload is stored as upload.json in a folder of its own, so only a day
    # file kept under its own name can take its channel from its folder.
    channel = path.parent.name if DAY_FILE.fullmatch(path.name) else PurePosixPath(name).stem
    file_no = progress.file_no(file)
    yield from _read_day(lambda: open(path, "rb"), file, channel, file_no, {}, progress)


def _read_export(export: ExportFiles, progress: ReadProgress) -> Iterator[StagedMessage]:
    lists = sorted(
        (name for name in export.names if PurePosixPath(name).name == "channels.json"),
        key=lambda name: name.count("/"),
    )
    if not lists:
        raise ImportFailed("not a Slack export: no channels.json", file=export.name)
    root = PurePosixPath(lists[0]).parent
    users = _users(export, root)
    for list_name in CONVERSATION_LISTS:
        name = (root / list_name).as_posix()
        if name not in export.sizes:
            continue
        for folder in _conversations(export, name):
            prefix = (root / folder).as_posix() + "/"
            days = sorted(
                n for n in export.names
                if n.startswith(prefix) and DAY_FILE.fullmatch(n[len(prefix):])
            )
            for day in days:
                file = export.display(day)
                yield from _read_day(export.opener(day), file, folder, progress.file_no(file), users)
                progress.done_bytes += export.sizes[day]


def _conversations(export: ExportFiles, name: str) -> list[str]:
    """Folder names of the conversations a list names, in its order."""
    file = export.display(name)
    doc = JsonDocument(export.opener(name), file=file)
    with closing(doc):
        folders = []
        for index, pos in doc.elements(doc.start(), path=None):
            path = f"[{index}]"
            entry = doc.value(pos, path=path)
            key = "id" if name.endswith("dms.json") else "name"
            try:
                if not isinstance(entry, dict):
                    raise FieldProblem(key, f"expected an object, got {json_type_name(entry)}")
                folders.append(as_name(get_required(entry, key), key))
            except FieldProblem as exc:
                raise ImportFailed(
                    exc.problem, file=file, line=doc.line_at(pos), path=path, field=exc.field
                ) from None
        doc.finish()
    return folders


def _users(export: ExportFiles, root: PurePosixPath) -> dict[str, str]:
    """Display names by user id from users.json, when the export has one."""
    name = (root / "users.json").as_posix()
    if name not in export.sizes:
        return {}
    file = export.display(name)
    doc = JsonDocument(export.opener(name), file=file)
    with closing(doc):
        start = doc.start()
        names = {}
        if doc.kind_at(start) != "[":
            doc.value(start)
            doc.finish()
            return names
        for index, pos in doc.elements(start, path=None):
            user = doc.value(pos, path=f"[{index}]")
            if not isinstance(user, dict) or not isinstance(user.get("id"), str):
                continue
            profile = user.get("profile") if isinstance(user.get("profile"), dict) else {}
            candidates = (
                ("profile.real_name", profile.get("real_name")),
                ("real_name", user.get("real_name")),
                ("name", user.get("name")),
            )
            for key, candidate in candidates:
                if isinstance(candidate, str) and candidate:
                    # Checked here, where the line is known: the name becomes a sender.
                    try:
                        names[user["id"]] = as_name(candidate, key)
                    except FieldProblem as exc:
                        raise ImportFailed(
                            exc.problem, file=file, line=doc.line_at(pos), path=f"[{index}]",
                            field=exc.field,
                        ) from None
                    break
        doc.finish()
    return names


def _read_day(
    open_day: Callable[[], BinaryIO],
    file: str,
    channel: str,
    file_no: int,
    users: dict[str, str],
    progress: ReadProgress | None = None,
) -> Iterator[StagedMessage]:
    doc = JsonDocument(open_day, file=file, progress=progress)
    with closing(doc):
        for index, pos in doc.elements(doc.start(), path=None):
            path = f"[{index}]"
            record = doc.value(pos, path=path)
            line = doc.line_at(pos)
            try:
                message = _message(record, channel, users, line, file_no, path)
            except FieldProblem as exc:
                raise ImportFailed(
                    exc.problem, file=file, line=line, path=path, field=exc.field
                ) from None
            if message is not None:
                yield message
        doc.finish()


def _message(
    record, channel: str, users: dict[str, str], line: int, file_no: int, path: str
) -> StagedMessage | None:
    if not isinstance(record, dict):
        raise FieldProblem("message", f"expected an object, got {json_type_name(record)}")
    subtype = record.get("subtype")
    if subtype in SKIPPED_SUBTYPES:
        return None
    ts = get_required(record, "ts")
    sent_at = from_unix_seconds(ts, "ts")
    text = as_text(get_required(record, "text"), "text")
    external_id = as_name(f"{channel}:{ts}", "ts")
    metadata = {key: record[key] for key in METADATA_KEYS if key in record}
    return StagedMessage(
        external_id, channel, channel, _sender(record, users), sent_at, text,
        metadata_json(metadata), line, file_no, path,
    )


def _sender(record: dict, users: dict[str, str]) -> str:
    profile = record.get("user_profile")
    if isinstance(profile, dict):
        real_name = profile.get("real_name")
        if isinstance(real_name, str) and real_name:
            return as_name(real_name, "user_profile.real_name")
    user = record.get("user")
    if user is not None:
        user = as_identifier(user, "user")
        return users.get(user, user)
    for key in ("username", "bot_id"):
        if record.get(key) is not None:
            return as_identifier(record[key], key)
    raise FieldProblem("user", "missing")
