"""Reading input safely: bounded lines, strict UTF-8, JSON documents streamed with line numbers."""

import codecs
import json
import re
import sys
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import dataclass, field
from typing import BinaryIO

from annotation.importers.errors import ImportFailed

# A longer line is rejected before it is read whole, so memory stays bounded.
MAX_LINE_BYTES = 1 << 20
READ_BUFFER_BYTES = 1 << 20
# Python refuses to read an integer with more digits than this; json raises a
# plain ValueError for it rather than a JSONDecodeError.
TOO_MANY_DIGITS = f"invalid JSON: a number with more than {sys.get_int_max_str_digits()} digits"


@dataclass
class ReadProgress:
    """Bytes read so far out of the input's total, shared by reader and importer."""

    total_bytes: int
    done_bytes: int = 0
    # Display names of the files read, indexed by StagedMessage.file_no.
    files: list[str] = field(default_factory=list)

    def file_no(self, name: str) -> int:
        self.files.append(name)
        return len(self.files) - 1


def iter_lines(stream: BinaryIO, *, file: str, progress: ReadProgress) -> Iterator[tuple[int, str]]:
    """(line number, text without the line break) for each line of a UTF-8 byte stream.

    Rejects a line over 1 MiB without reading it whole, NUL bytes and invalid
    UTF-8, naming the line. A UTF-8 byte order mark on the first line is dropped.
    """
    line_no = 0
    readline = stream.readline
    while True:
        raw = readline(MAX_LINE_BYTES + 1)
        if not raw:
            return
        line_no += 1
        progress.done_bytes += len(raw)
        if raw[-1:] == b"\n":
            raw = raw[:-2] if raw[-2:] == b"\r\n" else raw[:-1]
        elif len(raw) > MAX_LINE_BYTES:
            raise ImportFailed(f"line longer than {MAX_LINE_BYTES} bytes", file=file, line=line_no)
        nul = raw.find(b"\x00")
        if nul >= 0:
            raise ImportFailed(f"NUL byte at byte {nul + 1} of the line", file=file, line=line_no)
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ImportFailed(
                f"invalid UTF-8 at byte {exc.start + 1} of the line", file=file, line=line_no
            ) from None
        if line_no == 1 and text.startswith("\ufeff"):
            text = text[1:]
        yield line_no, text


def decoded_blocks(
    stream: BinaryIO, *, file: str, progress: ReadProgress | None = None
) -> Iterator[str]:
    """The text of a UTF-8 byte stream, a block at a time.

    NUL bytes and invalid UTF-8 are rejected naming their line; a UTF-8 byte
    order mark at the start is dropped. `progress` counts the bytes read.
    """
    decoder = codecs.getincrementaldecoder("utf-8")()
    newlines = 0
    first = True
    # read1 answers with what one read returns, so a pipe's records flow as they arrive.
    read = getattr(stream, "read1", stream.read)
    while True:
        raw = read(READ_BUFFER_BYTES)
        nul = raw.find(b"\x00")
        if nul >= 0:
            raise ImportFailed("NUL byte", file=file, line=newlines + raw.count(b"\n", 0, nul) + 1)
        try:
            text = decoder.decode(raw, final=not raw)
        except UnicodeDecodeError as exc:
            # The decoder's pending bytes (a partial character) hold no newline.
            line = newlines + exc.object.count(b"\n", 0, exc.start) + 1
            raise ImportFailed("invalid UTF-8", file=file, line=line) from None
        newlines += raw.count(b"\n")
        if progress is not None:
            progress.done_bytes += len(raw)
        if first and text:
            first = False
            text = text.removeprefix("\ufeff")
        if text:
            yield text
        if not raw:
            return


WHITESPACE = " \t\n\r"
NOT_WHITESPACE = re.compile(r"[^ \t\n\r]")
# Past this many characters from the window's end a decoded value cannot have
# been cut short: the longest JSON token a block boundary can split (a number
# like 1.5e-10, a literal, a \uXXXX escape) is shorter.
TOKEN_MARGIN = 8
# A skipped value is walked this many containers deep, so a long array of
# records inside it is never held whole; below that a record is decoded whole,
# which is faster than walking it.
MAX_SKIP_DEPTH = 2


