"""Preprocessing: messages -> turns -> scored candidates -> items with context.

Per chat, in time order: consecutive messages of one sender within the
project's merge window become one turn; turns shorter than `min_chars` are
dropped; each remaining turn is scored, and turns at or above the threshold
become items carrying up to `context_window` earlier turns, with senders
renamed A, B, C… in order of first appearance (DESIGN.md, seed 2405.02817).
"""

import math
import re
import time
from dataclasses import asdict, dataclass, fields
from itertools import groupby
from operator import itemgetter
from typing import Callable, Iterator

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count

from annotation.models import Chat, Item, Message, Project
from annotation.services import project_items_changed

QUESTION_WORDS = (
    "what", "how", "why", "when", "where", "which", "who", "does", "do", "is", "are",
    "can", "could", "should", "would", "will", "has", "have", "did",
)
_FIRST_WORD = re.compile(r"[A-Za-z']+")
_HELP_WORDS = re.compile(r"\b(anyone|anybody|help|idea|know)\b", re.IGNORECASE)
# Items written per transaction: on SQLite (one writer) annotators write between chunks.
INSERT_CHUNK = 2000
# Messages read per query: whole chats, so a run keeps no read open while it writes
# (a WAL snapshot held across a write would fail once an annotator commits).
READ_CHUNK = 5000


def heuristic_score(text: str) -> float:
    """How much a turn looks like a question someone needs answered, in [0, 1].

    A "?" alone clears the default threshold of 0.5; a leading question word
    without one scores 0.45, so it counts only together with another cue.
    """
    stripped = text.strip()
    if not stripped:
        return 0.0
    score = 0.0
    if "?" in stripped:
        score += 0.6
    first = _FIRST_WORD.match(stripped)
    if first and first.group(0).lower() in QUESTION_WORDS:
        score += 0.45
    if _HELP_WORDS.search(stripped):
        score += 0.1
    if len(stripped) < 15:
        score -= 0.1
    return max(0.0, min(1.0, score))


@dataclass(frozen=True)
class PreprocessSettings:
    """The project settings that shape its items (the `Project` fields of the same names)."""

    merge_window_seconds: float
    min_chars: int
    candidate_threshold: float
    context_window: int

    @classmethod
    def of(cls, project: Project) -> "PreprocessSettings":
        return cls(**{field.name: getattr(project, field.name) for field in fields(cls)})

    def validate(self) -> None:
        """Refuse values outside SETTING_BOUNDS, naming each field."""
        errors = {}
        for name, value in asdict(self).items():
            low, high = SETTING_BOUNDS[name]
            if not isinstance(value, (int, float)) or not math.isfinite(value) or not low <= value <= high:
                errors[name] = f"must be a number from {low} to {high}, not {value!r}"
            elif isinstance(low, int) and value != int(value):
                errors[name] = f"must be a whole number, not {value!r}"
        if errors:
            raise ValidationError(errors)


# The lowest and highest value a lead may give each setting.
SETTING_BOUNDS = {
    "merge_window_seconds": (0.0, 3600.0),
    "min_chars": (0, 1000),
    "candidate_threshold": (0.0, 1.0),
    "context_window": (0, 100),
}


@dataclass
class Turn:
    message_id: int
    sender: str
    sent_at: object
    text: str


@dataclass
class PreprocessResult:
    chats: int = 0
    messages: int = 0
    turns: int = 0
    dropped_short: int = 0
    candidates: int = 0
    # Items made (by a preview: the items it would make) and candidates that already had one.
    created: int = 0
    already_present: int = 0
    seconds: float = 0.0


def merge_turns(messages, *, window_seconds: float) -> list[Turn]:
    """Merge consecutive messages of one sender whose gaps are within the window."""
    turns: list[Turn] = []
    last_sent_at = None
    for message_id, sender, sent_at, text in messages:
        if (
            turns
            and turns[-1].sender == sender
            and (sent_at - last_sent_at).total_seconds() <= window_seconds
        ):
            turns[-1].text = f"{turns[-1].text}\n{text}"
        else:
            turns.append(Turn(message_id, sender, sent_at, text))
        last_sent_at = sent_at
    return turns


def rename_senders(context: list[Turn], candidate_sender: str) -> tuple[list[dict], str]:
    """Senders as A, B, C… in order of first appearance; the candidate's letter too."""
    letters: dict[str, str] = {}

    def letter(sender: str) -> str:
        if sender not in letters:
            index = len(letters)
            letters[sender] = _letter_name(index)
        return letters[sender]

    history = [
        {"username": letter(turn.sender), "content": turn.text, "sent_at": turn.sent_at.isoformat()}
        for turn in context
    ]
    return history, letter(candidate_sender)


def _letter_name(index: int) -> str:
    """A … Z, then AA, AB … for chats with more than 26 senders in view."""
    name = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        name = chr(ord("A") + rest) + name
    return name


