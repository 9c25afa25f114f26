"""The loop from the command line: start a run, follow it, read its verdict and its suspects."""

import io
import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from annotation.models import BatchItem, Item
from scaling.services import verdict_compute
from tests.scaling.factories import finished_flat_run, frozen_noisy_batch, job_finish, make_ladder
from training import services
from training.examples import held_out_examples
from training.models import Run

pytestmark = pytest.mark.django_db


def run_command(*args, **options) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out, **options)
    return out.getvalue()


@pytest.fixture
def noisy(project, tmp_path):
    batch = frozen_noisy_batch(project, tmp_path / "corpus.jsonl")
    ladder = make_ladder("cli", 3)
    ladder.projects.add(project)
    gold = dict(Item.objects.filter(project=project).values_list("pk", "gold"))
    return {"batch": batch, "ladder": ladder, "gold": gold}


def test_run_start_makes_the_run_once_and_names_what_is_wrong(noisy, project):
    names = ["--project", project.name, "--batch", noisy["batch"].name, "--ladder", "cli"]
    first = run_command("run_start", *names, "--hyperparameters", "lr=2e-5")
    run = Run.objects.get(batch=noisy["batch"], hyperparameters={"lr": 2e-5})
    assert first.startswith(f"run {run.pk}: pending, 3 rung jobs")
    assert run_command("run_start", *names, "--hyperparameters", "lr=2e-5").startswith(f"run {run.pk}:")
    with pytest.raises(CommandError, match="--ladder: 'other' is not one of project"):
        run_command("run_start", "--project", project.name, "--batch", noisy["batch"].name, "--ladder", "other")
    with pytest.raises(CommandError, match="--batch: project .* has no batch named 'nope'"):
        run_command("run_start", "--project", project.name, "--batch", "nope", "--ladder", "cli")
    with pytest.raises(CommandError, match="learning_rate"):
        run_command("run_start", *names, "--hyperparameters", "learning_rate=1")
    assert Run.objects.count() == 1


def test_run_status_verdict_show_and_suspects_export_read_a_checked_run(noisy, project):
    run = finished_flat_run(noisy["batch"], noisy["ladder"], noisy["gold"])
    verdict_compute(run_id=run.pk)
    checking = services.label_check_request(run=run)
    pending = run_command("run_status", checking.pk)
    assert f"run {checking.pk} of batch noisy on cli: running" in pending and "all but fold 1" in pending
    assert "(reused)" in pending
    for job in checking.rung_jobs.folds():
        held_out, _, _ = held_out_examples(batch=noisy["batch"], fold=job.fold, folds=3)
        job_finish(job, [int(example.key) for example in held_out], noisy["gold"])
    verdict = verdict_compute(run_id=checking.pk)

    followed = run_command("run_status", checking.pk, wait=True, timeout=5)
    assert "[##############################] 100% 9/9 rung jobs, done" in followed
    assert f"verdict: {verdict.message}" in followed

    shown = run_command("verdict_show", checking.pk)
    assert verdict.message in shown and "tuned F1" in shown and "r2 " in shown
    assert f"{len(verdict.suspects)} suspects; the strongest" in shown
    report = json.loads(run_command("verdict_show", checking.pk, "--json"))
    assert report["run"]["id"] == checking.pk and report["run"]["label_check"]["folds"] == 3

    exported = run_command("suspects_export", checking.pk, "--json").splitlines()
    assert len(exported) == len(verdict.suspects)
    train = set(BatchItem.objects.filter(batch=noisy["batch"], split=BatchItem.TRAIN).values_list("item_id", flat=True))
    assert any(json.loads(line)["item_id"] in train for line in exported)
    annotators = run_command("suspects_export", checking.pk, "--annotators")
    assert annotators.startswith("annotator,labels,suspects,suspect_share,ladder_agreement\n")


def test_the_commands_refuse_a_run_that_does_not_exist_or_is_not_judged(noisy):
    for command in ("run_status", "verdict_show", "suspects_export"):
        with pytest.raises(CommandError, match="no run 999999"):
            run_command(command, 999999)
    run = Run.objects.create(batch=noisy["batch"], ladder=noisy["ladder"], config_hash="x" * 64)
    with pytest.raises(CommandError, match=f"run {run.pk} has no verdict yet"):
        run_command("verdict_show", run.pk)
