"""Hyper-parameters: which a lead may set, how they are parsed, and how a rung's own override the run's."""

import math

from django.core.exceptions import ValidationError

from training.models import Rung


def effective_hyperparameters(*, run_hyperparameters: dict, rung: Rung) -> dict:
    """Run-wide values, overridden by the rung's own (e.g. a lower lr for one size)."""
    return {**run_hyperparameters, **rung.hyperparameters}


# Hyper-parameters a lead may change when re-running a rung, and their types:
# the numeric fields of training.ml.finetune.LoraConfigValues.
RERUN_HYPERPARAMETERS: dict[str, type] = {
    "lr": float,
    "epochs": float,
    "warmup_ratio": float,
    "dropout": float,
    "weight_decay": float,
    "r": int,
    "alpha": int,
    "batch_tokens": int,
    "max_seq_len": int,
    "seed": int,
}
# Zero is a meaningful value for these; every other one must be above zero.
ZERO_ALLOWED_HYPERPARAMETERS = {"warmup_ratio", "dropout", "weight_decay", "seed"}


def hyperparameters_parse(text: str) -> dict:
    """`lr=2e-5, epochs=2` (commas or new lines) as {"lr": 2e-05, "epochs": 2.0}.

    Raises ValidationError naming every unknown key and bad value at once.
    """
    values: dict = {}
    errors = []
    for part in text.replace("\n", ",").split(","):
        part = part.strip()
        if not part:
            continue
        key, equals, raw = (piece.strip() for piece in part.partition("="))
        if not equals or not key or not raw:
            errors.append(f"{part!r}: write each hyper-parameter as name=value")
            continue
        kind = RERUN_HYPERPARAMETERS.get(key)
        if kind is None:
            errors.append(f"unknown hyper-parameter {key!r}; known: {', '.join(RERUN_HYPERPARAMETERS)}")
            continue
        try:
            value = float(raw)
        except ValueError:
            errors.append(f"{key}: {raw!r} is not a number")
            continue
        if kind is int and not value.is_integer():
            errors.append(f"{key}: {raw!r} is not a whole number")
        elif not math.isfinite(value) or value < 0 or (value == 0 and key not in ZERO_ALLOWED_HYPERPARAMETERS):
            errors.append(f"{key}: {raw!r} must be a finite number above zero")
        elif key in values:
            errors.append(f"{key}: given twice")
        else:
            values[key] = kind(value)
    if errors:
        raise ValidationError(errors)
    if not values:
        raise ValidationError("give at least one hyper-parameter, e.g. lr=2e-5")
    return values
