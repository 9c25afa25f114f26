"""Reading input safely: bounded lines, strict UTF-8, JSON documents with line numbers."""

import json
import sys
from collections.abc import Iterator
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


def decode_document(data: bytes, *, file: str) -> str:
    """A whole JSON document as text; NUL bytes and invalid UTF-8 are rejected by line."""
    nul = data.find(b"\x00")
    if nul >= 0:
        raise ImportFailed("NUL byte", file=file, line=data.count(b"\n", 0, nul) + 1)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ImportFailed(
            "invalid UTF-8", file=file, line=data.count(b"\n", 0, exc.start) + 1
        ) from None
    return text[1:] if text.startswith("\ufeff") else text


WHITESPACE = " \t\n\r"


class JsonDocument:
    """Walks a JSON document member by member, so each record knows its line.

    `members` and `elements` yield the position of each value; the caller may
    read that value with `value` or walk into it before asking for the next
    one, and a value left alone is skipped. Positions only move forward, so
    line numbers are counted incrementally.
    """

    def __init__(self, text: str, *, file: str):
        self.text = text
        self.file = file
        self.pos = 0
        self._decoder = json.JSONDecoder()
        self._line_pos = 0
        self._line = 1

    def line_at(self, pos: int) -> int:
        if pos < self._line_pos:
            self._line_pos, self._line = 0, 1
        self._line += self.text.count("\n", self._line_pos, pos)
        self._line_pos = pos
        return self._line

    def fail(self, problem: str, pos: int, *, path: str | None = None) -> ImportFailed:
        return ImportFailed(problem, file=self.file, line=self.line_at(pos), path=path)

    def skip_whitespace(self, pos: int) -> int:
        text = self.text
        while pos < len(text) and text[pos] in WHITESPACE:
            pos += 1
        return pos

    def start(self) -> int:
        """Position of the top-level value."""
        pos = self.skip_whitespace(0)
        if pos == len(self.text):
            raise ImportFailed("empty file", file=self.file)
        return pos

    def kind_at(self, pos: int) -> str:
        return self.text[pos : pos + 1]

    def value(self, pos: int, *, path: str | None = None):
        """Decode the value at `pos` and move past it."""
        try:
            value, end = self._decoder.raw_decode(self.text, pos)
        except json.JSONDecodeError as exc:
            raise self._syntax_error(exc, pos, path) from None
        except RecursionError:
            raise self.fail("JSON nested too deeply", pos, path=path) from None
        except ValueError:
            raise self.fail(TOO_MANY_DIGITS, pos, path=path) from None
        self.pos = end
        return value

    def _syntax_error(self, exc: json.JSONDecodeError, pos: int, path: str | None) -> ImportFailed:
        # An unterminated string runs to the end: strict JSON strings hold no raw newline.
        if exc.pos >= len(self.text) or exc.msg.startswith("Unterminated string"):
            problem = "truncated JSON: the file ends inside this record"
        else:
            problem = f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"
        return self.fail(problem, pos, path=path)

    def _expect_more(self, pos: int, what: str, start: int, path: str | None) -> None:
        if pos >= len(self.text):
            raise self.fail(f"truncated JSON: the file ends inside this {what}", start, path=path)

    def elements(self, pos: int, *, path: str | None) -> Iterator[tuple[int, int]]:
        """(index, position) of each element of the array at `pos`."""
        if self.kind_at(pos) != "[":
            raise self.fail(f"expected an array, got {self._describe(pos)}", pos, path=path)
        start = pos
        pos = self.skip_whitespace(pos + 1)
        self._expect_more(pos, "array", start, path)
        if self.text[pos] == "]":
            self.pos = pos + 1
            return
        index = 0
        while True:
            self.pos = pos
            yield index, pos
            if self.pos == pos:
                self.value(pos, path=path)
            pos = self.skip_whitespace(self.pos)
            self._expect_more(pos, "array", start, path)
            char = self.text[pos]
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
        if self.kind_at(pos) != "{":
            raise self.fail(f"expected an object, got {self._describe(pos)}", pos, path=path)
        start = pos
        pos = self.skip_whitespace(pos + 1)
        self._expect_more(pos, "object", start, path)
        if self.text[pos] == "}":
            self.pos = pos + 1
            return
        while True:
            if self.text[pos] != '"':
                raise self.fail("invalid JSON: expected a quoted member name", pos, path=path)
            key = self.value(pos, path=path)
            pos = self.skip_whitespace(self.pos)
            self._expect_more(pos, "object", start, path)
            if self.text[pos] != ":":
                raise self.fail(f"invalid JSON: expected ':' after {key!r}", pos, path=path)
            pos = self.skip_whitespace(pos + 1)
            self._expect_more(pos, "object", start, path)
            self.pos = pos
            yield key, pos
            if self.pos == pos:
                self.value(pos, path=path)
            pos = self.skip_whitespace(self.pos)
            self._expect_more(pos, "object", start, path)
            char = self.text[pos]
            if char == "}":
                self.pos = pos + 1
                return
            if char != ",":
                raise self.fail(f"invalid JSON: expected ',' or '}}' after {key!r}", pos, path=path)
            pos = self.skip_whitespace(pos + 1)
            self._expect_more(pos, "object", start, path)

    def _describe(self, pos: int) -> str:
        char = self.kind_at(pos)
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
        if pos < len(self.text):
            raise self.fail("invalid JSON: extra data after the document", pos)