def chat_candidates(
    messages, settings: PreprocessSettings, result: PreprocessResult
) -> Iterator[tuple[list[Turn], int, float]]:
    """The rules over one chat's messages in time order: each candidate as
    (the chat's kept turns, the candidate's position among them, its score)."""
    turns = merge_turns(messages, window_seconds=settings.merge_window_seconds)
    result.turns += len(turns)
    kept = [turn for turn in turns if len(turn.text.strip()) >= settings.min_chars]
    result.dropped_short += len(turns) - len(kept)
    for position, turn in enumerate(kept):
        score = heuristic_score(turn.text)
        if score >= settings.candidate_threshold:
            result.candidates += 1
            yield kept, position, score


def _new_candidates(
    project: Project,
    settings: PreprocessSettings,
    result: PreprocessResult,
    progress: Callable[[int, int], None] | None,
) -> Iterator[tuple[int, list[Turn], int, float]]:
    """Every candidate of the project's messages that has no item yet, as (chat id, kept turns,
    position, score); counts the rest in `result`. Reads only, and holds no read open between
    yields."""
    result.chats = Chat.objects.filter(corpus__project=project).count()
    existing = set(Item.objects.filter(project=project).values_list("message_id", flat=True))
    for done, (chat_id, messages) in enumerate(_chat_messages(project), start=1):
        result.messages += len(messages)
        for kept, position, score in chat_candidates(messages, settings, result):
            if kept[position].message_id in existing:
                result.already_present += 1
            else:
                yield chat_id, kept, position, score
        if progress:
            progress(done, result.chats)


def _chat_messages(project: Project) -> Iterator[tuple[int, list[tuple]]]:
    """(chat id, its messages in time order), each query reading whole chats, about READ_CHUNK messages."""
    for chat_ids in _chat_groups(project):
        rows = list(
            Message.objects.filter(chat_id__in=chat_ids)
            .order_by("chat_id", "sent_at", "id")
            .values_list("chat_id", "id", "sender", "sent_at", "text")
        )
        for chat_id, chat_rows in groupby(rows, key=itemgetter(0)):
            yield chat_id, [row[1:] for row in chat_rows]


def _chat_groups(project: Project) -> Iterator[list[int]]:
    sizes = (
        Message.objects.filter(corpus__project=project)
        .values_list("chat_id")
        .annotate(count=Count("id"))
        .order_by("chat_id")
    )
    group, group_size = [], 0
    for chat_id, count in list(sizes):
        if group and group_size + count > READ_CHUNK:
            yield group
            group, group_size = [], 0
        group.append(chat_id)
        group_size += count
    if group:
        yield group


def items_preview(*, project: Project, settings: PreprocessSettings) -> PreprocessResult:
    """What `items_preprocess` would make with these settings, writing nothing."""
    started = time.perf_counter()
    result = PreprocessResult()
    for _ in _new_candidates(project, settings, result, progress=None):
        result.created += 1
    result.seconds = time.perf_counter() - started
    return result


def items_preprocess(
    *,
    project: Project,
    settings: PreprocessSettings | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> PreprocessResult:
    """Build the project's items from its messages; existing items are kept as they are.

    Given `settings`, they are checked and saved to the project first. Items are
    written INSERT_CHUNK at a time, each chunk in a transaction of its own (when
    the caller has none open), so on SQLite annotators are never locked out for
    long. A run cut short leaves whole chunks behind, and the next run makes the
    rest: a message has at most one item per project, and its existing item is
    skipped.
    """
    started = time.perf_counter()
    if settings is not None:
        _project_settings_save(project, settings)
    settings = PreprocessSettings.of(project)
    result = PreprocessResult()
    pending: list[Item] = []
    for chat_id, kept, position, score in _new_candidates(project, settings, result, progress):
        pending.append(_item(project, chat_id, kept, position, score, settings))
        if len(pending) >= INSERT_CHUNK:
            result.created += _insert(project, pending)
            pending = []
    if pending:
        result.created += _insert(project, pending)
    result.seconds = time.perf_counter() - started
    return result


def _project_settings_save(project: Project, settings: PreprocessSettings) -> None:
    settings.validate()
    for name, value in asdict(settings).items():
        setattr(project, name, value)
    project.save(update_fields=list(asdict(settings)))


def _item(
    project: Project, chat_id: int, kept: list[Turn], position: int, score: float, settings: PreprocessSettings
) -> Item:
    turn = kept[position]
    start = max(0, position - settings.context_window)
    history, sender = rename_senders(kept[start:position], turn.sender)
    return Item(
        project=project,
        message_id=turn.message_id,
        chat_id=chat_id,
        text=turn.text,
        sender=sender,
        sent_at=turn.sent_at,
        context=history,
        score=score,
    )


def _insert(project: Project, items: list[Item]) -> int:
    """Write one chunk of items, with gold and category from their messages' metadata."""
    metadata = dict(
        Message.objects.filter(pk__in=[item.message_id for item in items]).values_list("id", "metadata")
    )
    for item in items:
        extra = metadata.get(item.message_id) or {}
        item.category = str(extra.get("category", ""))[:64]
        item.gold = str(extra.get("gold", ""))[:64]
    with transaction.atomic():
        created = len(Item.objects.bulk_create(items, ignore_conflicts=True, batch_size=INSERT_CHUNK))
        project_items_changed(project=project)
    return created
