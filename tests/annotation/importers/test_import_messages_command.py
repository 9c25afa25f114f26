import io
import re

import pytest
from django.core.management import CommandError, call_command

from annotation.models import ImportJob, Message, Project
from tests.annotation.importers.conftest import counts, jsonl, message


def run(*args) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("import_messages", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_imports_into_a_new_project_and_prints_a_summary(db, write, capsys):
    path = write("corpus.jsonl", jsonl(message(1), message(2), message(3)))

    out, _ = run(str(path), "--project", "Support chat", "--corpus", "week-1")

    assert re.fullmatch(
        r"imported 3 messages \(0 already present\) from corpus\.jsonl in \d+\.\d s\n", out
    )
    bar = capsys.readouterr().err  # tqdm writes to the process's stderr
    assert "corpus.jsonl: 100%" in bar and "B/s" in bar
    project = Project.objects.get(name="Support chat")
    assert Message.objects.filter(corpus__project=project, corpus__name="week-1").count() == 3
    job = ImportJob.objects.get()
    assert (job.status, job.messages_added, job.format) == (ImportJob.DONE, 3, "jsonl")


def test_second_run_reports_messages_already_present(project, write):
    path = write("corpus.jsonl", jsonl(message(1), message(2)))
    run(str(path), "--project", project.name)

    out, _ = run(str(path), "--project", project.name)

    assert out.startswith("imported 0 messages (2 already present) from corpus.jsonl in ")


def test_named_format(project, write):
    path = write("channel.dump", "[10:00] <alice> hi\n[10:01] <bob> ho\n")

    out, _ = run(str(path), "--project", project.name, "--format", "irc")

    assert out.startswith("imported 2 messages (0 already present) from channel.dump")


def test_bad_input_fails_with_the_importers_message(project, write):
    path = write("corpus.jsonl", jsonl(message(1), message(2, text=None)))
    before = counts()

    with pytest.raises(CommandError) as caught:
        run(str(path), "--project", project.name)

    assert str(caught.value) == "corpus.jsonl:2: field 'text': expected a string, got null"
    assert counts() == before
    assert ImportJob.objects.get().status == ImportJob.FAILED


def test_missing_file(project, tmp_path):
    with pytest.raises(CommandError, match="nowhere.jsonl: no such file or directory"):
        run(str(tmp_path / "nowhere.jsonl"), "--project", project.name)
