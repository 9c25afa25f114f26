"""A deterministic generator of technical group chats with hidden gold labels.

The default task asks whether answering a question needs information from the
chat history. Every candidate question carries a gold label and the cue that
produced it, with difficulty graded so that small models learn part of it and
larger ones more:

- `explicit` (no extraction): the question names its subject.
- `explicit_overlap` (no extraction): it names its subject although the history
  talks about the same tool (a hard negative for keyword matching).
- `pronoun_present` (extraction): "does it…", "that one", "this error", with the
  referent in the last few turns. The easy positive: the surface cue decides.
- `elliptical` (extraction): no pronoun, the subject was named earlier ("what's
  the default port then?").
- `multi_hop` (extraction): options listed, one picked, the question asks about
  "the one we picked".
- `pronoun_absent` (no extraction): the same surface cues, but the last eleven
  turns are small talk: nothing to extract. Telling it from `pronoun_present`
  needs the history, not the question.

Contract with the preprocessing scorer: every candidate contains "?", no other
message contains "?" or starts with a question word, and no candidate is within
18 s of a message of its own sender, so none is merged away.
"""

import json
import random
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

EXTRACTION = "extraction"
NO_EXTRACTION = "no_extraction"

CATEGORY_LABELS = {
    "explicit": NO_EXTRACTION,
    "explicit_overlap": NO_EXTRACTION,
    "pronoun_absent": NO_EXTRACTION,
    "pronoun_present": EXTRACTION,
    "elliptical": EXTRACTION,
    "multi_hop": EXTRACTION,
}
# Shares of candidates; classes come out near 50/50.
CATEGORY_WEIGHTS = {
    "explicit": 0.2,
    "explicit_overlap": 0.1,
    "pronoun_absent": 0.2,
    "pronoun_present": 0.25,
    "elliptical": 0.15,
    "multi_hop": 0.1,
}

TOOLS = [
    ("nginx", ["1.24", "1.25", "1.26"]), ("postgres", ["14", "15", "16"]), ("redis", ["6.2", "7.0", "7.2"]),
    ("docker", ["24", "25", "26"]), ("kubernetes", ["1.28", "1.29", "1.30"]), ("helm", ["3.12", "3.14"]),
    ("terraform", ["1.5", "1.7"]), ("ansible", ["2.15", "2.16"]), ("kafka", ["3.5", "3.6", "3.7"]),
    ("rabbitmq", ["3.12", "3.13"]), ("elasticsearch", ["8.11", "8.13"]), ("grafana", ["10.2", "10.4"]),
    ("prometheus", ["2.48", "2.51"]), ("jenkins", ["2.426", "2.440"]), ("gitlab runner", ["16.6", "16.9"]),
    ("python", ["3.11", "3.12"]), ("node", ["18", "20", "22"]), ("go", ["1.21", "1.22"]),
    ("django", ["4.2", "5.0"]), ("celery", ["5.3", "5.4"]), ("mysql", ["8.0", "8.3"]),
    ("mongodb", ["6.0", "7.0"]), ("traefik", ["2.10", "3.0"]), ("haproxy", ["2.8", "2.9"]),
    ("vault", ["1.15", "1.16"]), ("consul", ["1.17", "1.18"]), ("minio", ["2024.1", "2024.3"]),
    ("airflow", ["2.7", "2.8"]), ("clickhouse", ["23.8", "24.3"]), ("envoy", ["1.28", "1.29"]),
]
THINGS = [
    "timeout", "memory limit", "log level", "default port", "health check", "TLS config", "connection pool",
    "cache size", "retry policy", "replication", "backup job", "worker count", "rate limit", "auth plugin",
    "disk quota", "metrics endpoint", "config reload", "max connections", "keepalive", "queue length",
]
PLATFORMS = ["arm64", "windows", "alpine", "a raspberry pi", "rootless mode", "ipv6", "a read-only fs", "k3s"]
ERRORS = [
    "connection refused", "out of memory kill", "segfault", "permission denied", "certificate error",
    "timeout error", "checksum mismatch", "deadlock", "too many open files", "disk full error",
]
NICKS = [
    "alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy", "mallory", "niaj",
    "olivia", "peggy", "rupert", "sybil", "trent", "victor", "walter", "yusuf", "zoe", "amir", "bea",
    "chen", "dmitri", "elif", "fatima", "goran", "hana", "igor", "jonas", "kemal", "lena", "marek",
    "nora", "oskar", "priya", "quinn", "rosa", "sven", "tariq", "ulla", "vera", "wen", "xavi", "yara",
]

