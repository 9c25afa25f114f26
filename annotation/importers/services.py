"""The import services: `messages_import` and `import_job_execute`."""

import queue
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

from django.db import InterfaceError, OperationalError, connection, transaction
from django.utils import timezone

from annotation import services
from annotation.importers import csvfile, irc, jsonl, labelstudio, slack, telegram
from annotation.importers.detect import FORMATS, detect_format
from annotation.importers.errors import ImportFailed
from annotation.importers.reading import ReadProgress
from annotation.importers.records import StagedMessage
from annotation.importers.staging import Duplicate, PreparedChunk, Staging
from annotation.models import ImportJob, Project

ProgressCallback = Callable[[int, int], None]

READERS: dict[str, Callable[..., Iterator[StagedMessage]]] = {
    "jsonl": jsonl.read_messages,
    "csv": csvfile.read_messages,
    "slack": slack.read_messages,
    "telegram": telegram.read_messages,
    "irc": irc.read_messages,
    "labelstudio": labelstudio.read_messages,
}
# Rows staged per round trip; progress is reported once a chunk.
CHUNK_ROWS = 5000
JOB_PROGRESS_SECONDS = 0.5


@dataclass(frozen=True)
class ImportResult:
    format: str
    added: int
    # Messages whose id the corpus already held.
    skipped: int
    seconds: float


def input_size(path: Path) -> int:
    return slack.total_bytes(path) if path.is_dir() else path.stat().st_size


def resolve_format(path: Path, format: str | None, name: str) -> str:
    if not path.exists():
        raise ImportFailed("no such file or directory", file=str(path))
    if format is None:
        return detect_format(path, name)
    if format not in FORMATS:
        raise ImportFailed(f"unknown format {format!r}; one of {', '.join(FORMATS)}", file=name)
    return format


def messages_import(
    *,
    project: Project,
    path: Path | str,
    corpus_name: str = "default",
    format: str | None = None,
    progress: ProgressCallback | None = None,
    file_name: str = "",
) -> ImportResult:
    """Import the messages of one file into a project's corpus, all or nothing.

    Messages whose id the corpus already holds are skipped, so re-importing a
    file adds nothing. Bad input raises `ImportFailed` naming the file, line
    and field, and changes nothing. `progress(done_bytes, total_bytes)` is
    called every few thousand records.

    `file_name` is the name the input goes by, where it differs from the
    stored file's: an upload is kept as `upload.<suffix>`, but its errors
    name the file the lead chose, and an IRC log's chat and date still come
    from that name.
    """
    started = time.perf_counter()
    path = Path(path)
    name = file_name or path.name
    # The transaction is opened here rather than by a decorator so that
    # `seconds` includes the commit, where the foreign keys are checked.
    with transaction.atomic():
        format = resolve_format(path, format, name)
        corpus = services.corpus_get_or_create(project=project, name=corpus_name)
        tracker = ReadProgress(total_bytes=input_size(path))
        staging = Staging(corpus_id=corpus.pk)
        staging.create()
        messages = READERS[format](path, progress=tracker, name=name)
        # Closed explicitly so the reading thread stops before a failed import rolls back.
        with closing(_read_ahead(messages, tracker, prepare=staging.prepare)) as chunks:
            for chunk, done_bytes in chunks:
                staging.add(chunk)
                if progress is not None:
                    progress(done_bytes, tracker.total_bytes)
        duplicate = staging.first_duplicate()
        if duplicate is not None:
            raise _duplicate_error(duplicate, tracker.files)
        staging.finish()
    if progress is not None:
        progress(tracker.total_bytes, tracker.total_bytes)
    return ImportResult(
        format=format,
        added=staging.added,
        skipped=staging.rows - staging.added,
        seconds=time.perf_counter() - started,
    )


def _duplicate_error(duplicate: Duplicate, files: list[str]) -> ImportFailed:
    if duplicate.first_file_no == duplicate.file_no:
        first = f"line {duplicate.first_line}"
    else:
        first = f"{files[duplicate.first_file_no]}:{duplicate.first_line}"
    return ImportFailed(
        f"duplicate id {duplicate.external_id!r} (first at {first})",
        file=files[duplicate.file_no], line=duplicate.line, path=duplicate.path, field="id",
    )


_END = object()


def _read_ahead(
    messages: Iterator[StagedMessage],
    tracker: ReadProgress,
    *,
    prepare: Callable[[list[StagedMessage]], PreparedChunk],
) -> Iterator[tuple[PreparedChunk, int]]:
    """(prepared chunk, bytes read so far) for chunks of `messages`, read in a thread.

    The database writes one chunk while the next is parsed and prepared. The
    queue holds two chunks at most, so memory stays flat; a reader error is
    raised here, in the importing thread.
    """
    chunks: queue.Queue = queue.Queue(maxsize=2)
    stop = threading.Event()

    def put(item) -> bool:
        while not stop.is_set():
            try:
                chunks.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            chunk: list[StagedMessage] = []
            for message in messages:
                chunk.append(message)
                if len(chunk) >= CHUNK_ROWS:
                    if not put((prepare(chunk), tracker.done_bytes)):
                        return
                    chunk = []
            if chunk and not put((prepare(chunk), tracker.done_bytes)):
                return
            put(_END)
        except BaseException as exc:  # handed to the importing thread, which raises it
            put(exc)
        finally:
            messages.close()

    reader = threading.Thread(target=produce, name="import-reader", daemon=True)
    reader.start()
    try:
        while (item := chunks.get()) is not _END:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        reader.join()


