"""Small builders for chats and messages, as an import would leave them."""

from datetime import datetime, timedelta, timezone

from annotation.models import Chat, Corpus, Message

START = datetime(2024, 5, 1, 9, 0, tzinfo=timezone.utc)


def make_chat(project, external_id: str, turns, *, corpus_name: str = "default") -> Chat:
    """turns: [(sender, seconds after START, text) or (sender, seconds, text, metadata)]."""
    corpus, _ = Corpus.objects.get_or_create(project=project, name=corpus_name)
    chat = Chat.objects.create(corpus=corpus, external_id=external_id)
    Message.objects.bulk_create(
        [
            Message(
                corpus=corpus,
                chat=chat,
                external_id=f"{external_id}-{index}",
                sender=turn[0],
                sent_at=START + timedelta(seconds=turn[1]),
                text=turn[2],
                metadata=turn[3] if len(turn) > 3 else {},
            )
            for index, turn in enumerate(turns)
        ]
    )
    return chat
