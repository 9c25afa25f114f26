"""Checking every label: fold jobs for the judging rungs, results reused by key, whole-batch suspects.

The jobs' predictions are written here as a worker would write them (the
real training path is held by tests/training/services/test_run_on_worker.py),
so these tests run in seconds.
"""

import pytest
from django.core.exceptions import ValidationError

from annotation.models import Batch, BatchItem, Item, Project
from scaling.models import Verdict
from scaling.services import verdict_compute
from tests.scaling.factories import NEGATIVE, POSITIVE, finished_flat_run, frozen_noisy_batch, job_finish, make_ladder
from training import services
from training.examples import held_out_examples, train_examples, train_folds
from training.models import Prediction, Run, RungJob

pytestmark = pytest.mark.django_db

OTHER = {POSITIVE: NEGATIVE, NEGATIVE: POSITIVE}


@pytest.fixture
def noisy_batch(project, tmp_path):
    """240 items, 20% labelled against their gold, in a project with the default label-check setting."""
    project.label_check = Project.LABEL_CHECK_NOT_MONOTONE
    project.save(update_fields=["label_check"])
    return frozen_noisy_batch(project, tmp_path / "corpus.jsonl")

class TestFolds:
    def test_folds_split_the_train_split_by_chat_and_never_overlap(self, noisy_batch):
        folds = train_folds(batch=noisy_batch, folds=3)
        train_ids = set(
            BatchItem.objects.filter(batch=noisy_batch, split=BatchItem.TRAIN).values_list("item_id", flat=True)
        )
        assert set(folds) == train_ids and set(folds.values()) == {0, 1, 2}
        chats = {}
        for item_id, chat_id in Item.objects.filter(pk__in=train_ids).values_list("pk", "chat_id"):
            chats.setdefault(chat_id, set()).add(folds[item_id])
        assert all(len(fold_set) == 1 for fold_set in chats.values())
        for fold in range(3):
            held_out, _, _ = held_out_examples(batch=noisy_batch, fold=fold, folds=3)
            trained = train_examples(batch=noisy_batch, held_out=(fold, 3))
            assert {int(example.key) for example in held_out} == {i for i, f in folds.items() if f == fold}
            assert len(held_out) + len(trained) == len(train_ids)


class TestLabelCheckRequest:
    def test_only_the_judging_rungs_fold_jobs_train_the_rest_is_reused(self, noisy_batch):
        ladder = make_ladder("l", 3)
        gold = dict(Item.objects.filter(project=noisy_batch.project).values_list("pk", "gold"))
        run = finished_flat_run(noisy_batch, ladder, gold)
        checking = services.label_check_request(run=run)
        assert checking.pk != run.pk and checking.label_check == {"folds": 3, "rungs": ["r1", "r2"], "epochs_factor": 2.0}
        assert services.label_check_request(run=run).pk == checking.pk  # same request, same run
        full = {job.rung.name: job for job in checking.rung_jobs.full()}
        assert all(job.status == RungJob.DONE and job.reused_from is not None for job in full.values())
        assert full["r0"].predictions.count() == 2 * noisy_batch.eval_count
        folds = list(checking.rung_jobs.folds().order_by("rung__order", "fold"))
        assert [(job.rung.name, job.fold, job.status) for job in folds] == [
            (name, fold, RungJob.PENDING) for name in ("r1", "r2") for fold in range(3)
        ]
        assert all(job.hyperparameters["epochs"] == 2.0 for job in folds)
        assert len({job.result_key for job in checking.rung_jobs.all()}) == 9

    def test_the_projects_settings_shape_a_check_that_starts_by_itself(self, noisy_batch):
        project = noisy_batch.project
        project.label_check_folds, project.label_check_epochs_factor = 2, 1.5
        project.save(update_fields=["label_check_folds", "label_check_epochs_factor"])
        ladder = make_ladder("l", 3)
        run = finished_flat_run(noisy_batch, ladder, dict(Item.objects.filter(project=project).values_list("pk", "gold")))

        checking = services.label_check_request(run=run)

        assert checking.label_check == {"folds": 2, "rungs": ["r1", "r2"], "epochs_factor": 1.5}
        assert checking.rung_jobs.folds().count() == 4
        assert services.label_check_request(run=run, folds=3).label_check["folds"] == 3

    def test_a_run_that_is_not_done_or_re_runs_a_rung_is_refused(self, noisy_batch):
        ladder = make_ladder("l", 3)
        open_run = services.run_request(batch=noisy_batch, ladder=ladder)
        with pytest.raises(ValidationError, match="once it is done"):
            services.label_check_request(run=open_run)
        with pytest.raises(ValidationError) as error:
            services.label_check_config(
                ladder=ladder, project=noisy_batch.project, folds=1, rungs=["r9"], epochs_factor=0
            )
        assert set(error.value.message_dict) == {"folds", "rungs", "epochs_factor"}
        assert Run.objects.count() == 1

    def test_a_batch_of_the_same_rows_trains_nothing_again(self, noisy_batch):
        """A second project's batch with the same records reuses every result: keys name the rows, not the batch."""
        ladder = make_ladder("l", 2)
        gold = dict(Item.objects.filter(project=noisy_batch.project).values_list("pk", "gold"))
        run = finished_flat_run(noisy_batch, ladder, gold)
        copy = Batch.objects.create(
            project=noisy_batch.project, name="again", status=Batch.FROZEN, content_hash="f" * 64,
            frozen_at=noisy_batch.frozen_at, train_count=noisy_batch.train_count, eval_count=noisy_batch.eval_count,
        )
        BatchItem.objects.bulk_create(
            BatchItem(batch=copy, item_id=row.item_id, annotation_id=row.annotation_id, label=row.label,
                      split=row.split, record=row.record, choices=row.choices, position=row.position)
            for row in BatchItem.objects.filter(batch=noisy_batch)
        )
        again = services.run_request(batch=copy, ladder=ladder)
        assert again.pk != run.pk and again.status == Run.DONE
        assert all(job.reused_from is not None for job in again.rung_jobs.all())


