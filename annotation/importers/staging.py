"""Writing parsed messages chunk by chunk inside the import's transaction.

Each chunk goes to a temporary table (COPY on PostgreSQL, executemany on
SQLite); from there its chats are upserted by (corpus, external_id) and its
messages inserted with ON CONFLICT DO NOTHING, so ids the corpus already holds
are skipped. Every record's id and location also go to a second temporary
table, where duplicates within the input are found by SQL at the end; memory
stays flat however long the file.
"""

import re
import uuid
from dataclasses import dataclass

from django.db import connection

from annotation.importers.records import StagedMessage
from annotation.models import Chat, Message

COLUMNS = StagedMessage._fields
SEEN_COLUMNS = ("external_id", "file_no", "line", "path")
# COPY's text format: tab-separated, \N for NULL, backslash escapes.
COPY_NULL = "\\N"
COPY_SPECIAL = re.compile(r"[\\\t\n\r]")
COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
# Chats the reading thread remembers as upserted; past this many it starts over,
# so a file of countless one-message chats cannot grow memory without bound.
MAX_KNOWN_CHATS = 100_000


@dataclass(frozen=True)
class PreparedChunk:
    # COPY text on PostgreSQL; parameter rows on SQLite.
    payload: bytes | list[tuple]
    rows: int
    # False when every (chat, title) of the chunk was upserted by an earlier chunk.
    has_new_chats: bool


@dataclass(frozen=True)
class Duplicate:
    external_id: str
    file_no: int
    line: int
    path: str | None
    first_file_no: int
    first_line: int


class Staging:
    """One import's temporary tables; use inside the import's transaction."""

    def __init__(self, *, corpus_id: int, job_id: int | None = None):
        self.corpus_id = corpus_id
        # Marks the chats and messages this import adds, so a failed job can remove them.
        self.job_id = job_id
        suffix = uuid.uuid4().hex[:16]
        quote = connection.ops.quote_name
        self.chunk_table = quote(f"message_import_chunk_{suffix}")
        self.seen_table = quote(f"message_import_seen_{suffix}")
        self.rows = 0
        self.added = 0
        self.is_postgresql = connection.vendor == "postgresql"
        self.ops = connection.ops
        self.known_chats: set[tuple[str, str]] = set()

    def create(self) -> None:
        types = (
            {"sent_at": "timestamptz", "metadata": "jsonb", "line": "bigint", "file_no": "integer"}
            if self.is_postgresql
            else {"sent_at": "text", "metadata": "text", "line": "integer", "file_no": "integer"}
        )
        drop = " ON COMMIT DROP" if self.is_postgresql else ""
        with connection.cursor() as cursor:
            for table, names in ((self.chunk_table, COLUMNS), (self.seen_table, SEEN_COLUMNS)):
                columns = ", ".join(f"{name} {types.get(name, 'text')}" for name in names)
                cursor.execute(f"CREATE TEMPORARY TABLE {table} ({columns}){drop}")

    def prepare(self, chunk: list[StagedMessage]) -> PreparedChunk:
        """The chunk as `add` writes it. Needs no connection: it runs in the reading thread."""
        chats = {(row.chat, row.chat_title) for row in chunk}
        has_new_chats = not chats <= self.known_chats
        if len(self.known_chats) + len(chats) > MAX_KNOWN_CHATS:
            self.known_chats.clear()
        self.known_chats |= chats
        if self.is_postgresql:
            payload = "".join(map(_copy_line, chunk)).encode()
        else:
            # Stored as Django stores DateTimeField on SQLite: naive UTC text.
            adapt = self.ops.adapt_datetimefield_value
            payload = [row._replace(sent_at=adapt(row.sent_at)) for row in chunk]
        return PreparedChunk(payload, len(chunk), has_new_chats)

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
        quote = connection.ops.quote_name
        chat_table = quote(Chat._meta.db_table)
        corpus = quote(Chat._meta.get_field("corpus").column)
        job = quote(Chat._meta.get_field("import_job").column)
        # `WHERE true` keeps SQLite from reading ON CONFLICT as part of a join.
        cursor.execute(
            f"""
            INSERT INTO {chat_table} ({corpus}, external_id, title, {job})
            SELECT %s, chat, MAX(chat_title), %s FROM {self.chunk_table} WHERE true GROUP BY chat
            ON CONFLICT ({corpus}, external_id) DO UPDATE SET title = excluded.title
            WHERE excluded.title <> '' AND {chat_table}.title <> excluded.title
            """,
            [self.corpus_id, self.job_id],
        )

    def _insert_messages(self, cursor) -> int:
        quote = connection.ops.quote_name
        chat_table = quote(Chat._meta.db_table)
        chat_corpus = quote(Chat._meta.get_field("corpus").column)
        message_table = quote(Message._meta.db_table)
        message_corpus = quote(Message._meta.get_field("corpus").column)
        message_chat = quote(Message._meta.get_field("chat").column)
        message_job = quote(Message._meta.get_field("import_job").column)
        cursor.execute(
            f"""
            INSERT INTO {message_table}
                ({message_corpus}, {message_chat}, external_id, sender, sent_at, text, metadata,
                 {message_job})
            SELECT %s, chat.id, staged.external_id, staged.sender, staged.sent_at,
                   staged.text, staged.metadata, %s
            FROM {self.chunk_table} AS staged
            JOIN {chat_table} AS chat
              ON chat.{chat_corpus} = %s AND chat.external_id = staged.chat
            WHERE true
            ORDER BY staged.file_no, staged.line
            ON CONFLICT ({message_corpus}, external_id) DO NOTHING
            """,
            [self.corpus_id, self.job_id, self.corpus_id],
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


def _copy_line(row: StagedMessage) -> str:
    """One row of COPY text; `metadata` is JSON text, the rest strings and numbers."""
    external_id, chat, chat_title, sender, sent_at, text, metadata, line, file_no, path = row
    if COPY_SPECIAL.search(f"{external_id}{chat}{chat_title}{sender}{text}{metadata}{path or ''}"):
        external_id, chat, chat_title, sender, text, metadata = (
            value.translate(COPY_ESCAPES)
            for value in (external_id, chat, chat_title, sender, text, metadata)
        )
        if path is not None:
            path = path.translate(COPY_ESCAPES)
    if path is None:
        path = COPY_NULL
    return (
        f"{external_id}\t{chat}\t{chat_title}\t{sender}\t{sent_at.isoformat()}\t{text}\t"
        f"{metadata}\t{line}\t{file_no}\t{path}\n"
    )
