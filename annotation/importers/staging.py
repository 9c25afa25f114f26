"""Writing parsed messages chunk by chunk inside the import's transaction.

Two writers, with the same methods. `DirectCopy` is for PostgreSQL when the
corpus holds no messages yet: each chunk is COPYed straight into the message
table, the chats it names upserted first, so any id the unique constraint
finds taken is repeated by the input itself (or was added by an import
running beside this one); it raises `IdTaken` and the import starts over
with `Staging`, which names the duplicate or skips the ids found in the
corpus.

`Staging` writes each chunk to a temporary table (COPY on PostgreSQL,
executemany on SQLite); from there its chats are upserted by (corpus,
external_id) and its messages inserted unless the corpus holds their id, so
ids the corpus already holds are skipped. Every record's id and location also
go to a second temporary table, where duplicates within the input are found
by SQL at the end; memory stays flat however long the file.

On PostgreSQL the message table's foreign keys are checked as each chunk is
written rather than at the commit, so the checks run while the reading thread
parses the next chunk instead of after the last one.
"""

import uuid
from dataclasses import dataclass

from django.db import connection

from annotation.importers.records import StagedMessage
from annotation.models import Chat, Message

COLUMNS = StagedMessage._fields
SEEN_COLUMNS = ("external_id", "file_no", "line", "path")
# COPY's text format: tab-separated, \N for NULL, backslash escapes. Fields are
# joined with NUL while a row is escaped (no stored value can hold one: see
# records.UNSTORABLE), and the NULs become tabs once the chunk is joined.
COPY_NULL = "\\N"
FIELD_MARK = "\x00"
# Chats the reading thread remembers as upserted; past this many it starts over,
# so a file of countless one-message chats cannot grow memory without bound.
MAX_KNOWN_CHATS = 100_000
MESSAGE_UNIQUE_ID = "message_unique_id"


class IdTaken(Exception):
    """A message id `DirectCopy` wrote was already in the corpus."""


@dataclass(frozen=True)
class PreparedChunk:
    # COPY text on PostgreSQL; parameter rows on SQLite. For `DirectCopy`, the
    # COPY text of each row after its corpus, chat and job columns.
    payload: bytes | list[tuple] | list[str]
    rows: int
    # The distinct (chat, title) pairs of the chunk; None when every one was
    # upserted by an earlier chunk.
    new_chats: list[tuple[str, str]] | None
    # For `DirectCopy`: each row's chat, and the distinct chats of the chunk.
    row_chats: list[str] | None = None
    chats: frozenset[str] = frozenset()

    @property
    def has_new_chats(self) -> bool:
        return self.new_chats is not None


@dataclass(frozen=True)
class Duplicate:
    external_id: str
    file_no: int
    line: int
    path: str | None
    first_file_no: int
    first_line: int


class _ChunkWriter:
    def __init__(self, *, corpus_id: int, job_id: int | None = None):
        self.corpus_id = corpus_id
        # Marks the chats and messages this import adds, so a failed job can remove them.
        self.job_id = job_id
        self.rows = 0
        self.added = 0
        self.is_postgresql = connection.vendor == "postgresql"
        self.ops = connection.ops
        self.known_chats: set[tuple[str, str]] = set()
        self.checked_early: list[str] = []

    def _new_chats(self, chunk: list[StagedMessage]) -> list[tuple[str, str]] | None:
        """The chunk's (chat, title) pairs, or None when earlier chunks upserted them all."""
        chats = {(row.chat, row.chat_title) for row in chunk}
        if chats <= self.known_chats:
            return None
        if len(self.known_chats) + len(chats) > MAX_KNOWN_CHATS:
            self.known_chats.clear()
        self.known_chats |= chats
        return list(chats)

    def _check_foreign_keys_early(self, cursor) -> None:
        # Deferred to the commit, the checks of a whole import run after its
        # last chunk, while nothing else can; checked per statement they run
        # beside the parsing. Checked earlier is checked no less.
        cursor.execute(
            "SELECT conname FROM pg_constraint "
            "WHERE conrelid = %s::regclass AND contype = 'f' AND condeferred",
            [Message._meta.db_table],
        )
        self.checked_early = [self.ops.quote_name(name) for (name,) in cursor.fetchall()]
        if self.checked_early:
            cursor.execute(f"SET CONSTRAINTS {', '.join(self.checked_early)} IMMEDIATE")

    def _defer_foreign_keys_again(self, cursor) -> None:
        # For the rest of the caller's transaction; a rollback restores them by itself.
        if self.checked_early:
            cursor.execute(f"SET CONSTRAINTS {', '.join(self.checked_early)} DEFERRED")