class TestWholeBatchSuspects:
    def test_a_flat_verdict_checks_every_label_and_the_queue_finds_planted_train_items(self, noisy_batch):
        ladder = make_ladder("l", 3)
        gold = dict(Item.objects.filter(project=noisy_batch.project).values_list("pk", "gold"))
        run = finished_flat_run(noisy_batch, ladder, gold)
        verdict = verdict_compute(run_id=run.pk)
        assert verdict.kind == Verdict.FLAT and "checking every label" in verdict.message
        checking = Run.objects.get(batch=noisy_batch, label_check__rungs=["r1", "r2"])
        # Recomputing the verdict asks for the same checking run.
        verdict_compute(run_id=run.pk)
        assert Run.objects.filter(batch=noisy_batch).count() == 2

        eval_ids = list(
            BatchItem.objects.filter(batch=noisy_batch, split=BatchItem.EVAL).values_list("item_id", flat=True)
        )
        for job in checking.rung_jobs.folds():
            held_out, _, _ = held_out_examples(batch=noisy_batch, fold=job.fold, folds=3)
            job_finish(job, [int(example.key) for example in held_out], gold)
        # The judges' full fine-tunes were reused from the flat run; give the eval items their opinion too.
        for job in checking.rung_jobs.full().filter(rung__name__in=["r1", "r2"]):
            Prediction.objects.filter(rung_job=job, stage=Prediction.TUNED).delete()
            RungJob.objects.filter(pk=job.pk).update(status=RungJob.PENDING)
            job_finish(job, eval_ids, gold)
        checking.refresh_from_db()
        assert checking.status == Run.DONE
        checked = verdict_compute(run_id=checking.pk)

        suspects = {suspect["item_id"]: suspect for suspect in checked.suspects}
        planted = noisy_batch.planted
        assert planted and set(suspects) == planted
        assert {suspect["split"] for suspect in suspects.values()} == {BatchItem.TRAIN, BatchItem.EVAL}
        first = checked.suspects[0]
        assert first["answer"] == OTHER[first["label"]] and first["judges"] == 2 and first["unanimous"]
        assert set(first["probabilities"]) == {"r1", "r2"}
        assert f"{len(planted)} suspect labels (about" in checked.message
        annotators = checked.diagnostics["label_check"]["annotators"]
        assert annotators[0]["suspects"] == len(planted)
        # The checking run starts no check of its own.
        assert Run.objects.filter(batch=noisy_batch).count() == 2

    def test_a_project_that_checks_on_request_only_starts_nothing(self, noisy_batch):
        noisy_batch.project.label_check = Project.LABEL_CHECK_ON_REQUEST
        noisy_batch.project.save(update_fields=["label_check"])
        gold = dict(Item.objects.filter(project=noisy_batch.project).values_list("pk", "gold"))
        run = finished_flat_run(noisy_batch, make_ladder("l", 3), gold)
        verdict = verdict_compute(run_id=run.pk)
        assert verdict.kind == Verdict.FLAT and "check every label from the run page" in verdict.message
        assert Run.objects.filter(batch=noisy_batch).count() == 1
