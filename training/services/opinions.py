"""The ladder's opinion of the items nobody has labelled yet: the queue's order and annotators' suggestions.

Once a run has finished, when its project orders the queue by the ladder or
shows suggestions (`Project.wants_ladder_opinions`), the full fine-tunes of its
largest rungs (the label check's judging rungs, else the larger half of the
ladder, at least two) score the project's open items, up to
settings.LADDER_OPINION_ITEMS of them in queue order. Each rung's option
log-likelihoods become probabilities over the options; their mean over the
rungs gives the suggestion, its probability, and the margin over the next
option (uncertainty sampling's margin: small means unsure).

Only the project's latest run writes its opinion, and only while the project's
task is the one the run's batch was frozen under: a model trained on other
prompts has no opinion of these. The run keeps the work's state in
`Run.opinions`, which its page shows; computing again replaces the opinion.
"""

import math
import time

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef, Q

from annotation import services as annotation_services
from annotation.exports import ITEM_FIELDS, export_row
from annotation.models import BatchItem, Item, Project
from training.ml.data import EvalExample
from training.models import Run, RungJob
from training.services.label_check import judging_rungs_default

# Seconds between progress writes while scoring.
PROGRESS_SECONDS = 0.5
DONE, SKIPPED, FAILED, QUEUED, SCORING = "done", "skipped", "failed", "queued", "scoring"


def opinion_jobs(run: Run) -> list[RungJob]:
    """The done full fine-tunes of the run's judging rungs, smallest first."""
    rungs = list(run.ladder.rungs.order_by("order"))
    names = (run.label_check or {}).get("rungs") or [rung.name for rung in judging_rungs_default(rungs)]
    return list(
        run.rung_jobs.filter(
            status=RungJob.DONE, train_size=None, fold=None, rung__name__in=names
        ).exclude(adapter_path="").select_related("rung").order_by("rung__order")
    )


def open_items(*, project: Project, run: Run, limit: int) -> list[tuple]:
    """Up to `limit` items still short of their overlap, in queue order, as `ITEM_FIELDS` rows.

    Items of the run's own batch are left out: the ladder trained on them.
    """
    in_batch = BatchItem.objects.filter(batch=run.batch, item=OuterRef("pk"))
    return list(
        Item.objects.filter(project=project, annotation_count__lt=project.overlap, control=False)
        .exclude(Exists(in_batch))
        .order_by("-annotation_count", "id")
        .values_list(*ITEM_FIELDS)[:limit]
    )


def _skip_reason(run: Run, project: Project) -> str:
    if not project.wants_ladder_opinions:
        return "the project neither orders its queue by the ladder nor shows suggestions"
    if run.batch.task_version != project.task_version:
        return (
            f"the task changed after batch {run.batch.name!r} was frozen: the next run's ladder gives its opinion"
        )
    if Item.objects.filter(project=project, suggestion_run__gt=run.pk).exists():
        return "a later run's opinion is in force"
    return ""


def _record(run_id: int, state: dict) -> None:
    Run.objects.filter(pk=run_id).update(opinions=state)


def _probabilities(logprobs: list[float]) -> list[float]:
    top = max(logprobs)
    weights = [math.exp(value - top) for value in logprobs]
    total = sum(weights)
    return [weight / total for weight in weights]


