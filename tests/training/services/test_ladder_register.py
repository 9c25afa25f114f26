"""Registering real checkpoint directories: parameters from safetensors headers, refusals, the Qwen2.5 preset."""

import json
import shutil

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command

from tests.training.factories import write_checkpoint
from tests.training.tiny_checkpoints import write_tiny_checkpoint
from training import services
from training.checkpoints import (
    CPU_MAX_PARAMETERS,
    GPU_SMALL_MAX_PARAMETERS,
    PRESET_LADDERS,
    QWEN25_DEFAULT_LR,
    QWEN25_FIXED_LR,
    PresetRung,
    checkpoint_inspect,
    size_class_for,
)
from training.ml.ladder import load_model
from training.models import CPU, GPU_LARGE, GPU_SMALL, Ladder, Rung


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    """Two tiny rungs, the larger one sharded; name → (directory, parameter count)."""
    root = tmp_path_factory.mktemp("checkpoints")
    return {
        "small": (root / "small", write_tiny_checkpoint(root / "small", layers=1)),
        "large": (root / "large", write_tiny_checkpoint(root / "large", layers=2, hidden=32, max_shard_size="20KB")),
    }


def test_parameters_are_counted_from_the_headers_single_file_and_sharded(checkpoints):
    small, small_count = checkpoints["small"]
    large, large_count = checkpoints["large"]
    assert (small / "model.safetensors").is_file()
    assert (large / "model.safetensors.index.json").is_file()
    assert checkpoint_inspect(small).parameters == small_count
    assert checkpoint_inspect(large).parameters == large_count
    assert checkpoint_inspect(small).model_type == "qwen2"


def test_size_classes_follow_the_thresholds():
    assert size_class_for(CPU_MAX_PARAMETERS) == CPU
    assert size_class_for(CPU_MAX_PARAMETERS + 1) == GPU_SMALL
    assert size_class_for(7_600_000_000) == GPU_SMALL
    assert size_class_for(GPU_SMALL_MAX_PARAMETERS + 1) == GPU_LARGE


@pytest.mark.django_db
def test_command_registers_rungs_ordered_by_size_and_they_load(checkpoints, project, capsys):
    large, large_count = checkpoints["large"]
    small, small_count = checkpoints["small"]
    call_command("ladder_register", "tiny", "--rung", str(large), "--rung", str(small), "--project", project.name)
    ladder = Ladder.objects.get(name="tiny")
    rungs = list(ladder.rungs.order_by("order"))
    assert [(rung.name, rung.parameters, rung.queue) for rung in rungs] == [
        ("small", small_count, CPU), ("large", large_count, CPU)
    ]
    assert list(ladder.projects.all()) == [project]
    assert "registered ladder 'tiny' with 2 rungs" in capsys.readouterr().out
    model, tokenizer = load_model(rungs[1].checkpoint_path, device="cpu")
    assert sum(parameter.numel() for parameter in model.parameters()) == large_count
    assert tokenizer.eos_token == "<|im_end|>"


def broken(tmp_path, checkpoints, missing: str):
    """A copy of the small rung without `missing` (a file name, or 'architecture')."""
    directory = tmp_path / f"no-{missing}"
    shutil.copytree(checkpoints["small"][0], directory)
    if missing == "architecture":
        config = json.loads((directory / "config.json").read_text())
        config["architectures"] = ["Qwen2Model"]
        (directory / "config.json").write_text(json.dumps(config))
    elif missing == "model_type":
        (directory / "config.json").write_text(json.dumps({"model_type": "no-such-model"}))
    else:
        for file in directory.glob(missing):
            file.unlink()
    return directory


@pytest.mark.django_db
@pytest.mark.parametrize("missing, message", [
    ("config.json", "no config.json"),
    ("architecture", "no causal-LM architecture"),
    ("model_type", "not a model config transformers knows"),
    ("*.safetensors", "no safetensors weights"),
    ("tokenizer*", "no tokenizer files"),
])
def test_a_directory_that_is_not_a_causal_lm_is_refused_and_nothing_is_written(
    tmp_path, checkpoints, missing, message
):
    bad = broken(tmp_path, checkpoints, missing)
    with pytest.raises(CommandError) as refused:
        call_command("ladder_register", "mixed", "--rung", str(checkpoints["small"][0]), "--rung", str(bad))
    assert str(bad) in str(refused.value) and message in str(refused.value)
    assert not Ladder.objects.exists() and not Rung.objects.exists()


@pytest.mark.django_db
def test_a_missing_directory_is_refused_by_the_service(tmp_path):
    with pytest.raises(ValidationError) as refused:
        services.ladder_register_checkpoints(name="none", directories=[tmp_path / "absent"])
    assert f"{tmp_path / 'absent'}: not a directory" in refused.value.messages


@pytest.fixture(scope="module")
def qwen_root(tmp_path_factory):
    """Tiny models under Qwen2.5 directory names: 0.5B and 3B as chat models, 7B as a base model."""
    root = tmp_path_factory.mktemp("qwen")
    for layers, name in enumerate(["Qwen2.5-0.5B-Instruct", "Qwen2.5-3B-Instruct", "Qwen2.5-7B"], start=1):
        write_tiny_checkpoint(root / name, layers=layers)
    return root


