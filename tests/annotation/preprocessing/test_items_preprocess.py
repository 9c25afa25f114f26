"""Preprocessing rules on hand-made chats."""


from annotation.models import Item
from annotation.preprocessing import heuristic_score, items_preprocess
from tests.annotation.factories import make_chat


def items_of(project):
    return list(Item.objects.filter(project=project).order_by("sent_at"))


class TestMerging:
    def test_same_sender_within_18_seconds_is_one_turn(self, project):
        make_chat(project, "c1", [("ann", 0, "my build fails on arm64"), ("ann", 18, "does anyone know why?")])
        items_preprocess(project=project)
        (item,) = items_of(project)
        assert item.text == "my build fails on arm64\ndoes anyone know why?"
        assert item.context == []

    def test_19_seconds_apart_stays_two_turns(self, project):
        make_chat(project, "c1", [("ann", 0, "my build fails on arm64"), ("ann", 19, "does anyone know why?")])
        items_preprocess(project=project)
        (item,) = items_of(project)
        assert item.text == "does anyone know why?"
        assert [turn["content"] for turn in item.context] == ["my build fails on arm64"]

    def test_only_consecutive_messages_of_one_sender_merge(self, project):
        make_chat(project, "c1", [
            ("ann", 0, "nginx returns 502 now"), ("bob", 5, "since the upgrade?"), ("ann", 10, "yes, since 1.25"),
        ])
        items_preprocess(project=project)
        (item,) = items_of(project)
        assert item.text == "since the upgrade?"

    def test_the_window_is_measured_from_the_previous_message(self, project):
        make_chat(project, "c1", [
            ("ann", 0, "first part of it"), ("ann", 15, "second part of it"), ("ann", 30, "and why is that?"),
        ])
        items_preprocess(project=project)
        (item,) = items_of(project)
        assert item.text == "first part of it\nsecond part of it\nand why is that?"


class TestFiltering:
    def test_short_turns_are_dropped_after_merging(self, project):
        make_chat(project, "c1", [
            ("bob", 0, "ok"), ("ann", 30, "lol"), ("ann", 35, "what?"), ("cat", 60, "is redis 7 stable?"),
        ])
        items_preprocess(project=project)
        (first, second) = items_of(project)
        assert first.text == "lol\nwhat?"
        assert [turn["content"] for turn in second.context] == ["lol\nwhat?"]

    def test_candidates_need_the_threshold(self, project):
        make_chat(project, "c1", [("ann", 0, "the deploy went fine today"), ("bob", 30, "how do I roll back a helm release?")])
        items_preprocess(project=project)
        assert [item.text for item in items_of(project)] == ["how do I roll back a helm release?"]

    def test_scorer_contract(self):
        assert heuristic_score("it works now?") >= 0.5
        assert heuristic_score("anyone tried k3s on a pi?") >= 0.5
        assert heuristic_score("the deploy went fine today") < 0.5
        assert heuristic_score("how about that") < 0.5


class TestContext:
    def test_senders_are_renamed_in_order_of_first_appearance(self, project):
        make_chat(project, "c1", [
            ("zed", 0, "postgres 16 is out"), ("amy", 30, "upgrading this week"),
            ("zed", 60, "pg_upgrade worked for me"), ("amy", 90, "did it keep the extensions?"),
        ])
        items_preprocess(project=project)
        (item,) = items_of(project)
        assert [turn["username"] for turn in item.context] == ["A", "B", "A"]
        assert item.sender == "B"

    def test_a_new_sender_gets_the_next_letter(self, project):
        make_chat(project, "c1", [("zed", 0, "postgres 16 is out"), ("kim", 30, "is it stable yet?")])
        items_preprocess(project=project)
        assert items_of(project)[0].sender == "B"

    def test_context_keeps_the_last_11_turns(self, project):
        turns = [(f"user{n % 3}", n * 30, f"message number {n} here") for n in range(15)]
        turns.append(("user9", 15 * 30, "so which one should I pick?"))
        make_chat(project, "c1", turns)
        items_preprocess(project=project)
        (item,) = items_of(project)
        assert len(item.context) == 11
        assert item.context[0]["content"] == "message number 4 here"
        assert item.context[-1]["content"] == "message number 14 here"

    def test_gold_and_category_come_from_metadata(self, project):
        make_chat(project, "c1", [
            ("ann", 0, "redis keeps evicting keys"),
            ("bob", 30, "does it do that on 7.2 too?", {"gold": "extraction", "category": "pronoun_present"}),
        ])
        items_preprocess(project=project)
        (item,) = items_of(project)
        assert (item.gold, item.category) == ("extraction", "pronoun_present")


class TestProjectSettingsAndIdempotence:
    def test_rules_are_configurable_per_project(self, project):
        project.merge_window_seconds = 60
        project.min_chars = 3
        project.context_window = 1
        project.save()
        make_chat(project, "c1", [
            ("ann", 0, "abc"), ("bob", 30, "first thing"), ("bob", 80, "second thing"), ("cat", 200, "why?"),
        ])
        items_preprocess(project=project)
        (item,) = items_of(project)
        assert [turn["content"] for turn in item.context] == ["first thing\nsecond thing"]

    def test_a_second_run_adds_nothing_and_keeps_labels(self, project, annotator):
        from annotation import services

        make_chat(project, "c1", [("ann", 0, "the cluster is down"), ("bob", 30, "is it the dns again?")])
        first = items_preprocess(project=project)
        services.item_annotate(item=items_of(project)[0], annotator=annotator, option="extraction")
        second = items_preprocess(project=project)
        assert (first.created, second.created, second.already_present) == (1, 0, 1)
        assert items_of(project)[0].label == "extraction"

    def test_new_items_reset_the_open_item_counter(self, project):
        from annotation.services import project_open_items

        make_chat(project, "c1", [("ann", 0, "is it the dns again?")])
        items_preprocess(project=project)
        assert project_open_items(project=project) == 1
        make_chat(project, "c2", [("ann", 0, "is it the firewall?")])
        items_preprocess(project=project)
        assert project_open_items(project=project) == 2
