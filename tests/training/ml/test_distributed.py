"""The sharded path for rungs too large for one GPU, run on two CPU processes (gloo)."""

import json

import pytest

from training.ml.distributed import launch, read_examples
from training.ml.evaluate import score_choices
from training.ml.finetune import TRAINING_RESULT_FILE, Cancelled
from training.ml.ladder import load_model
from tests.training.ml.test_finetune_and_score import toy_examples

pytestmark = pytest.mark.slow

OVERRIDES = {"r": 8, "alpha": 16, "lr": 5e-3, "epochs": 2, "batch_tokens": 256, "modules_to_save": ["lm_head"]}


def test_two_processes_each_hold_a_shard_and_save_one_adapter(tiny_ladder, tmp_path):
    train, evaluate = toy_examples(64)
    reports = []
    result = launch(
        checkpoint_dir=tiny_ladder[0]["path"], examples=train, output_dir=tmp_path / "adapter",
        overrides=OVERRIDES, processes=2, progress=reports.append,
    )
    saved = json.loads((tmp_path / "adapter" / TRAINING_RESULT_FILE).read_text())
    sharding = saved["sharding"]
    assert sharding["processes"] == 2
    assert sharding["local_parameters"] < 0.6 * sharding["parameters"]
    first, last = result.loss_curve[0][1], result.loss_curve[-1][1]
    assert last < first / 2
    assert reports and reports[-1]["step"] == reports[-1]["steps"] == result.steps
    # The adapter loads like any single-process one and scores the eval items.
    model, tokenizer = load_model(tiny_ladder[0]["path"], adapter_dir=result.adapter_dir)
    assert len(score_choices(model=model, tokenizer=tokenizer, examples=evaluate[:8])) == 8


def test_a_cancel_request_stops_the_processes(tiny_ladder, tmp_path):
    train, _ = toy_examples(64)
    with pytest.raises(Cancelled):
        launch(
            checkpoint_dir=tiny_ladder[0]["path"], examples=train, output_dir=tmp_path / "adapter",
            overrides={**OVERRIDES, "epochs": 50}, processes=2, should_cancel=lambda: True,
        )
    assert not (tmp_path / "adapter" / TRAINING_RESULT_FILE).exists()


def test_a_bad_examples_file_names_its_line(tmp_path):
    path = tmp_path / "train.jsonl"
    path.write_text('{"prompt": "a", "response": "b"}\n{"prompt": "no response"}\n')
    with pytest.raises(ValueError, match=r"train.jsonl, line 2"):
        read_examples(path)