CONNECTION_LOST = "the database connection failed during the import; nothing was imported"


class ImportInterrupted(Exception):
    """The import stopped for a reason outside its file (the database went
    away); it changed nothing and running the job again may succeed."""


def _connection_errors() -> tuple[type[Exception], ...]:
    # The staging COPY talks to the driver directly, so its errors arrive unwrapped.
    driver = connection.Database
    return (OperationalError, InterfaceError, driver.OperationalError, driver.InterfaceError)


def import_job_requeue(*, job: ImportJob) -> ImportJob:
    """Put an interrupted job back to pending, keeping why it stopped."""
    job.status = ImportJob.PENDING
    job.finished_at = None
    job.save(update_fields=["status", "finished_at"])
    return job


def import_job_execute(*, job: ImportJob, progress: ProgressCallback | None = None) -> ImportJob:
    """Run an import job: RUNNING, then DONE with counts or FAILED with the error.

    While the import's transaction is open, `bytes_done` is written at most
    every half second through a second connection, so a page polling the job
    sees it move; where that cannot be seen (SQLite's single writer, or a
    caller's open transaction) it is written once at the end.
    """
    path = Path(job.path)
    job.status = ImportJob.RUNNING
    job.error = ""
    job.bytes_done = 0
    job.finished_at = None
    try:
        job.bytes_total = input_size(path)
    except OSError:
        job.bytes_total = 0
    job.save(update_fields=["status", "error", "bytes_done", "bytes_total", "finished_at"])
    writer = _JobProgressWriter(job_id=job.pk) if _can_write_beside() else None
    try:
        result = messages_import(
            project=job.project,
            path=path,
            corpus_name=job.corpus_name,
            format=job.format or None,
            progress=_fan_out(writer.report if writer else None, progress),
            file_name=job.file_name,
        )
    except ImportFailed as exc:
        _job_finish(job, status=ImportJob.FAILED, error=str(exc))
        return job
    except _connection_errors() as exc:
        # The transaction died with its connection, so nothing was written.
        # A fresh connection records that; the caller may run the job again.
        connection.close()
        _job_finish(job, status=ImportJob.FAILED, error=f"{CONNECTION_LOST}: {exc}".strip())
        raise ImportInterrupted(str(exc)) from exc
    except Exception as exc:
        _job_finish(job, status=ImportJob.FAILED, error=f"{type(exc).__name__}: {exc}")
        raise
    finally:
        if writer is not None:
            writer.close()
    job.format = result.format
    job.messages_added = result.added
    job.messages_skipped = result.skipped
    job.bytes_done = job.bytes_total
    _job_finish(job, status=ImportJob.DONE, error="")
    return job


def _job_finish(job: ImportJob, *, status: str, error: str) -> None:
    job.status = status
    job.error = error
    job.finished_at = timezone.now()
    job.save(
        update_fields=[
            "status", "error", "finished_at", "format", "bytes_done",
            "messages_added", "messages_skipped",
        ]
    )


def _can_write_beside() -> bool:
    return connection.vendor == "postgresql" and not connection.in_atomic_block


def _fan_out(*callbacks: ProgressCallback | None) -> ProgressCallback | None:
    present = [callback for callback in callbacks if callback is not None]
    if not present:
        return None

    def report(done: int, total: int) -> None:
        for callback in present:
            callback(done, total)

    return report


class _JobProgressWriter:
    """Writes a job's bytes_done from its own thread, hence its own connection.

    The import's transaction is not committed yet, so a write through the
    import's connection would stay invisible until the end.
    """

    def __init__(self, *, job_id: int):
        self.job_id = job_id
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="import-progress")
        self.last_write = 0.0

    def report(self, done: int, total: int) -> None:
        now = time.monotonic()
        if now - self.last_write < JOB_PROGRESS_SECONDS:
            return
        self.last_write = now
        # Waits for the write (a millisecond, twice a second), so what the
        # caller reports next is never ahead of what the row shows.
        self.executor.submit(self._write, done).result()

    def _write(self, done: int) -> None:
        ImportJob.objects.filter(pk=self.job_id).update(bytes_done=done)

    def close(self) -> None:
        self.executor.submit(self._close_connection)
        self.executor.shutdown(wait=True)

    @staticmethod
    def _close_connection() -> None:
        # Looked up in the writer's thread: `connection` is per thread.
        connection.close()