class DirectCopy(_ChunkWriter):
    """COPY into the message table, for a PostgreSQL corpus that holds no messages yet."""

    def __init__(self, *, corpus_id: int, job_id: int | None = None):
        super().__init__(corpus_id=corpus_id, job_id=job_id)
        self.chat_ids: dict[str, int] = {}

    def create(self) -> None:
        with connection.cursor() as cursor:
            self._check_foreign_keys_early(cursor)

    def prepare(self, chunk: list[StagedMessage]) -> PreparedChunk:
        """Runs in the reading thread: the chat ids are the writer's to fill in."""
        lines = [
            _escaped(f"{row.external_id}\x00{row.sender}\x00{row.sent_at.isoformat()}\x00"
                     f"{row.text}\x00{row.metadata}")
            for row in chunk
        ]
        row_chats = [row.chat for row in chunk]
        return PreparedChunk(
            lines, len(chunk), self._new_chats(chunk), row_chats, frozenset(row_chats)
        )

    def add(self, chunk: PreparedChunk) -> None:
        quote = self.ops.quote_name
        with connection.cursor() as cursor:
            if chunk.new_chats is not None:
                _upsert_chats(cursor, self.corpus_id, self.job_id, chunk.new_chats)
            missing = chunk.chats - self.chat_ids.keys()
            if missing:
                self._fetch_chat_ids(cursor, missing)
            job = COPY_NULL if self.job_id is None else str(self.job_id)
            heads = {
                name: f"{self.corpus_id}\t{self.chat_ids[name]}\t{job}\t" for name in chunk.chats
            }
            payload = "\n".join(
                map(str.__add__, map(heads.__getitem__, chunk.row_chats), chunk.payload)
            )
            columns = ", ".join(
                quote(Message._meta.get_field(name).column)
                for name in ("corpus", "chat", "import_job", "external_id", "sender", "sent_at",
                             "text", "metadata")
            )
            copy_sql = f"COPY {quote(Message._meta.db_table)} ({columns}) FROM STDIN"
            try:
                with cursor.cursor.copy(copy_sql) as copy:
                    copy.write(payload.replace(FIELD_MARK, "\t").encode() + b"\n")
            except connection.Database.errors.UniqueViolation as exc:
                if exc.diag.constraint_name == MESSAGE_UNIQUE_ID:
                    raise IdTaken() from exc
                raise
        self.rows += chunk.rows
        self.added += chunk.rows

    def _fetch_chat_ids(self, cursor, names: frozenset[str]) -> None:
        if len(self.chat_ids) + len(names) > MAX_KNOWN_CHATS:
            self.chat_ids.clear()
        chat_table = self.ops.quote_name(Chat._meta.db_table)
        corpus = self.ops.quote_name(Chat._meta.get_field("corpus").column)
        cursor.execute(
            f"SELECT external_id, id FROM {chat_table} "
            f"WHERE {corpus} = %s AND external_id = ANY(%s)",
            [self.corpus_id, list(names)],
        )
        self.chat_ids.update(cursor.fetchall())

    def first_duplicate(self) -> Duplicate | None:
        # The unique constraint refused any duplicate as it was written.
        return None

    def finish(self) -> None:
        with connection.cursor() as cursor:
            self._defer_foreign_keys_again(cursor)


