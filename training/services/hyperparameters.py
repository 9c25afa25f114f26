"""Hyper-parameters: which a lead may set, within which bounds, and how a rung's own override the run's.

`hyperparameters_validate` is the one check for every caller (the API, the
run-start and re-run forms, scripts): `run_request` and `rung_rerun` call it
before they write anything, and `ladder_register` for each rung's own, so a
value it refuses never reaches a worker.
"""

import math
from collections.abc import Iterable
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ValidationError

from training.models import Rung
from training.services.checkpoints import rung_checkpoint_facts


class HyperparameterError(ValidationError):
    """Refused hyper-parameters: {name: [problems]}, each message naming its field."""


def effective_hyperparameters(*, run_hyperparameters: dict, rung: Rung) -> dict:
    """Run-wide values, overridden by the rung's own (e.g. a lower lr for one size)."""
    return {**run_hyperparameters, **rung.hyperparameters}


@dataclass(frozen=True)
class Bounds:
    """A number's type and range; `low_open` excludes the low end (lr > 0)."""

    kind: type
    low: float
    high: float
    low_open: bool = False

    def describe(self) -> str:
        return f"{'(' if self.low_open else '['}{self.low:g}, {self.high:g}]"


# The fields of training.ml.finetune.LoraConfigValues a caller may set, with
# ranges that keep a job sane; `processes` is bounded per queue below.
NUMERIC_HYPERPARAMETERS: dict[str, Bounds] = {
    "lr": Bounds(float, 0, 1, low_open=True),
    "epochs": Bounds(float, 0, 100, low_open=True),
    "warmup_ratio": Bounds(float, 0, 0.99),
    "dropout": Bounds(float, 0, 0.99),
    "weight_decay": Bounds(float, 0, 1),
    "r": Bounds(int, 1, 1024),
    "alpha": Bounds(int, 1, 4096),
    "batch_tokens": Bounds(int, 16, 1 << 20),
    "max_seq_len": Bounds(int, 16, 1 << 17),
    "seed": Bounds(int, 0, 2**32 - 1),
}
SCHEDULERS = ("cosine", "constant")
ALL_LINEAR = "all-linear"
KNOWN_HYPERPARAMETERS = (*NUMERIC_HYPERPARAMETERS, "processes", "scheduler", "target_modules")
# Set when a rung is registered, never by a run: the modules trained in full
# beside the adapters (the demo ladder's tied lm_head, which a checkpoint's
# safetensors need not hold, so the names are not checked against them).
RUNG_HYPERPARAMETERS = ("modules_to_save",)


def queue_processes(queue: str) -> int:
    """How many processes a job on this queue may shard over (TRAINING_QUEUE_PROCESSES)."""
    return int(settings.TRAINING_QUEUE_PROCESSES.get(queue, 1))


def _number(name: str, value, bounds: Bounds) -> int | float:
    # bool is an int to Python, but `epochs: true` is a mistake, not 1.
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{name}: {value!r} is not a number")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{name}: {value!r} is not a finite number")
    if bounds.kind is int:
        if isinstance(value, float) and not value.is_integer():
            raise ValueError(f"{name}: {value!r} is not a whole number")
        value = int(value)
    else:
        value = float(value)
    too_low = value <= bounds.low if bounds.low_open else value < bounds.low
    if too_low or value > bounds.high:
        raise ValueError(f"{name}: {value:g} is out of range; allowed: {bounds.describe()}")
    return value


def _target_modules(value, rungs: list[Rung]) -> str | list[str]:
    """"all-linear", or a list of the checkpoints' own module names.

    A string is a regular expression to peft, so no string but "all-linear" is
    taken; the names come from each rung's safetensors headers.
    """
    if value == ALL_LINEAR:
        return value
    if not isinstance(value, list) or not value or not all(isinstance(name, str) for name in value):
        raise ValueError(f"target_modules: give {ALL_LINEAR!r} or a list of module names, not {value!r}")
    if len(set(value)) != len(value):
        raise ValueError("target_modules: a module is named twice")
    for rung in rungs:
        modules = rung_checkpoint_facts(rung=rung)["modules"]
        if not modules:
            raise ValueError(
                f"target_modules: rung {rung.name!r} has no safetensors weights to read module names from; "
                f"use {ALL_LINEAR!r}"
            )
        unknown = [name for name in value if name not in modules]
        if unknown:
            raise ValueError(
                f"target_modules: {', '.join(map(repr, unknown))} not a module of rung {rung.name!r}; "
                f"its modules: {', '.join(modules)}"
            )
    return list(value)


def _modules_to_save(value) -> list[str]:
    # Names, which peft matches as the ends of module paths; never patterns.
    if not isinstance(value, list) or not value or not all(isinstance(name, str) and name for name in value):
        raise ValueError(f"modules_to_save: give a list of module names, not {value!r}")
    if len(set(value)) != len(value):
        raise ValueError("modules_to_save: a module is named twice")
    return list(value)


def hyperparameters_validate(values, *, rungs: Iterable[Rung], registering: bool = False) -> dict:
    """The values, typed, if every key is known and every value in range for each of `rungs`.

    `registering`: a rung's own values, given when it is registered, which
    may also set `RUNG_HYPERPARAMETERS`. Raises HyperparameterError naming
    every refused field at once.
    """
    rungs = list(rungs)
    known = (*KNOWN_HYPERPARAMETERS, *RUNG_HYPERPARAMETERS) if registering else KNOWN_HYPERPARAMETERS
    if not isinstance(values, dict):
        raise HyperparameterError({"hyperparameters": [f"hyperparameters: give an object, not {values!r}"]})
    cleaned, errors = {}, {}
    for name, value in values.items():
        try:
            if name in NUMERIC_HYPERPARAMETERS:
                cleaned[name] = _number(name, value, NUMERIC_HYPERPARAMETERS[name])
            elif name == "processes":
                most = min((queue_processes(rung.queue) for rung in rungs), default=1)
                cleaned[name] = _number(name, value, Bounds(int, 1, most))
            elif name == "scheduler":
                if value not in SCHEDULERS:
                    raise ValueError(f"scheduler: {value!r} is not one of {', '.join(SCHEDULERS)}")
                cleaned[name] = value
            elif name == "target_modules":
                cleaned[name] = _target_modules(value, rungs)
            elif name == "modules_to_save" and registering:
                cleaned[name] = _modules_to_save(value)
            else:
                raise ValueError(f"unknown hyper-parameter {name!r}; known: {', '.join(known)}")
        except ValueError as error:
            errors[str(name)] = [str(error)]
    if errors:
        raise HyperparameterError(errors)
    return cleaned


def hyperparameters_parse(text: str) -> dict:
    """`lr=2e-5, epochs=2` (commas or new lines) as {"lr": 2e-05, "epochs": 2.0}, unchecked.

    Numbers become floats, `target_modules` a list of the names given
    (separated by spaces), anything else stays text; `hyperparameters_validate`
    then judges them. Raises ValidationError for text that is not name=value pairs.
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
        elif key in values:
            errors.append(f"{key}: given twice")
        elif key == "target_modules":
            values[key] = raw if raw == ALL_LINEAR else raw.split()
        else:
            try:
                values[key] = float(raw)
            except ValueError:
                values[key] = raw
    if errors:
        raise ValidationError(errors)
    if not values:
        raise ValidationError("give at least one hyper-parameter, e.g. lr=2e-5")
    return values