EXPLICIT = [
    "How do I change the {thing} in {tool} {version}?",
    "Is there a way to set the {thing} for {tool} without a restart?",
    "What is the default {thing} of {tool} {version}?",
    "Can {tool} {version} run on {platform}?",
    "Where does {tool} keep its {thing} settings?",
    "Why does {tool} {version} ignore my {thing} setting?",
    "Has anyone tuned the {thing} of {tool} for production?",
    "Does {tool} {version} support a {thing} per tenant?",
    "Which {tool} version fixed the {error} on startup?",
    "Should the {thing} of {tool} be raised on big hosts?",
]
PRONOUN = [
    "does it also work on {platform}?",
    "is that one still maintained?",
    "did this error show up after the upgrade?",
    "can we roll that back?",
    "does it need a restart after that change?",
    "how did you fix it in the end?",
    "is it safe to run that in prod?",
    "did you change it on the replicas too?",
    "does that also affect the {thing}?",
    "will it survive a reboot?",
]
ELLIPTICAL = [
    "what's the default {thing} then?",
    "which version did you end up with?",
    "so where is the {thing} configured?",
    "any idea what the {thing} should be then?",
    "and the {thing}, same place?",
    "is the {thing} per node or global then?",
]
MULTI_HOP = [
    "is the one we picked any faster?",
    "how hard is the one we chose to set up?",
    "does the second option support {platform}?",
    "can the one we went with do {thing} per tenant?",
]
MENTIONS = [
    "{nick} just upgraded {tool} to {version} and the {thing} broke",
    "we moved the {thing} to {tool} {version} last week",
    "{tool} {version} keeps throwing a {error} on startup",
    "the {thing} in {tool} is set way too low here",
    "I tried {tool} {version} on staging, the {thing} looks off",
    "our {tool} cluster hit a {error} during the night",
    "switching the {thing} to {tool} fixed the {error} for me",
]
TECH_FILLER = [
    "restarted {tool} and it came back",
    "the {thing} graph looks normal now",
    "I pushed a patch for the {thing}",
    "logs show a {error} around noon",
    "bumped the {thing} and redeployed",
    "staging is green again",
    "rolled the change out to two nodes",
    "the {tool} dashboard shows nothing odd",
    "I will look at the {thing} after lunch",
    "thanks, that helped a lot",
]
SMALL_TALK = [
    "standup moved to half past ten",
    "coffee machine on floor two is broken again",
    "I'm off tomorrow afternoon",
    "nice weekend everyone",
    "lunch at noon in the usual place",
    "the office wifi is slow today",
    "happy birthday {nick}",
    "the heating is too loud again",
    "I brought cake, kitchen shelf",
    "train was late again this morning",
    "the team photo is on the shared drive",
    "my cat walked over the keyboard",
    "heading out for a walk",
    "the new chairs arrived",
    "great talk yesterday {nick}",
]
OPTIONS_TURNS = [
    ("we could use {tool} or {tool2} for the {thing}", "let's go with {tool2}, the second one"),
    ("two options for the {thing}: {tool} or {tool2}", "I'd pick the second, {tool2}"),
    ("either {tool} or {tool2} would do the {thing}", "team voted for {tool2}"),
]
NOISE = ["ok", "lol", "+1", "ty", "yep", "k", "nice", "brb", "np"]


def _fill(template: str, rng: random.Random, topic: dict) -> str:
    return template.format(
        tool=topic["tool"], tool2=topic["tool2"], version=topic["version"], thing=topic["thing"],
        platform=rng.choice(PLATFORMS), error=rng.choice(ERRORS), nick=rng.choice(NICKS),
    )


def _topic(rng: random.Random) -> dict:
    (tool, versions), (tool2, _) = rng.sample(TOOLS, 2)
    return {"tool": tool, "tool2": tool2, "version": rng.choice(versions), "thing": rng.choice(THINGS)}


def _capitalised(text: str, rng: random.Random) -> str:
    return text[0].upper() + text[1:] if rng.random() < 0.5 else text