class Staging(_ChunkWriter):
    """One import's temporary tables; use inside the import's transaction."""

    def __init__(self, *, corpus_id: int, job_id: int | None = None):
        super().__init__(corpus_id=corpus_id, job_id=job_id)
        suffix = uuid.uuid4().hex[:16]
        quote = connection.ops.quote_name
        self.chunk_table = quote(f"message_import_chunk_{suffix}")
        self.seen_table = quote(f"message_import_seen_{suffix}")

    def create(self) -> None:
        # sent_at and metadata stay text until a row is inserted, so the rows
        # of ids the corpus holds are never parsed.
        types = {"sent_at": "text", "metadata": "text", "line": "bigint", "file_no": "integer"}
        drop = " ON COMMIT DROP" if self.is_postgresql else ""
        with connection.cursor() as cursor:
            for table, names in ((self.chunk_table, COLUMNS), (self.seen_table, SEEN_COLUMNS)):
                columns = ", ".join(f"{name} {types.get(name, 'text')}" for name in names)
                cursor.execute(f"CREATE TEMPORARY TABLE {table} ({columns}){drop}")
            if self.is_postgresql:
                self._check_foreign_keys_early(cursor)

    def prepare(self, chunk: list[StagedMessage]) -> PreparedChunk:
        """The chunk as `add` writes it. Needs no connection: it runs in the reading thread."""
        new_chats = self._new_chats(chunk)
        if self.is_postgresql:
            payload = "\n".join(map(_copy_line, chunk)).replace(FIELD_MARK, "\t").encode() + b"\n"
        else:
            # Stored as Django stores DateTimeField on SQLite: naive UTC text.
            adapt = self.ops.adapt_datetimefield_value
            payload = [row._replace(sent_at=adapt(row.sent_at)) for row in chunk]
        return PreparedChunk(payload, len(chunk), new_chats)

    def add(self, chunk: PreparedChunk) -> None:
        with connection.cursor() as cursor:
            if self.is_postgresql:
                copy_sql = f"COPY {self.chunk_table} ({', '.join(COLUMNS)}) FROM STDIN"
                with cursor.cursor.copy(copy_sql) as copy:
                    copy.write(chunk.payload)
            else:
                placeholders = ", ".join(["%s"] * len(COLUMNS))
                cursor.executemany(
                    f"INSERT INTO {self.chunk_table} VALUES ({placeholders})", chunk.payload
                )
            cursor.execute(
                f"INSERT INTO {self.seen_table} ({', '.join(SEEN_COLUMNS)}) "
                f"SELECT {', '.join(SEEN_COLUMNS)} FROM {self.chunk_table}"
            )
            if chunk.has_new_chats:
                self._upsert_chats(cursor)
            self.added += self._insert_messages(cursor)
            cursor.execute(
                f"TRUNCATE {self.chunk_table}" if self.is_postgresql
                else f"DELETE FROM {self.chunk_table}"
            )
        self.rows += chunk.rows

    def _upsert_chats(self, cursor) -> None:
        _upsert_chats(cursor, self.corpus_id, self.job_id, None, source=self.chunk_table)

    def _insert_messages(self, cursor) -> int:
        quote = connection.ops.quote_name
        chat_table = quote(Chat._meta.db_table)
        chat_corpus = quote(Chat._meta.get_field("corpus").column)
        message_table = quote(Message._meta.db_table)
        message_corpus = quote(Message._meta.get_field("corpus").column)
        message_chat = quote(Message._meta.get_field("chat").column)
        message_job = quote(Message._meta.get_field("import_job").column)
        sent_at, metadata = (
            ("staged.sent_at::timestamptz", "staged.metadata::jsonb") if self.is_postgresql
            else ("staged.sent_at", "staged.metadata")
        )
        # NOT EXISTS passes over the ids the corpus holds before any value is
        # parsed; ON CONFLICT catches an id the chunk itself repeats.
        cursor.execute(
            f"""
            INSERT INTO {message_table}
                ({message_corpus}, {message_chat}, external_id, sender, sent_at, text, metadata,
                 {message_job})
            SELECT %s, chat.id, staged.external_id, staged.sender, {sent_at},
                   staged.text, {metadata}, %s
            FROM {self.chunk_table} AS staged
            JOIN {chat_table} AS chat
              ON chat.{chat_corpus} = %s AND chat.external_id = staged.chat
            WHERE NOT EXISTS (
                SELECT 1 FROM {message_table} AS held
                WHERE held.{message_corpus} = %s AND held.external_id = staged.external_id
            )
            ORDER BY staged.file_no, staged.line
            ON CONFLICT ({message_corpus}, external_id) DO NOTHING
            """,
            [self.corpus_id, self.job_id, self.corpus_id, self.corpus_id],
        )
        return cursor.rowcount

    def first_duplicate(self) -> Duplicate | None:
        """The earliest record whose id an earlier record of the input already used."""
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT 1 FROM {self.seen_table} GROUP BY external_id HAVING COUNT(*) > 1 LIMIT 1"
            )
            if cursor.fetchone() is None:
                return None
            cursor.execute(
                f"""
                SELECT external_id, file_no, line, path FROM (
                    SELECT external_id, file_no, line, path, ROW_NUMBER() OVER (
                        PARTITION BY external_id ORDER BY file_no, line
                    ) AS occurrence
                    FROM {self.seen_table}
                ) AS numbered
                WHERE occurrence = 2
                ORDER BY file_no, line
                LIMIT 1
                """
            )
            external_id, file_no, line, path = cursor.fetchone()
            cursor.execute(
                f"SELECT file_no, line FROM {self.seen_table} WHERE external_id = %s "
                "ORDER BY file_no, line LIMIT 1",
                [external_id],
            )
            first_file_no, first_line = cursor.fetchone()
        return Duplicate(external_id, file_no, line, path, first_file_no, first_line)

    def finish(self) -> None:
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TABLE {self.chunk_table}")
            cursor.execute(f"DROP TABLE {self.seen_table}")
            if self.is_postgresql:
                self._defer_foreign_keys_again(cursor)


