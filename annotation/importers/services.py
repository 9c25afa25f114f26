"""The import services: `messages_import`, and running, claiming and recovering `ImportJob`s."""

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing, nullcontext
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TypeVar

from django.conf import settings
from django.db import InterfaceError, OperationalError, connection, transaction
from django.db.models import Q
from django.utils import timezone

from annotation import services
from annotation.importers import csvfile, irc, jsonl, labelstudio, slack, telegram
from annotation.importers.detect import FORMATS, detect_format
from annotation.importers.errors import ImportFailed
from annotation.importers.jobs import import_job_enqueue_on_commit, upload_discard
from annotation.importers.labels import LabelCounts, labelstudio_labels_import
from annotation.importers.reading import ReadProgress
from annotation.importers.records import StagedMessage
from annotation.importers.staging import DirectCopy, Duplicate, IdTaken, PreparedChunk, Staging
from annotation.models import Chat, ImportJob, Message, Project

logger = logging.getLogger(__name__)

ProgressCallback = Callable[[int, int], None]

READERS: dict[str, Callable[..., Iterator[StagedMessage]]] = {
    "jsonl": jsonl.read_messages,
    "csv": csvfile.read_messages,
    "slack": slack.read_messages,
    "telegram": telegram.read_messages,
    "irc": irc.read_messages,
    "labelstudio": labelstudio.read_messages,
}
# Rows staged per round trip; progress is reported once a chunk. On SQLite a
# job's import also commits once a chunk, so no write transaction holds the
# database's single write lock for longer than one chunk.
CHUNK_ROWS = 5000
JOB_PROGRESS_SECONDS = 0.5
# A running job beats this many times within IMPORT_STALE_SECONDS, from a thread of its own.
HEARTBEATS_PER_STALE_LIMIT = 6
# A job sent this recently may not be visible on its queue yet.
PENDING_GRACE = timedelta(seconds=5)
# Sent again after this long even when the queue looks full, as a backstop.
PENDING_RESEND = timedelta(hours=1)
# After the database connection dropped, the next attempt waits this long (doubling).
RETRY_SECONDS = 2


@dataclass(frozen=True)
class ImportResult:
    format: str
    added: int
    # Messages whose id the corpus already held.
    skipped: int
    seconds: float
    # Labels the file brought (Label Studio exports); None for formats without labels.
    labels: LabelCounts | None = None


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
    job_id: int | None = None,
) -> ImportResult:
    """Import the messages of one file into a project's corpus, all or nothing.

    Messages whose id the corpus already holds are skipped, so re-importing a
    file adds nothing. Bad input raises `ImportFailed` naming the file, line
    and field, and changes nothing. `progress(done_bytes, total_bytes)` is
    called every few thousand records; it starts over once when a file
    imported into an empty corpus repeats an id (see `staging`). A Label
    Studio export's completed annotations then become label revisions of the
    items made from their messages (`labels.labelstudio_labels_import`), in
    the same all or nothing.

    `file_name` is the name the input goes by, where it differs from the
    stored file's: an upload is kept as `upload.<suffix>`, but its errors
    name the file the lead chose, and an IRC log's chat and date still come
    from that name.

    Rows added are marked with `job_id`. On SQLite, outside a caller's
    transaction, a job's import commits chunk by chunk so annotators can
    write between chunks (SQLite has one writer); all or nothing is then kept
    by removing the job's rows when it fails. Elsewhere it is one transaction.
    """
    started = time.perf_counter()
    path = Path(path)
    name = file_name or path.name
    if job_id is not None:
        # What an earlier attempt of this job left behind (a worker killed mid-import).
        imported_rows_remove(job_id=job_id)
    in_chunks = job_id is not None and _commits_in_chunks()
    if not in_chunks:
        # Opened here rather than by a decorator so that `seconds` includes the commit.
        with transaction.atomic():
            format, writer, labels = _import(
                project, path, corpus_name, format, progress, name, job_id, in_chunks=False
            )
    else:
        try:
            format, writer, labels = _import(
                project, path, corpus_name, format, progress, name, job_id, in_chunks=True
            )
        except BaseException:
            imported_rows_remove(job_id=job_id)
            raise
    return ImportResult(
        format=format,
        added=writer.added,
        skipped=writer.rows - writer.added,
        seconds=time.perf_counter() - started,
        labels=labels,
    )


