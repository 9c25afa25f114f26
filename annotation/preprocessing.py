"""Preprocessing: messages -> turns -> scored candidates -> items with context.

Per chat, in time order: consecutive messages of one sender within the
project's merge window become one turn; turns shorter than `min_chars` are
dropped; each remaining turn is scored, and turns at or above the threshold
become items carrying up to `context_window` earlier turns, with senders
renamed A, B, C… in order of first appearance (DESIGN.md, seed 2405.02817).
"""

import re
import time
from dataclasses import dataclass
from typing import Callable, Iterator

from django.db import transaction

from annotation.models import Chat, Item, Message, Project
from annotation.services import project_items_changed

QUESTION_WORDS = (
    "what", "how", "why", "when", "where", "which", "who", "does", "do", "is", "are",
    "can", "could", "should", "would", "will", "has", "have", "did",
)
_FIRST_WORD = re.compile(r"[A-Za-z']+")
_HELP_WORDS = re.compile(r"\b(anyone|anybody|help|idea|know)\b", re.IGNORECASE)
INSERT_CHUNK = 2000


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


@dataclass
class Turn:
    message_id: int
    sender: str
    sent_at: object
    text: str
    metadata: dict


@dataclass
class PreprocessResult:
    chats: int = 0
    messages: int = 0
    turns: int = 0
    dropped_short: int = 0
    candidates: int = 0
    created: int = 0
    already_present: int = 0
    seconds: float = 0.0


def merge_turns(messages, *, window_seconds: float) -> list[Turn]:
    """Merge consecutive messages of one sender whose gaps are within the window."""
    turns: list[Turn] = []
    last_sent_at = None
    for message_id, sender, sent_at, text, metadata in messages:
        if (
            turns
            and turns[-1].sender == sender
            and (sent_at - last_sent_at).total_seconds() <= window_seconds
        ):
            turns[-1].text = f"{turns[-1].text}\n{text}"
        else:
            turns.append(Turn(message_id, sender, sent_at, text, metadata or {}))
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


def chat_items(project: Project, chat_id: int, messages, result: PreprocessResult) -> Iterator[Item]:
    turns = merge_turns(messages, window_seconds=project.merge_window_seconds)
    result.turns += len(turns)
    kept = [turn for turn in turns if len(turn.text.strip()) >= project.min_chars]
    result.dropped_short += len(turns) - len(kept)
    for position, turn in enumerate(kept):
        score = heuristic_score(turn.text)
        if score < project.candidate_threshold:
            continue
        result.candidates += 1
        start = max(0, position - project.context_window)
        history, sender = rename_senders(kept[start:position], turn.sender)
        yield Item(
            project=project,
            message_id=turn.message_id,
            chat_id=chat_id,
            text=turn.text,
            sender=sender,
            sent_at=turn.sent_at,
            context=history,
            score=score,
            category=str(turn.metadata.get("category", ""))[:64],
            gold=str(turn.metadata.get("gold", ""))[:64],
        )


def items_preprocess(
    *, project: Project, progress: Callable[[int, int], None] | None = None
) -> PreprocessResult:
    """Build the project's items from its messages; existing items are kept as they are."""
    started = time.perf_counter()
    result = PreprocessResult()
    chat_ids = list(
        Chat.objects.filter(corpus__project=project).order_by("id").values_list("id", flat=True)
    )
    result.chats = len(chat_ids)
    existing = set(Item.objects.filter(project=project).values_list("message_id", flat=True))
    pending: list[Item] = []
    with transaction.atomic():
        rows = (
            Message.objects.filter(chat_id__in=chat_ids)
            .order_by("chat_id", "sent_at", "id")
            .values_list("chat_id", "id", "sender", "sent_at", "text", "metadata")
            .iterator(chunk_size=5000)
        )
        current_chat, messages, done = None, [], 0
        for chat_id, *message in _with_sentinel(rows):
            if chat_id != current_chat and current_chat is not None:
                result.messages += len(messages)
                for item in chat_items(project, current_chat, messages, result):
                    if item.message_id in existing:
                        result.already_present += 1
                    else:
                        pending.append(item)
                if len(pending) >= INSERT_CHUNK:
                    result.created += _insert(pending)
                    pending = []
                done += 1
                if progress:
                    progress(done, result.chats)
                messages = []
            current_chat = chat_id
            messages.append(message)
        if pending:
            result.created += _insert(pending)
        if result.created:
            project_items_changed(project=project)
    result.seconds = time.perf_counter() - started
    return result


_END = object()


def _with_sentinel(rows):
    yield from rows
    yield (_END, None, None, None, None, None)


def _insert(items: list[Item]) -> int:
    return len(Item.objects.bulk_create(items, ignore_conflicts=True, batch_size=INSERT_CHUNK))
