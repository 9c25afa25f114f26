"""Re-running one rung with changed hyper-parameters, and parsing what a lead types."""

import pytest
from django.core.exceptions import ValidationError

from tests.scaling.factories import make_batch, make_labelled_items, make_ladder, make_run
from training import services
from training.models import Prediction, Run, RungJob


class TestHyperparametersParse:
    def test_pairs_by_comma_or_line_become_typed_values(self):
        parsed = services.hyperparameters_parse("lr=2e-5,\n epochs = 2, r=16")
        assert services.hyperparameters_validate(parsed, rungs=[]) == {"lr": 2e-5, "epochs": 2.0, "r": 16}

    @pytest.mark.parametrize(
        "text, message",
        [
            ("lrr=2e-5", "unknown hyper-parameter 'lrr'"),
            ("lr=fast", "lr: 'fast' is not a number"),
            ("r=2.5", "r: 2.5 is not a whole number"),
            ("lr=0", "lr: 0 is out of range; allowed: (0, 1]"),
            ("lr=nan", "lr: nan is not a finite number"),
            ("lr", "write each hyper-parameter as name=value"),
            ("lr=1e-4, lr=2e-5", "lr: given twice"),
            ("", "give at least one hyper-parameter"),
        ],
    )
    def test_bad_input_is_refused_with_a_clear_message(self, text, message):
        with pytest.raises(ValidationError) as error:
            services.hyperparameters_validate(services.hyperparameters_parse(text), rungs=[])
        assert any(message in line for line in error.value.messages), error.value.messages

    def test_every_error_is_reported_at_once(self):
        with pytest.raises(ValidationError) as error:
            services.hyperparameters_validate(services.hyperparameters_parse("lrr=1, epochs=x"), rungs=[])
        assert len(error.value.messages) == 2

    def test_every_key_is_a_fine_tuning_setting(self):
        from training.ml.finetune import LoraConfigValues

        # `processes` is how many processes the job shards over, read by the job itself.
        assert set(services.KNOWN_HYPERPARAMETERS) - {"processes"} <= set(LoraConfigValues.__dataclass_fields__)


@pytest.mark.django_db
class TestRungRerun:
    @pytest.fixture
    def run(self, project, annotator):
        labels = make_labelled_items(project, annotator, 40)
        return make_run(make_batch(project, labels, name="b"), make_ladder("l", 3), accuracies=[0.6, 0.4, 0.9])

    def test_only_the_chosen_rung_trains_again(self, run, lead):
        rung = run.ladder.rungs.get(name="r1")
        rerun = services.rung_rerun(run=run, rung=rung, hyperparameters={"lr": 2e-5}, requested_by=lead)
        assert rerun.pk != run.pk and rerun.rerun_of == run and rerun.batch == run.batch
        assert rerun.rung_overrides == {"r1": {"lr": 2e-5}} and rerun.requested_by == lead
        jobs = {job.rung.name: job for job in rerun.rung_jobs.select_related("rung")}
        assert jobs["r1"].status == RungJob.PENDING and jobs["r1"].hyperparameters == {"lr": 2e-5}
        for name in ("r0", "r2"):
            old = run.rung_jobs.get(rung__name=name)
            assert jobs[name].status == RungJob.DONE and jobs[name].hyperparameters == {"lr": 2e-4}
            assert sorted(jobs[name].predictions.values_list("item_id", "stage", "option")) == sorted(
                old.predictions.values_list("item_id", "stage", "option")
            )
        assert rerun.status == Run.RUNNING

    def test_the_same_request_twice_gives_the_same_run(self, run):
        rung = run.ladder.rungs.get(name="r1")
        first = services.rung_rerun(run=run, rung=rung, hyperparameters={"lr": 2e-5})
        again = services.rung_rerun(run=run, rung=rung, hyperparameters={"lr": 2e-5})
        assert again.pk == first.pk
        other = services.rung_rerun(run=run, rung=rung, hyperparameters={"lr": 1e-5})
        assert other.pk != first.pk
        assert Prediction.objects.filter(rung_job__run=first).count() == 2 * 2 * 40

    def test_an_unfinished_neighbour_trains_again_with_its_old_settings(self, project, annotator):
        labels = make_labelled_items(project, annotator, 20)
        run = make_run(make_batch(project, labels, name="b"), make_ladder("l", 3), accuracies=[0.6, 0.4, 0.9], failed={2})
        rerun = services.rung_rerun(run=run, rung=run.ladder.rungs.get(name="r1"), hyperparameters={"lr": 2e-5})
        job = rerun.rung_jobs.get(rung__name="r2")
        assert job.status == RungJob.PENDING and job.hyperparameters == {"lr": 2e-4}

    def test_a_rung_of_another_ladder_is_refused_and_nothing_is_made(self, run):
        stranger = make_ladder("other", 1).rungs.get()
        with pytest.raises(ValidationError, match="not on ladder"):
            services.rung_rerun(run=run, rung=stranger, hyperparameters={"lr": 2e-5})
        assert Run.objects.count() == 1