def _commits_in_chunks() -> bool:
    return connection.vendor == "sqlite" and not connection.in_atomic_block


def _import(
    project: Project,
    path: Path,
    corpus_name: str,
    format: str | None,
    progress: ProgressCallback | None,
    name: str,
    job_id: int | None,
    *,
    in_chunks: bool,
) -> tuple[str, Staging | DirectCopy, LabelCounts | None]:
    format = resolve_format(path, format, name)
    corpus = services.corpus_get_or_create(project=project, name=corpus_name)
    total_bytes = input_size(path)
    writer = None
    if _copies_directly(corpus):
        try:
            with transaction.atomic():
                writer = _write_messages(
                    DirectCopy(corpus_id=corpus.pk, job_id=job_id), path, total_bytes, format,
                    progress, name, in_chunks=False,
                )
        except IdTaken:
            # The file repeats an id, or an import beside this one added it: the
            # staging tables name the first or skip the second. Reading starts over.
            writer = None
    if writer is None:
        writer = _write_messages(
            Staging(corpus_id=corpus.pk, job_id=job_id), path, total_bytes, format, progress,
            name, in_chunks=in_chunks,
        )
    labels = None
    if format == "labelstudio":
        labels = labelstudio_labels_import(corpus=corpus, path=path, name=name)
    if progress is not None:
        progress(total_bytes, total_bytes)
    return format, writer, labels


def _copies_directly(corpus) -> bool:
    """Whether the messages can be COPYed straight into the message table.

    With none in the corpus yet there is no id to skip, and the unique
    constraint alone finds a repeated one.
    """
    return (
        connection.vendor == "postgresql"
        and not Message.objects.filter(corpus=corpus).exists()
    )


Writer = TypeVar("Writer", Staging, DirectCopy)


def _write_messages(
    writer: Writer,
    path: Path,
    total_bytes: int,
    format: str,
    progress: ProgressCallback | None,
    name: str,
    *,
    in_chunks: bool,
) -> Writer:
    tracker = ReadProgress(total_bytes=total_bytes)
    writer.create()
    chunk_transaction = transaction.atomic if in_chunks else nullcontext
    try:
        messages = READERS[format](path, progress=tracker, name=name)
        # Closed explicitly so the reading thread stops before a failed import rolls back.
        with closing(_read_ahead(messages, tracker, prepare=writer.prepare)) as chunks:
            for chunk, done_bytes in chunks:
                with chunk_transaction():
                    writer.add(chunk)
                if progress is not None:
                    progress(done_bytes, tracker.total_bytes)
        duplicate = writer.first_duplicate()
        if duplicate is not None:
            raise _duplicate_error(duplicate, tracker.files)
    except BaseException:
        if in_chunks:
            # Committed chunk by chunk, the temporary tables outlive the failure;
            # in one transaction they go with its rollback.
            writer.finish()
        raise
    writer.finish()
    return writer


def imported_rows_remove(*, job_id: int) -> int:
    """Delete the messages (and the chats they alone used) an import job added.

    Chunk by chunk, each its own transaction when not inside one, for the
    same reason the import commits in chunks. Returns the messages removed.
    """
    removed = 0
    while True:
        with transaction.atomic():
            ids = list(
                Message.objects.filter(import_job_id=job_id).values_list("pk", flat=True)[:CHUNK_ROWS]
            )
            if not ids:
                break
            Message.objects.filter(pk__in=ids).delete()
        removed += len(ids)
    Chat.objects.filter(import_job_id=job_id, messages__isnull=True).delete()
    return removed


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