class ChatWriter:
    """Appends turns to one chat with timestamps that honour the merge contract."""

    def __init__(self, chat_id: str, members: list[str], start: datetime, rng: random.Random):
        self.chat_id = chat_id
        self.members = members
        self.time = start
        self.rng = rng
        self.messages: list[dict] = []

    def say(self, sender: str, text: str, *, gap: float | None = None, **extra) -> None:
        self.time += timedelta(seconds=gap if gap is not None else self.rng.randint(25, 240))
        self.messages.append(
            {
                "id": f"{self.chat_id}-m{len(self.messages):05d}",
                "chat": self.chat_id,
                "sender": sender,
                "sent_at": self.time.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "text": text,
                **extra,
            }
        )

    def other(self, *avoid: str) -> str:
        choices = [member for member in self.members if member not in avoid]
        return self.rng.choice(choices)

    def filler(self, turns: int, topic: dict | None) -> None:
        """Chatter without questions: tech talk about `topic`, or small talk."""
        last = self.messages[-1]["sender"] if self.messages else ""
        for _ in range(turns):
            sender = self.other(last)
            roll = self.rng.random()
            if roll < 0.06:
                self.say(sender, self.rng.choice(NOISE))
            elif topic is None:
                self.say(sender, _fill(self.rng.choice(SMALL_TALK), self.rng, _topic(self.rng)))
            else:
                self.say(sender, _fill(self.rng.choice(TECH_FILLER), self.rng, topic))
            if roll > 0.93:
                # A burst: the same sender again within a few seconds (merged later).
                self.say(sender, _fill(self.rng.choice(TECH_FILLER if topic else SMALL_TALK), self.rng, topic or _topic(self.rng)), gap=self.rng.randint(3, 15))
            last = sender

    def ask(self, category: str, text: str) -> None:
        last = self.messages[-1]["sender"] if self.messages else ""
        self.say(self.other(last), text, gold=CATEGORY_LABELS[category], category=category)


def _episode(writer: ChatWriter, category: str, rng: random.Random) -> None:
    """A stretch of chat that ends with one candidate question of `category`."""
    topic = _topic(rng)
    if category == "pronoun_absent":
        writer.filler(rng.randint(12, 16), None)
        writer.ask(category, _capitalised(_fill(rng.choice(PRONOUN), rng, topic), rng))
    elif category == "explicit":
        writer.filler(rng.randint(2, 8), None if rng.random() < 0.5 else _topic(rng))
        writer.ask(category, _fill(rng.choice(EXPLICIT), rng, topic))
    elif category == "explicit_overlap":
        writer.say(writer.other(), _fill(rng.choice(MENTIONS), rng, topic))
        writer.filler(rng.randint(1, 4), topic)
        writer.ask(category, _fill(rng.choice(EXPLICIT), rng, topic))
    elif category == "multi_hop":
        first, second = rng.choice(OPTIONS_TURNS)
        writer.filler(rng.randint(1, 4), None)
        proposer = writer.other()
        writer.say(proposer, _fill(first, rng, topic))
        writer.filler(rng.randint(0, 2), topic)
        writer.say(writer.other(proposer), _fill(second, rng, topic))
        writer.filler(rng.randint(0, 2), topic)
        writer.ask(category, _capitalised(_fill(rng.choice(MULTI_HOP), rng, topic), rng))
    else:
        writer.filler(rng.randint(0, 3), None)
        writer.say(writer.other(), _fill(rng.choice(MENTIONS), rng, topic))
        # Near referents are easy; up to five turns back is harder.
        writer.filler(rng.choice([0, 0, 1, 1, 2, 3, 5]), topic)
        templates = PRONOUN if category == "pronoun_present" else ELLIPTICAL
        writer.ask(category, _capitalised(_fill(rng.choice(templates), rng, topic), rng))


def generate(*, messages: int = 58_000, seed: int = 0) -> Iterator[dict]:
    """Yield `messages` chat messages in import-schema order, chat by chat."""
    rng = random.Random(seed)
    categories = list(CATEGORY_WEIGHTS)
    weights = [CATEGORY_WEIGHTS[c] for c in categories]
    produced = 0
    chat_index = 0
    start = datetime(2024, 1, 1, 8, 0, tzinfo=timezone.utc)
    while produced < messages:
        chat_id = f"devops-{chat_index:04d}"
        writer = ChatWriter(chat_id, rng.sample(NICKS, rng.randint(4, 9)), start + timedelta(days=chat_index), rng)
        length = min(rng.randint(80, 400), messages - produced)
        while len(writer.messages) < length:
            if rng.random() < 0.42:
                _episode(writer, rng.choices(categories, weights)[0], rng)
            else:
                writer.filler(rng.randint(3, 10), _topic(rng) if rng.random() < 0.6 else None)
        for message in writer.messages[:length]:
            yield message
        produced += length
        chat_index += 1


def write_jsonl(*, path: Path, messages: int = 58_000, seed: int = 0, progress=None) -> Counter:
    """Write the corpus as JSONL; returns counts (messages, chats, candidates, per category)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    counts: Counter = Counter()
    chats = set()
    with open(path, "w", encoding="utf-8") as out:
        for message in generate(messages=messages, seed=seed):
            out.write(json.dumps(message, ensure_ascii=False) + "\n")
            counts["messages"] += 1
            chats.add(message["chat"])
            if "category" in message:
                counts["candidates"] += 1
                counts[f"category:{message['category']}"] += 1
                counts[f"gold:{message['gold']}"] += 1
            if progress is not None and counts["messages"] % 1000 == 0:
                progress(1000)
    counts["chats"] = len(chats)
    return counts
