"""Fuzzing the JSONL and IRC-log importers with hypothesis, for a bounded number of files.

Whatever the bytes, an import either succeeds, adding exactly the messages it
reports, or raises `ImportFailed` starting with the file and line, leaving every
Corpus, Chat and Message row as it was. Any other exception fails the test.
"""

import itertools
import json
from datetime import datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from annotation.importers import ImportFailed, messages_import
from annotation.models import Chat, Corpus, Message

# Five to ten seconds an importer on two shared cores.
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def weighted(*choices: tuple[int, st.SearchStrategy]) -> st.SearchStrategy:
    """One of the strategies, each drawn in proportion to its weight."""
    table = [strategy for weight, strategy in choices for _ in range(weight)]
    return st.integers(0, len(table) - 1).flatmap(lambda index: table[index])


# Mostly ordinary text; sometimes with lone surrogates, which reach the importer
# as JSON escapes or as invalid UTF-8.
any_text = weighted(
    (4, st.text(max_size=12)),
    (1, st.text(st.characters(codec=None, categories=None), max_size=12)),
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | any_text,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(any_text, children, max_size=3),
    max_leaves=6,
)
# Years, datetimes and offsets at the edges of what a datetime holds, among ordinary ones.
years = st.sampled_from([0, 1, 1970, 2024, 9999]) | st.integers(0, 99999)
offsets = st.sampled_from(["", "Z", "+00:00"]) | st.builds(
    lambda sign, hours, minutes: f"{sign}{hours:02d}:{minutes:02d}",
    st.sampled_from("+-"), st.integers(0, 25), st.integers(0, 60),
)
timestamps = weighted(
    (4, st.builds(
        lambda moment, offset: moment.isoformat() + offset,
        weighted((3, st.datetimes()), (1, st.sampled_from([datetime.min, datetime.max]))), offsets,
    )),
    (1, st.builds(
        lambda year, month, day, hour, minute, second, offset: (
            f"{year:04d}-{month:02d}-{day:02d}T{hour:02d}:{minute:02d}:{second:02d}{offset}"
        ),
        years, st.integers(0, 13), st.integers(0, 32), st.integers(0, 24), st.integers(0, 60), st.integers(0, 60),
        offsets,
    )),
)
FIELDS = {
    # A few ids, so duplicates within a file are common.
    "id": st.sampled_from(["m1", "m2", "m3", "m4", 7]),
    "chat": weighted((3, st.sampled_from(["ops", "dev"])), (1, any_text)),
    "sender": weighted((3, st.sampled_from(["sam", "ana"])), (1, any_text)),
    "sent_at": timestamps,
    "text": any_text,
}
MISSING = object()


@st.composite
def records(draw) -> dict:
    """A message record, one in eight with a field missing or of any JSON value, and extra keys."""
    record = {key: draw(typical) for key, typical in FIELDS.items()}
    if draw(weighted((7, st.just(False)), (1, st.just(True)))):
        key = draw(st.sampled_from(list(FIELDS)))
        value = draw(weighted((3, json_values), (1, st.just(MISSING))))
        if value is MISSING:
            del record[key]
        else:
            record[key] = value
    record.update(draw(st.dictionaries(any_text, json_values, max_size=2)))
    return record


def encode(text: str) -> bytes:
    # A lone surrogate becomes the bytes a broken encoder would write.
    return text.encode("utf-8", "surrogatepass")


jsonl_lines = weighted(
    (6, st.builds(lambda record, ascii: encode(json.dumps(record, ensure_ascii=ascii)), records(), st.booleans())),
    (1, st.builds(
        lambda line, at, noise: line[:at] + noise + line[at:],
        records().map(lambda record: encode(json.dumps(record))), st.integers(0, 120), st.binary(max_size=3),
    )),
    # Numbers of any length: Python reads at most 4300 digits of an integer.
    (1, st.integers(1, 5000).map(lambda digits: b'{"id": "m1", "chat": "ops", "sender": "sam", '
                                 b'"sent_at": "2024-05-01T10:00:00Z", "text": "", "n": ' + b"9" * digits + b"}")),
    (1, st.binary(max_size=40) | any_text.map(encode)),
)

stamps = st.builds(
    lambda hours, minutes, seconds: f"[{hours}:{minutes:02d}{'' if seconds is None else f':{seconds:02d}'}] ",
    st.integers(0, 30), st.integers(0, 70), st.none() | st.integers(0, 70),
)
dates = st.one_of(
    st.builds(
        lambda y, m, d: f"{y:04d}-{m:02d}-{d:02d}",
        years.filter(lambda y: y < 10000), st.integers(0, 13), st.integers(0, 32),
    ),
    st.builds(
        lambda day, month, d, y: f"{day} {month} {d:02d} {y}",
        st.sampled_from(["Mon", "Fri"]), st.sampled_from(["Jan", "Feb", "Dec", "Foo"]),
        st.integers(0, 32), st.sampled_from([1, 2024, 9999]),
    ),
)
irc_lines = weighted(
    (6, st.builds(
        lambda stamp, mode, nick, text: f"{stamp}<{mode}{nick}> {text}",
        stamps, st.sampled_from(["", "@", "+", " "]), st.sampled_from(["alice", "bob", " "]) | any_text, any_text,
    ).map(encode)),
    (2, st.builds(
        lambda stamp, kind, date: f"{stamp}--- {kind} {date}",
        st.just("") | stamps, st.sampled_from(["Day changed", "Log opened"]), dates,
    ).map(encode)),
    (1, st.builds(lambda stamp, prefix, text: f"{stamp}{prefix}{text}", st.just("") | stamps,
                  st.sampled_from(["* ", "-!- ", "*** "]), any_text).map(encode)),
    (1, st.binary(max_size=40) | any_text.map(encode)),
)
IRC_NAMES = ["chan.log", "chan-9999-12-31.log", "chan-2024-02-30.log", "chan-2024-05-01.log"]


def row_counts() -> tuple[int, int, int]:
    return Corpus.objects.count(), Chat.objects.count(), Message.objects.count()


@pytest.fixture
def fuzz_import(project, tmp_path):
    """Imports bytes as a file of the given name and format, asserting all or nothing."""
    corpora = itertools.count()

    def fuzz_import(name: str, format: str, data: bytes) -> None:
        path = tmp_path / name
        path.write_bytes(data)
        corpus = f"fuzz-{next(corpora)}"
        before = row_counts()
        try:
            result = messages_import(project=project, path=path, corpus_name=corpus, format=format)
        except ImportFailed as exc:
            assert exc.line is not None, str(exc)
            assert str(exc).startswith(f"{name}:{exc.line}: "), str(exc)
            assert row_counts() == before
        else:
            assert Message.objects.filter(corpus__name=corpus).count() == result.added
            assert row_counts()[2] == before[2] + result.added

    return fuzz_import


@FUZZ
@given(lines=st.lists(jsonl_lines, max_size=6), crlf=st.booleans())
def test_jsonl_importer_fuzzed(fuzz_import, lines, crlf):
    fuzz_import("fuzz.jsonl", "jsonl", (b"\r\n" if crlf else b"\n").join(lines))


@FUZZ
@given(lines=st.lists(irc_lines, max_size=6), name=st.sampled_from(IRC_NAMES))
def test_irc_importer_fuzzed(fuzz_import, lines, name):
    fuzz_import(name, "irc", b"\n".join(lines))