def import_job_execute(*, job: ImportJob, progress: ProgressCallback | None = None) -> ImportJob:
    """Run an import job: RUNNING, then DONE with counts or FAILED with the error.

    A pending job is started here (the command runs its job so); a worker's
    job was started by `import_job_claim`. While it runs, a thread writes its
    heartbeat, and `bytes_done` is written at most every half second through
    a second connection, so a page polling the job sees it move; inside a
    caller's open transaction neither can be seen, and both wait for the end.

    A dropped database connection raises `ImportInterrupted` after putting the
    job back to pending (or failing it at its last attempt). The upload is
    deleted once the job is done or failed.
    """
    if job.status != ImportJob.RUNNING:
        job.start()
    path = Path(job.path)
    try:
        job.bytes_total = input_size(path)
    except OSError:
        job.bytes_total = 0
    job.save(update_fields=["bytes_total"])
    beside = not connection.in_atomic_block
    writer = _JobProgressWriter(job_id=job.pk) if beside else None
    heartbeat = _Heartbeat(job_id=job.pk, attempt=job.attempts) if beside else None
    try:
        result = messages_import(
            project=job.project,
            path=path,
            corpus_name=job.corpus_name,
            format=job.format or None,
            progress=_fan_out(writer.report if writer else None, progress),
            file_name=job.file_name,
            job_id=job.pk,
        )
    except ImportFailed as exc:
        _stop(heartbeat, writer)
        import_job_fail(job=job, reason=str(exc))
        return job
    except _connection_errors() as exc:
        _stop(heartbeat, writer)
        # The transaction died with its connection, so nothing was written.
        # A fresh connection records that; the job runs again while it has attempts.
        connection.close()
        reason = f"{CONNECTION_LOST}: {exc}".strip()
        if job.attempts < job.max_attempts:
            job.requeue(reason)
        else:
            import_job_fail(job=job, reason=f"gave up after {job.attempts} attempts: {reason}")
        raise ImportInterrupted(str(exc)) from exc
    except (Exception, KeyboardInterrupt) as exc:
        _stop(heartbeat, writer)
        import_job_fail(job=job, reason=f"{type(exc).__name__}: {exc}".rstrip(": "))
        raise
    except BaseException:
        # The worker is being stopped: the job stays running, its heartbeat
        # stops, and recovery gives it to another worker.
        _stop(heartbeat, writer)
        raise
    _stop(heartbeat, writer)
    job.finish(format=result.format, added=result.added, skipped=result.skipped, labels=result.labels)
    _after_commit(lambda: upload_discard(job=job))
    return job


def import_job_fail(*, job: ImportJob, reason: str) -> ImportJob:
    """Fail the job with `reason`, remove any rows it added and delete its upload."""
    job.fail(reason)
    imported_rows_remove(job_id=job.pk)
    _after_commit(lambda: upload_discard(job=job))
    return job


def _after_commit(action: Callable[[], None]) -> None:
    # A file deleted inside a transaction that then rolls back would be lost.
    transaction.on_commit(action)


def _stop(*helpers) -> None:
    for helper in helpers:
        if helper is not None:
            helper.close()


def _stale_after() -> timedelta:
    return timedelta(seconds=settings.IMPORT_STALE_SECONDS)


def import_job_claim(*, job_id: int) -> ImportJob | None:
    """Start the job's next attempt, or None when there is nothing to do.

    Nothing to do: the job is gone or final (a redelivered message), or
    another worker holds it with a fresh heartbeat. A job out of attempts
    fails here, naming its last error, so a job that kills its worker every
    time is not run forever.
    """
    gave_up = None
    with transaction.atomic():
        job = ImportJob.objects.select_for_update().select_related("project").filter(pk=job_id).first()
        if job is None or job.is_final:
            return None
        if job.status == ImportJob.RUNNING:
            if job.heartbeat_at and timezone.now() - job.heartbeat_at < _stale_after():
                return None
            job.requeue(_orphaned_reason(job))
        if job.attempts >= job.max_attempts:
            gave_up = job
        else:
            job.start()
    if gave_up is not None:
        import_job_fail(job=gave_up, reason=_gave_up_reason(gave_up))
        return None
    return job


def _orphaned_reason(job: ImportJob) -> str:
    return f"attempt {job.attempts}: the worker stopped (no heartbeat) before the import ended"