def run_opinions_compute(*, run_id: int) -> dict:
    """Score the project's open items with the run's largest rungs and store the opinion; returns the state.

    Idempotent: computing again scores again and replaces the opinion.
    A run without done judging rungs, or one the module's rules skip,
    records why and changes no item.
    """
    from training.ml.evaluate import score_choices
    from training.ml.ladder import load_model

    run = Run.objects.select_related("batch__project", "ladder").get(pk=run_id)
    project = run.batch.project
    reason = _skip_reason(run, project)
    jobs = opinion_jobs(run)
    if not reason and not jobs:
        reason = "none of the largest rungs finished its fine-tune"
    if reason:
        state = {"state": SKIPPED, "reason": reason}
        _record(run_id, state)
        return state
    started = time.monotonic()
    rows = open_items(project=project, run=run, limit=settings.LADDER_OPINION_ITEMS)
    examples, option_values = [], {}
    for row in rows:
        rendered = export_row(project=project, row=row)
        key = str(rendered.item_id)
        examples.append(EvalExample(
            prompt=rendered.instruction,
            choices=[f"{letter}:{text}" for letter, _, text in rendered.choices],
            key=key,
        ))
        option_values[key] = [value for _, value, _ in rendered.choices]
    rung_names = [job.rung.name for job in jobs]
    mean: dict[str, dict[str, float]] = {key: dict.fromkeys(values, 0.0) for key, values in option_values.items()}
    last_write = 0.0
    for index, job in enumerate(jobs):

        def progress(done: int, total: int, rung=job.rung.name, index=index) -> None:
            nonlocal last_write
            if time.monotonic() - last_write >= PROGRESS_SECONDS or done == total:
                last_write = time.monotonic()
                _record(run_id, {"state": SCORING, "rung": rung, "rungs": rung_names, "items": len(examples),
                                 "step": index * total + done, "steps": len(jobs) * total})

        progress(0, max(len(examples), 1))
        if not examples:
            break
        model, tokenizer = load_model(job.rung.checkpoint_path, adapter_dir=job.adapter_path)
        for score in score_choices(model=model, tokenizer=tokenizer, examples=examples, progress=progress):
            for value, probability in zip(option_values[score.key], _probabilities(score.logprobs)):
                mean[score.key][value] += probability / len(jobs)
        del model
    suggestions = {}
    for key, by_value in mean.items():
        ranked = sorted(by_value.items(), key=lambda pair: pair[1], reverse=True)
        runner_up = ranked[1][1] if len(ranked) > 1 else 0.0
        suggestions[int(key)] = annotation_services.Suggestion(
            option=ranked[0][0], probability=ranked[0][1], margin=ranked[0][1] - runner_up
        )
    with transaction.atomic():
        Run.objects.select_for_update().get(pk=run_id)
        reason = _skip_reason(run, Project.objects.get(pk=project.pk))
        if reason:
            state = {"state": SKIPPED, "reason": reason}
        else:
            changed = annotation_services.item_suggestions_replace(
                project=project, run_id=run_id, suggestions=suggestions
            )
            state = {"state": DONE, "items": changed, "rungs": rung_names,
                     "seconds": round(time.monotonic() - started, 1)}
        _record(run_id, state)
    return state


def run_opinions_attempt(*, run_id: int) -> dict:
    """`run_opinions_compute` as a worker runs it: a failure is recorded on the run, then raised again."""
    try:
        return run_opinions_compute(run_id=run_id)
    except Exception as error:
        _record(run_id, {"state": FAILED, "error": f"{type(error).__name__}: {error}"})
        raise


def run_opinions_enqueue(*, run: Run) -> bool:
    """Queue the opinion of a finished run whose project asks for one; False when it does not.

    On the largest judging rung's queue: that worker can load the model.
    """
    from training.tasks import run_opinions_task

    if not run.is_final or not run.batch.project.wants_ladder_opinions:
        return False
    jobs = opinion_jobs(run)
    if not jobs:
        return False
    Run.objects.filter(pk=run.pk).update(opinions={"state": QUEUED})
    run_opinions_task.apply_async(args=[run.pk], queue=jobs[-1].rung.queue)
    return True


def runs_missing_an_opinion() -> list[Run]:
    """Each project's latest final run, where the project asks for an opinion and the run has none.

    For the recovery sweep: a run whose on-commit `run_finished` was lost.
    """
    latest = []
    for project in Project.objects.filter(Q(informative_first=True) | Q(suggest_labels=True)):
        run = (
            Run.objects.filter(batch__project=project).exclude(status__in=Run.OPEN_STATUSES)
            .select_related("batch__project").order_by("-pk").first()
        )
        if run is not None and not run.opinions:
            latest.append(run)
    return latest
