"""Ladders: registering a ladder's rungs from checkpoints on disk."""

from pathlib import Path

from django.core.exceptions import ValidationError
from django.db import transaction

from training.checkpoints import CheckpointError, checkpoint_inspect
from training.models import Ladder, Rung
from training.services.checkpoints import rung_checkpoint_facts


@transaction.atomic
def ladder_register(*, name: str, rungs: list[dict], projects=(), description: str = "") -> Ladder:
    """Create or update a ladder from [{"name", "path", "parameters", "size_class", "hyperparameters"?}]."""
    if not rungs:
        raise ValidationError({"rungs": "a ladder needs at least one rung"})
    ladder, _ = Ladder.objects.get_or_create(name=name, defaults={"description": description})
    ordered = sorted(rungs, key=lambda rung: rung["parameters"])
    for order, spec in enumerate(ordered):
        if not Path(spec["path"]).is_dir():
            raise ValidationError({"path": f"rung {spec['name']!r}: {spec['path']} is not a directory"})
        Rung.objects.update_or_create(
            ladder=ladder,
            name=spec["name"],
            defaults={
                "order": order + 1000,
                "checkpoint_path": spec["path"],
                "parameters": spec["parameters"],
                "size_class": spec.get("size_class", "cpu"),
                "hyperparameters": spec.get("hyperparameters", {}),
            },
        )
    # Two passes keep (ladder, order) unique while orders shift.
    for order, spec in enumerate(ordered):
        Rung.objects.filter(ladder=ladder, name=spec["name"]).update(order=order)
    # The checkpoints are hashed now, once, rather than on the first run request.
    for rung in ladder.rungs.all():
        rung_checkpoint_facts(rung=rung)
    for project in projects:
        ladder.projects.add(project)
    return ladder


def ladder_register_checkpoints(*, name: str, directories: list, projects=(), hyperparameters=None,
                                description: str = "") -> Ladder:
    """Register a ladder of checkpoint directories, each inspected (config, weights' headers, tokenizer).

    Every directory is checked before anything is written: one that is not a
    loadable causal LM raises ValidationError naming it, and no row changes.
    `hyperparameters` maps a directory (as given, or its str) to that rung's overrides.
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
