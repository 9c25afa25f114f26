"""Ladders: registering a ladder's rungs from checkpoints on disk."""

from pathlib import Path

from django.core.exceptions import ValidationError
from django.db import transaction

from training.checkpoints import CheckpointError, checkpoint_inspect
from training.models import CPU, Ladder, Rung
from training.services.checkpoints import rung_checkpoint_facts
from training.services.hyperparameters import HyperparameterError, hyperparameters_validate


@transaction.atomic
def ladder_register(*, name: str, rungs: list[dict], projects=(), description: str = "") -> Ladder:
    """Create or update a ladder from [{"name", "path", "parameters", "size_class", "hyperparameters"?}].

    Every rung is checked before anything is written: a path that is not a
    directory, or hyper-parameters `hyperparameters_validate` refuses, raise
    ValidationError naming the rung and the field, and no row changes. The
    hyper-parameters are stored as that check types them.
    """
    if not rungs:
        raise ValidationError({"rungs": "a ladder needs at least one rung"})
    ordered = _rungs_checked(sorted(rungs, key=lambda rung: rung["parameters"]))
    ladder, _ = Ladder.objects.get_or_create(name=name, defaults={"description": description})
    for order, checked in enumerate(ordered):
        defaults = {
            "order": order + 1000,
            "checkpoint_path": checked.checkpoint_path,
            "parameters": checked.parameters,
            "size_class": checked.size_class,
            "hyperparameters": checked.hyperparameters,
        }
        if checked.checkpoint_facts:
            # Read to check `target_modules`: kept, so the weights are not hashed twice.
            defaults["checkpoint_facts"] = checked.checkpoint_facts
        Rung.objects.update_or_create(ladder=ladder, name=checked.name, defaults=defaults)
    # Two passes keep (ladder, order) unique while orders shift.
    for order, checked in enumerate(ordered):
        Rung.objects.filter(ladder=ladder, name=checked.name).update(order=order)
    # The checkpoints are hashed now, once, rather than on the first run request.
    for rung in ladder.rungs.all():
        rung_checkpoint_facts(rung=rung)
    for project in projects:
        ladder.projects.add(project)
    return ladder


def _rungs_checked(specs: list[dict]) -> list[Rung]:
    """The rungs as unsaved rows with their hyper-parameters typed, or ValidationError naming
    every refused rung and field."""
    checked, problems = [], {}
    for spec in specs:
        rung = Rung(
            name=spec["name"],
            checkpoint_path=spec["path"],
            parameters=spec["parameters"],
            size_class=spec.get("size_class", CPU),
        )
        checked.append(rung)
        if not Path(rung.checkpoint_path).is_dir():
            problems.setdefault("path", []).append(f"rung {rung.name!r}: {rung.checkpoint_path} is not a directory")
            continue
        try:
            rung.hyperparameters = hyperparameters_validate(
                spec.get("hyperparameters", {}), rungs=[rung], registering=True
            )
        except HyperparameterError as refused:
            for field, messages in refused.message_dict.items():
                problems.setdefault(field, []).extend(f"rung {rung.name!r}: {message}" for message in messages)
    if problems:
        raise ValidationError(problems)
    return checked


def ladder_register_checkpoints(*, name: str, directories: list, projects=(), hyperparameters=None,
                                description: str = "") -> Ladder:
    """Register a ladder of checkpoint directories, each inspected (config, weights' headers, tokenizer).

    Every directory is checked before anything is written: one that is not a
    loadable causal LM raises ValidationError naming it, and no row changes.
    `hyperparameters` maps a directory (as given, or its str) to that rung's overrides, checked as
    `ladder_register` checks them.
    Rung names are the directories' names; rungs are ordered by parameter count.
    """
    if not directories:
        raise ValidationError({"rungs": "a ladder needs at least one rung"})
    hyperparameters = {str(directory): values for directory, values in (hyperparameters or {}).items()}
    checkpoints, problems = [], []
    for directory in directories:
        try:
            checkpoints.append((directory, checkpoint_inspect(directory)))
        except CheckpointError as error:
            problems.append(str(error))
    if problems:
        raise ValidationError({"rungs": problems})
    names = [checkpoint.name for _, checkpoint in checkpoints]
    repeated = sorted({rung for rung in names if names.count(rung) > 1})
    if repeated:
        raise ValidationError({"rungs": f"two rungs would share the name {', '.join(repeated)}: rename a directory"})
    rungs = [
        {
            "name": checkpoint.name,
            "path": str(checkpoint.path.resolve()),
            "parameters": checkpoint.parameters,
            "size_class": checkpoint.size_class,
            "hyperparameters": dict(hyperparameters.get(str(directory), {})),
        }
        for directory, checkpoint in checkpoints
    ]
    return ladder_register(name=name, rungs=rungs, projects=projects, description=description)