def _gave_up_reason(job: ImportJob) -> str:
    return f"gave up after {job.attempts} attempts; the last: {job.error}"


def import_job_process(*, job_id: int) -> None:
    """Claim and run one import job; an interrupted one is queued again after a pause."""
    job = import_job_claim(job_id=job_id)
    if job is None:
        return
    try:
        import_job_execute(job=job)
    except ImportInterrupted:
        if job.status == ImportJob.PENDING:
            with transaction.atomic():
                import_job_enqueue_on_commit(
                    job_id=job.pk, countdown=RETRY_SECONDS * 2 ** (job.attempts - 1)
                )


def import_jobs_recover(*, stale_after: timedelta | None = None) -> list[int]:
    """Re-enqueue import jobs the broker may have lost or whose worker died.

    Pending jobs go back on the queue when it holds fewer messages than there
    are pending jobs (a broker that restarted and kept nothing, a publish that
    failed), or when they were sent over PENDING_RESEND ago. A running job
    whose heartbeat is older than `stale_after` (IMPORT_STALE_SECONDS) lost
    its worker: it goes back to pending, or fails when out of attempts.
    Redelivery is harmless: the claim skips jobs that are final or held by a
    live worker. Runs when a worker starts and on the beat schedule.
    """
    from training.services import queued_messages

    stale_after = stale_after or _stale_after()
    now = timezone.now()
    recovered: list[int] = []
    stale_ids = list(
        ImportJob.objects.filter(status=ImportJob.RUNNING)
        .filter(Q(heartbeat_at__lt=now - stale_after) | Q(heartbeat_at__isnull=True))
        .values_list("pk", flat=True)
    )
    for job_id in stale_ids:
        gave_up = None
        with transaction.atomic():
            job = ImportJob.objects.select_for_update().filter(pk=job_id).first()
            fresh = job and job.heartbeat_at and job.heartbeat_at >= now - stale_after
            if job is None or job.status != ImportJob.RUNNING or fresh:
                continue
            job.requeue(_orphaned_reason(job))
            if job.attempts >= job.max_attempts:
                gave_up = job
            else:
                import_job_enqueue_on_commit(job_id=job.pk)
                recovered.append(job.pk)
        if gave_up is not None:
            import_job_fail(job=gave_up, reason=_gave_up_reason(gave_up))
    pending = list(
        ImportJob.objects.filter(status=ImportJob.PENDING)
        .filter(Q(enqueued_at__lt=now - PENDING_GRACE) | Q(enqueued_at__isnull=True))
        .exclude(pk__in=recovered)
    )
    if pending:
        if queued_messages(settings.CELERY_TASK_DEFAULT_QUEUE) < len(pending):
            lost = pending
        else:
            lost = [
                job for job in pending
                if job.enqueued_at is None or job.enqueued_at < now - PENDING_RESEND
            ]
        with transaction.atomic():
            for job in lost:
                import_job_enqueue_on_commit(job_id=job.pk)
                recovered.append(job.pk)
    if recovered:
        logger.warning("re-enqueued %d import jobs: %s", len(recovered), recovered)
    return recovered


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


class _Heartbeat:
    """Writes a running job's heartbeat several times per stale limit, from its own thread.

    Beats for the whole attempt, whatever phase it is in, and only while the
    row still shows this attempt running, so a job recovery took over is not
    kept alive by the worker it gave up on.
    """

    def __init__(self, *, job_id: int, attempt: int):
        self.job_id = job_id
        self.attempt = attempt
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._beat, name="import-heartbeat", daemon=True)
        self.thread.start()

    def _beat(self) -> None:
        try:
            interval = settings.IMPORT_STALE_SECONDS / HEARTBEATS_PER_STALE_LIMIT
            this_attempt = Q(pk=self.job_id, status=ImportJob.RUNNING, attempts=self.attempt)
            while not self.stopped.wait(interval):
                ImportJob.objects.filter(this_attempt).update(heartbeat_at=timezone.now())
        finally:
            connection.close()

    def close(self) -> None:
        self.stopped.set()
        self.thread.join()
