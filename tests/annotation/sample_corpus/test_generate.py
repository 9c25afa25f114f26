"""The sample corpus: deterministic, honouring the scorer and merge contracts."""

import re
from collections import Counter
from datetime import datetime

from annotation.preprocessing import QUESTION_WORDS, heuristic_score
from annotation.sample_corpus import CATEGORY_LABELS, SMALL_TALK, generate, write_jsonl

N = 6000


def corpus():
    return list(generate(messages=N, seed=3))


def test_same_seed_same_bytes_other_seed_other_corpus(tmp_path):
    write_jsonl(path=tmp_path / "a.jsonl", messages=2000, seed=1)
    write_jsonl(path=tmp_path / "b.jsonl", messages=2000, seed=1)
    write_jsonl(path=tmp_path / "c.jsonl", messages=2000, seed=2)
    assert (tmp_path / "a.jsonl").read_bytes() == (tmp_path / "b.jsonl").read_bytes()
    assert (tmp_path / "a.jsonl").read_bytes() != (tmp_path / "c.jsonl").read_bytes()


def test_exact_message_count_and_unique_ids():
    rows = corpus()
    assert len(rows) == N
    assert len({row["id"] for row in rows}) == N


def test_only_candidates_look_like_questions():
    for row in corpus():
        first = re.match(r"[A-Za-z']+", row["text"])
        starts_with_question_word = bool(first) and first.group(0).lower() in QUESTION_WORDS
        if "gold" in row:
            assert "?" in row["text"] and heuristic_score(row["text"]) >= 0.5
            assert CATEGORY_LABELS[row["category"]] == row["gold"]
        else:
            assert "?" not in row["text"] and not starts_with_question_word
            assert heuristic_score(row["text"]) < 0.5


def test_no_candidate_is_within_18_seconds_of_its_own_sender():
    rows = corpus()
    for index, row in enumerate(rows):
        if "gold" not in row:
            continue
        when = datetime.fromisoformat(row["sent_at"])
        for neighbour in (rows[index - 1] if index else None, rows[index + 1] if index + 1 < len(rows) else None):
            if neighbour and neighbour["chat"] == row["chat"] and neighbour["sender"] == row["sender"]:
                assert abs((datetime.fromisoformat(neighbour["sent_at"]) - when).total_seconds()) > 18


def test_classes_are_balanced_and_every_category_occurs():
    candidates = [row for row in corpus() if "gold" in row]
    share = sum(row["gold"] == "extraction" for row in candidates) / len(candidates)
    assert 0.4 <= share <= 0.6
    assert set(Counter(row["category"] for row in candidates)) == set(CATEGORY_LABELS)
    assert 0.03 <= len(candidates) / N <= 0.1


def test_absent_referents_are_absent_from_the_last_eleven_turns():
    rows = corpus()
    small_talk_starts = {template.split("{")[0].strip()[:12] for template in SMALL_TALK}
    for index, row in enumerate(rows):
        if row.get("category") != "pronoun_absent":
            continue
        history = [r for r in rows[max(0, index - 11):index] if r["chat"] == row["chat"]]
        for turn in history:
            if len(turn["text"]) >= 7:
                assert any(turn["text"].startswith(start) for start in small_talk_starts), turn["text"]
