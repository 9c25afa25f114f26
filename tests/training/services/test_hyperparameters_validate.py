"""One check of hyper-parameters for every caller: known keys, types, bounds, real module names."""

import pytest

from tests.scaling.factories import make_batch, make_labelled_items, make_run
from tests.training.factories import write_checkpoint
from training import services
from training.models import Ladder, Run, Rung, RungJob

pytestmark = pytest.mark.django_db

HOSTILE = [
    ({"target_modules": "(a+)+$"}, "target_modules"),
    ({"target_modules": ["(a+)+$"]}, "target_modules"),
    ({"target_modules": ["q_proj", "lm_head"]}, "target_modules"),
    ({"target_modules": []}, "target_modules"),
    ({"processes": 64}, "processes"),
    ({"epochs": 1e6}, "epochs"),
    ({"lr": float("nan")}, "lr"),
    ({"lr": float("inf")}, "lr"),
    ({"lr": "1e-4"}, "lr"),
    ({"epochs": True}, "epochs"),
    ({"r": {"$gt": 1}}, "r"),
    ({"r": [16]}, "r"),
    ({"r": 2.5}, "r"),
    ({"seed": -1}, "seed"),
    ({"max_seq_len": 10**30}, "max_seq_len"),
    ({"dropout": 1.5}, "dropout"),
    ({"batch_tokens": 0}, "batch_tokens"),
    ({"scheduler": "linear"}, "scheduler"),
    ({"modules_to_save": ["lm_head"]}, "modules_to_save"),
]


@pytest.fixture
def ladder(tmp_path):
    ladder = Ladder.objects.create(name="checked")
    Rung.objects.create(ladder=ladder, order=0, name="small", parameters=10**6, size_class="cpu",
                        checkpoint_path=str(write_checkpoint(tmp_path / "small")))
    Rung.objects.create(ladder=ladder, order=1, name="large", parameters=10**9, size_class="gpu-large",
                        checkpoint_path=str(write_checkpoint(tmp_path / "large")))
    return ladder


@pytest.fixture
def batch(project, annotator):
    return make_batch(project, make_labelled_items(project, annotator, 4), name="b")


@pytest.mark.parametrize("values, field", HOSTILE)
def test_a_hostile_run_request_is_refused_naming_the_field_and_writes_nothing(batch, ladder, values, field):
    with pytest.raises(services.HyperparameterError) as error:
        services.run_request(batch=batch, ladder=ladder, hyperparameters=values)
    assert list(error.value.message_dict) == [field]
    assert all(message.startswith(field) or field in message for message in error.value.messages)
    assert not Run.objects.exists() and not RungJob.objects.exists()


@pytest.mark.parametrize("values, field", HOSTILE)
def test_a_hostile_rerun_is_refused_naming_the_field_and_writes_nothing(batch, ladder, values, field):
    run = make_run(batch, ladder, accuracies=[0.6, 0.8])
    with pytest.raises(services.HyperparameterError) as error:
        services.rung_rerun(run=run, rung=ladder.rungs.get(name="small"), hyperparameters=values)
    assert list(error.value.message_dict) == [field]
    assert list(Run.objects.all()) == [run]


def test_sane_values_are_kept_typed(batch, ladder):
    values = {"lr": 1e-4, "epochs": 2, "r": 16.0, "alpha": 32, "dropout": 0, "seed": 7,
              "scheduler": "constant", "target_modules": ["q_proj", "v_proj"]}
    run = services.run_request(batch=batch, ladder=ladder, hyperparameters=values)
    assert run.hyperparameters == {**values, "epochs": 2.0, "r": 16, "dropout": 0.0}
    assert isinstance(run.hyperparameters["r"], int)
    assert services.run_request(batch=batch, ladder=ladder, hyperparameters={"target_modules": "all-linear"})


def test_processes_are_bounded_by_what_the_rung_s_queue_runs(batch, ladder, settings):
    settings.TRAINING_QUEUE_PROCESSES = {"cpu": 1, "gpu-large": 4}
    run = make_run(batch, ladder, accuracies=[0.6, 0.8])
    large, small = ladder.rungs.get(name="large"), ladder.rungs.get(name="small")
    assert services.rung_rerun(run=run, rung=large, hyperparameters={"processes": 4}).rung_overrides == {
        "large": {"processes": 4}
    }
    for rung, processes in ((large, 5), (small, 2)):
        with pytest.raises(services.HyperparameterError, match=r"processes: .* out of range; allowed: \[1, "):
            services.rung_rerun(run=run, rung=rung, hyperparameters={"processes": processes})
    # Run-wide, every rung's queue must run it: the cpu rung cannot.
    with pytest.raises(services.HyperparameterError, match="processes"):
        services.run_request(batch=batch, ladder=ladder, hyperparameters={"processes": 2})


def test_module_names_need_a_checkpoint_with_safetensors(batch, tmp_path):
    ladder = Ladder.objects.create(name="unread")
    Rung.objects.create(ladder=ladder, order=0, name="r", parameters=1, checkpoint_path=str(tmp_path / "nowhere"))
    with pytest.raises(services.HyperparameterError, match="no safetensors weights"):
        services.run_request(batch=batch, ladder=ladder, hyperparameters={"target_modules": ["q_proj"]})