@pytest.mark.django_db
def test_the_qwen25_preset_registers_the_rungs_present_with_the_3b_lr_fix(qwen_root, capsys):
    call_command("ladder_register", "qwen", "--preset", "qwen2.5", "--root", str(qwen_root))
    rungs = Ladder.objects.get(name="qwen").rungs.order_by("order")
    assert [(rung.name, rung.hyperparameters) for rung in rungs] == [
        ("Qwen2.5-0.5B-Instruct", {"lr": QWEN25_DEFAULT_LR}),
        ("Qwen2.5-3B-Instruct", {"lr": QWEN25_FIXED_LR}),
        ("Qwen2.5-7B", {"lr": QWEN25_DEFAULT_LR}),
    ]
    assert (QWEN25_DEFAULT_LR, QWEN25_FIXED_LR) == (2e-4, 2e-5)
    out = capsys.readouterr().out
    assert "not found under" in out and "Qwen2.5-1.5B, Qwen2.5-14B, Qwen2.5-32B" in out


@pytest.mark.django_db
def test_the_preset_with_nothing_under_the_root_is_an_error(tmp_path):
    with pytest.raises(CommandError, match=f"no qwen2.5 checkpoint directory under {tmp_path}"):
        call_command("ladder_register", "qwen", "--preset", "qwen2.5", "--root", str(tmp_path))
    assert not Ladder.objects.exists()


@pytest.fixture
def rung_specs(tmp_path, settings):
    """Two rungs for `ladder_register`, with checkpoints whose module names can be read."""
    settings.TRAINING_QUEUE_PROCESSES = {CPU: 1, GPU_LARGE: 8}
    return [
        {"name": "small", "path": str(write_checkpoint(tmp_path / "small")), "parameters": 10**6, "size_class": CPU},
        {"name": "large", "path": str(write_checkpoint(tmp_path / "large")), "parameters": 10**9,
         "size_class": GPU_LARGE},
    ]


@pytest.mark.django_db
@pytest.mark.parametrize("values, field", [
    ({"lr": 1e12}, "lr"),
    ({"epochs": True}, "epochs"),
    ({"r": 2.5}, "r"),
    ({"processes": 2}, "processes"),
    ({"scheduler": "linear"}, "scheduler"),
    ({"target_modules": ["q_proj", "lm_head"]}, "target_modules"),
    ({"modules_to_save": "lm_head"}, "modules_to_save"),
    ({"learning_rate": 2e-4}, "learning_rate"),
])
def test_a_rung_s_bad_hyperparameter_is_refused_naming_rung_and_field_and_nothing_is_written(
    rung_specs, values, field
):
    rung_specs[0]["hyperparameters"] = values
    with pytest.raises(ValidationError) as refused:
        services.ladder_register(name="checked", rungs=rung_specs)
    assert list(refused.value.message_dict) == [field]
    assert all(message.startswith("rung 'small': ") and field in message for message in refused.value.messages)
    assert not Ladder.objects.exists() and not Rung.objects.exists()


@pytest.mark.django_db
def test_every_rung_is_checked_before_a_ladder_is_changed(rung_specs):
    services.ladder_register(name="checked", rungs=rung_specs)
    rung_specs[0]["hyperparameters"] = {"lr": 0}
    rung_specs[1]["hyperparameters"] = {"lr": 2.0, "processes": 9}
    rung_specs.append({"name": "extra", "path": rung_specs[0]["path"], "parameters": 10**7})
    with pytest.raises(ValidationError) as refused:
        services.ladder_register(name="checked", rungs=rung_specs)
    assert refused.value.message_dict == {
        "lr": ["rung 'small': lr: 0 is out of range; allowed: (0, 1]",
               "rung 'large': lr: 2 is out of range; allowed: (0, 1]"],
        "processes": ["rung 'large': processes: 9 is out of range; allowed: [1, 8]"],
    }
    assert [(rung.name, rung.hyperparameters) for rung in Rung.objects.order_by("order")] == [
        ("small", {}), ("large", {})
    ]


@pytest.mark.django_db
def test_a_rung_s_hyperparameters_are_stored_typed(rung_specs):
    rung_specs[0]["hyperparameters"] = {"r": 16.0, "epochs": 2, "modules_to_save": ["lm_head"]}
    rung_specs[1]["hyperparameters"] = {"processes": 8, "target_modules": ["q_proj", "v_proj"]}
    ladder = services.ladder_register(name="checked", rungs=rung_specs)
    small, large = ladder.rungs.order_by("order")
    assert small.hyperparameters == {"r": 16, "epochs": 2.0, "modules_to_save": ["lm_head"]}
    assert isinstance(small.hyperparameters["r"], int)
    assert large.hyperparameters == {"processes": 8, "target_modules": ["q_proj", "v_proj"]}
    assert large.checkpoint_facts["modules"] == ["down_proj", "embed_tokens", "q_proj", "v_proj"]


@pytest.mark.django_db
def test_the_command_refuses_a_preset_rung_s_bad_hyperparameter_and_writes_nothing(qwen_root, monkeypatch, settings):
    settings.TRAINING_QUEUE_PROCESSES = {CPU: 1}
    sharded = [PresetRung("0.5B", {"lr": QWEN25_DEFAULT_LR}), PresetRung("3B", {"lr": QWEN25_FIXED_LR, "processes": 4})]
    monkeypatch.setitem(PRESET_LADDERS, "qwen2.5", ("Qwen2.5", sharded))
    with pytest.raises(CommandError) as refused:
        call_command("ladder_register", "qwen", "--preset", "qwen2.5", "--root", str(qwen_root))
    assert str(refused.value) == "rung 'Qwen2.5-3B-Instruct': processes: 4 is out of range; allowed: [1, 1]"
    assert not Ladder.objects.exists() and not Rung.objects.exists()