class JsonDocument:
    """Walks a JSON document member by member, so each record knows its line.

    The document is read from a stream through a window of about one read
    block plus the record being decoded, so memory stays flat however long
    the file. `members` and `elements` yield the position of each value; the
    caller may read that value with `value` or walk into it before asking for
    the next one, and a value left alone is skipped (walked, not decoded, when
    it is a container). Positions are characters from the document's start.

    `open_stream` opens the document from its start; it is opened again only
    to find the line of a position that has left the window (for an error
    message) or to `seek` back to one.
    """

    def __init__(
        self,
        open_stream: Callable[[], BinaryIO],
        *,
        file: str,
        progress: ReadProgress | None = None,
    ):
        self.file = file
        self.pos = 0
        self._open = open_stream
        self._progress = progress
        self._decoder = json.JSONDecoder()
        self._start_reading(progress)
        self._skip_depth = 0

    def _start_reading(self, progress: ReadProgress | None) -> None:
        self._stream = self._open()
        self._blocks = decoded_blocks(self._stream, file=self.file, progress=progress)
        self.text = ""
        # Position of text[0] in the document, and its line and column.
        self.base = 0
        self._base_line = 1
        self._base_column = 1
        # The last position whose line was asked, and that line.
        self._line_pos = 0
        self._line = 1
        self.eof = False

    def close(self) -> None:
        self._stream.close()

    def _fill(self, keep: int) -> bool:
        """Read one more block, first dropping the text before `keep`; False at the end."""
        if self.eof:
            return False
        block = next(self._blocks, None)
        if block is None:
            self.eof = True
            self.close()
            return False
        cut = min(keep - self.base, len(self.text))
        if cut > 0:
            dropped = self.text[:cut]
            newlines = dropped.count("\n")
            if newlines:
                self._base_line += newlines
                self._base_column = cut - dropped.rfind("\n")
            else:
                self._base_column += cut
            self.text = self.text[cut:]
            self.base += cut
        self.text += block
        return True

    def _has(self, pos: int, chars: int = 1) -> bool:
        """Whether the document holds `chars` characters at `pos`, reading up to them."""
        while pos + chars > self.base + len(self.text):
            if not self._fill(min(pos, self.pos)):
                return False
        return True

    def char(self, pos: int) -> str:
        return self.text[pos - self.base] if self._has(pos) else ""

    def line_at(self, pos: int) -> int:
        """The line of `pos`, counted on from the last one asked: records come in order."""
        if pos < self.base:
            return self._rescan(pos)[0]
        if pos < self._line_pos or self._line_pos < self.base:
            self._line_pos, self._line = self.base, self._base_line
        self._line += self.text.count("\n", self._line_pos - self.base, pos - self.base)
        self._line_pos = pos
        return self._line

    def _line_column(self, pos: int) -> tuple[int, int]:
        if pos < self.base:
            return self._rescan(pos)
        offset = pos - self.base
        newlines = self.text.count("\n", 0, offset)
        if not newlines:
            return self._base_line, self._base_column + offset
        return self._base_line + newlines, offset - self.text.rfind("\n", 0, offset)

    def _rescan(self, pos: int) -> tuple[int, int]:
        """Line and column of a position left behind, counted by reading the document again."""
        line, column, seen = 1, 1, 0
        with closing(self._open()) as stream:
            for block in decoded_blocks(stream, file=self.file):
                part = block[: pos - seen]
                newlines = part.count("\n")
                line += newlines
                column = len(part) - part.rfind("\n") if newlines else column + len(part)
                seen += len(part)
                if seen >= pos:
                    break
        return line, column

    def seek(self, pos: int) -> None:
        """Go back (or on) to `pos`; going back reads the document again from its start."""
        if pos < self.base:
            self.close()
            self._start_reading(None)
        self.pos = pos

    def fail(self, problem: str, pos: int, *, path: str | None = None) -> ImportFailed:
        return ImportFailed(problem, file=self.file, line=self.line_at(pos), path=path)

    def skip_whitespace(self, pos: int) -> int:
        while self._has(pos):
            found = NOT_WHITESPACE.search(self.text, pos - self.base)
            if found is not None:
                return self.base + found.start()
            pos = self.base + len(self.text)
        return pos

    def start(self) -> int:
        """Position of the top-level value."""
        pos = self.skip_whitespace(0)
        if not self._has(pos):
            raise ImportFailed("empty file", file=self.file)
        return pos

    def kind_at(self, pos: int) -> str:
        return self.char(pos)

    def value(self, pos: int, *, path: str | None = None):
        """Decode the value at `pos` and move past it."""
        self.pos = pos
        while True:
            self._has(pos)
            offset = pos - self.base
            try:
                value, end = self._decoder.raw_decode(self.text, offset)
            except json.JSONDecodeError as exc:
                cut_short = exc.msg.startswith("Unterminated string") or (
                    exc.pos >= len(self.text) - TOKEN_MARGIN
                )
                if cut_short and self._fill(pos):
                    continue
                raise self._syntax_error(exc, pos, path) from None
            except RecursionError:
                raise self.fail("JSON nested too deeply", pos, path=path) from None
            except ValueError:
                raise self.fail(TOO_MANY_DIGITS, pos, path=path) from None
            if end > len(self.text) - TOKEN_MARGIN and self._fill(pos):
                continue
            self.pos = self.base + end
            return value

    def skip(self, pos: int, *, path: str | None = None) -> None:
        """Move past the value at `pos`, walking a container rather than decoding it whole."""
        kind = self.char(pos)
        if kind not in ("[", "{") or self._skip_depth >= MAX_SKIP_DEPTH:
            self.value(pos, path=path)
            return
        self._skip_depth += 1
        try:
            walk = self.elements if kind == "[" else self.members
            for _ in walk(pos, path=path):
                pass
        finally:
            self._skip_depth -= 1

    def _syntax_error(self, exc: json.JSONDecodeError, pos: int, path: str | None) -> ImportFailed:
        # An unterminated string runs to the end: strict JSON strings hold no raw newline.
        if exc.pos >= len(self.text) or exc.msg.startswith("Unterminated string"):
            problem = "truncated JSON: the file ends inside this record"
        else:
            line, column = self._line_column(self.base + exc.pos)
            problem = f"invalid JSON at line {line} column {column}: {exc.msg}"
        return self.fail(problem, pos, path=path)

    def _expect_more(self, pos: int, what: str, start: int, path: str | None) -> None:
        if not self._has(pos):
            raise self.fail(f"truncated JSON: the file ends inside this {what}", start, path=path)

    def elements(self, pos: int, *, path: str | None) -> Iterator[tuple[int, int]]:
        """(index, position) of each element of the array at `pos`."""
        if self.char(pos) != "[":
            raise self.fail(f"expected an array, got {self._describe(pos)}", pos, path=path)
        start = pos
        pos = self.skip_whitespace(pos + 1)
        self._expect_more(pos, "array", start, path)
        if self.char(pos) == "]":
            self.pos = pos + 1
            return
        index = 0
        while True:
            self.pos = pos
            yield index, pos
            if self.pos == pos:
                self.skip(pos, path=path)
            pos = self.skip_whitespace(self.pos)
            self._expect_more(pos, "array", start, path)
            char = self.char(pos)
            if char == "]":
                self.pos = pos + 1
                return
            if char != ",":
                raise self.fail(
                    f"invalid JSON: expected ',' or ']' after element {index}", pos,
                    path=path,
                )
            pos = self.skip_whitespace(pos + 1)
            self._expect_more(pos, "array", start, path)
            index += 1

    def members(self, pos: int, *, path: str | None) -> Iterator[tuple[str, int]]:
        """(key, value position) of each member of the object at `pos`."""
        if self.char(pos) != "{":
            raise self.fail(f"expected an object, got {self._describe(pos)}", pos, path=path)
        start = pos
        pos = self.skip_whitespace(pos + 1)
        self._expect_more(pos, "object", start, path)
        if self.char(pos) == "}":
            self.pos = pos + 1
            return
        while True:
            if self.char(pos) != '"':
                raise self.fail("invalid JSON: expected a quoted member name", pos, path=path)
            key = self.value(pos, path=path)
            pos = self.skip_whitespace(self.pos)
            self._expect_more(pos, "object", start, path)
            if self.char(pos) != ":":
                raise self.fail(f"invalid JSON: expected ':' after {key!r}", pos, path=path)
            pos = self.skip_whitespace(pos + 1)
            self._expect_more(pos, "object", start, path)
            self.pos = pos
            yield key, pos
            if self.pos == pos:
                self.skip(pos, path=path)
            pos = self.skip_whitespace(self.pos)
            self._expect_more(pos, "object", start, path)
            char = self.char(pos)
            if char == "}":
                self.pos = pos + 1
                return
            if char != ",":
                raise self.fail(f"invalid JSON: expected ',' or '}}' after {key!r}", pos, path=path)
            pos = self.skip_whitespace(pos + 1)
            self._expect_more(pos, "object", start, path)

    def _describe(self, pos: int) -> str:
        char = self.char(pos)
        if not char:
            return "the end of the file"
        named = {"{": "an object", "[": "an array", '"': "a string", "n": "null"}
        if char in named:
            return named[char]
        if char in "-0123456789":
            return "a number"
        return "a boolean" if char in "tf" else repr(char)

    def finish(self) -> None:
        """Reject anything after the top-level value."""
        pos = self.skip_whitespace(self.pos)
        if self._has(pos):
            raise self.fail("invalid JSON: extra data after the document", pos)