def _upsert_chats(
    cursor, corpus_id: int, job_id: int | None, pairs: list[tuple[str, str]] | None,
    *, source: str | None = None,
) -> None:
    """Add the chats named by `pairs` (chat, title), or by the rows of the table `source`.

    A chat named with several titles takes the greatest; a chat already in the
    corpus takes a new title when it is not empty.
    """
    quote = connection.ops.quote_name
    chat_table = quote(Chat._meta.db_table)
    corpus = quote(Chat._meta.get_field("corpus").column)
    job = quote(Chat._meta.get_field("import_job").column)
    if source is None:
        source = "unnest(%s::text[], %s::text[]) AS pair (chat, chat_title)"
        params = [corpus_id, job_id, [chat for chat, _ in pairs], [title for _, title in pairs]]
    else:
        params = [corpus_id, job_id]
    # `WHERE true` keeps SQLite from reading ON CONFLICT as part of a join. Ordered,
    # so the same file gives its chats ids in the same order on every import.
    cursor.execute(
        f"""
        INSERT INTO {chat_table} ({corpus}, external_id, title, {job})
        SELECT %s, chat, MAX(chat_title), %s FROM {source} WHERE true GROUP BY chat ORDER BY chat
        ON CONFLICT ({corpus}, external_id) DO UPDATE SET title = excluded.title
        WHERE excluded.title <> '' AND {chat_table}.title <> excluded.title
        """,
        params,
    )


def _escaped(fields: str) -> str:
    """COPY text escapes for NUL-joined fields."""
    return (
        fields.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
    )


def _copy_line(row: StagedMessage) -> str:
    """One row of COPY text, fields NUL-joined; `metadata` is JSON text, the rest plain values."""
    external_id, chat, chat_title, sender, sent_at, text, metadata, line, file_no, path = row
    fields = _escaped(
        f"{external_id}\x00{chat}\x00{chat_title}\x00{sender}\x00{sent_at.isoformat()}\x00"
        f"{text}\x00{metadata}\x00{line}\x00{file_no}"
    )
    return f"{fields}\x00{COPY_NULL if path is None else _escaped(path)}"
