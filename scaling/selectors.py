"""Reads for the scaling app: stored verdicts shaped for dashboards, banners and queues.

Everything here reads rows and returns plain dicts and lists; charts receive
them through `json_script`, tables render the same numbers.
"""

import math
from collections import defaultdict
from datetime import timedelta

import numpy as np

from django.db.models import F, Q
from django.utils import timezone

from annotation.models import Annotation, Batch, BatchItem, Item
from scaling import diagnostics, laws, planning, selection
from scaling.models import LawPrediction, Verdict
from scaling.verdict import size_label
from training.models import ItemDynamics, Prediction, Run, Rung, RungJob
from training.services import KNOWN_HYPERPARAMETERS, learning_curve_sizes
from training.services.label_check import judging_rungs_default

# A banner polls while its run trains and until the run's verdict is stored.
BANNER_POLL_SECONDS = 3
# A run that finished this recently may have its verdict on the way already.
VERDICT_GRACE = timedelta(minutes=2)
REGRESSION_BLAME_LIMIT = 50


def project_runs(*, project):
    return Run.objects.filter(batch__project=project).select_related("batch", "ladder")


def latest_run(*, project, batch: Batch | None = None) -> Run | None:
    """The latest run of the latest frozen batch (of `batch`, when given)."""
    runs = project_runs(project=project)
    if batch is not None:
        runs = runs.filter(batch=batch)
    return runs.order_by(
        F("batch__frozen_at").desc(nulls_last=True), "-batch_id", "-created_at", "-pk"
    ).first()


def runs_missing_a_verdict() -> list[int]:
    """Ids of final runs without a verdict that should have one by now.

    A run whose verdict failed to compute waits until its `verdict_retry_at`;
    once that is cleared (the attempts are used up) it is left alone.
    """
    now = timezone.now()
    return list(
        Run.objects.exclude(status__in=Run.OPEN_STATUSES)
        .filter(verdict__isnull=True, finished_at__lt=now - VERDICT_GRACE)
        .filter(Q(verdict_failures=0) | Q(verdict_retry_at__lte=now))
        .values_list("pk", flat=True)
    )


# Where a run's verdict stands (`verdict_state`).
VERDICT_TRAINING = "training"  # the run is open; its verdict is (re)computed once it finishes
VERDICT_COMPUTING = "computing"  # finished, queued or being computed
VERDICT_RETRYING = "retrying"  # the last computation failed; the sweep tries again at `Run.verdict_retry_at`
VERDICT_GAVE_UP = "gave_up"  # failed too often to be tried again by itself; a lead may ask for it again
VERDICT_DONE = "done"


def verdict_state(*, run: Run) -> str:
    """One of the VERDICT_* states above."""
    if not run.is_final:
        return VERDICT_TRAINING
    if Verdict.objects.filter(run=run).exists():
        return VERDICT_DONE
    if not run.verdict_failures:
        return VERDICT_COMPUTING
    return VERDICT_RETRYING if run.verdict_retry_at is not None else VERDICT_GAVE_UP


def run_verdict(*, run: Run | None) -> Verdict | None:
    if run is None:
        return None
    return Verdict.objects.filter(run=run).first()


def ladder_gain(*, verdict: Verdict | None) -> dict | None:
    """The tuned ladder's fitted F1 gain with its bootstrap interval; None for verdicts without one."""
    tuned = (verdict.tuned or {}) if verdict is not None else {}
    if "gain_low" not in tuned:
        return None
    return {
        "gain": tuned["fitted_gain"],
        "low": tuned["gain_low"],
        "high": tuned["gain_high"],
        "confidence": tuned.get("confidence", 0.95),
        "n_items": tuned.get("n_items"),
        "items_needed": tuned.get("items_needed"),
        "metric": verdict_metric(verdict=verdict),
    }


def verdict_metric(*, verdict: Verdict | None) -> str:
    """What the verdict scored the ladder by, as a page names it: "F1" or "macro-F1"."""
    return diagnostics.metric_label(((verdict.tuned or {}) if verdict is not None else {}).get("metric", ""))


def verdict_banner(*, project, batch: Batch | None = None, run: Run | None = None) -> dict:
    """What the banner says: the verdict of `run`, else the latest run of the batch or project.

    `finished` is true once nothing more can change: no run, or a final run
    with its verdict stored or whose verdict failed too often to be tried
    again. `verdict_failed`: a final run without a verdict, whose last
    computation failed (`Run.verdict_error`).
    """
    scope = "run" if run is not None else ("batch" if batch is not None else "project")
    run = run or latest_run(project=project, batch=batch)
    verdict = run_verdict(run=run)
    jobs = list(run.rung_jobs.values_list("status", flat=True)) if run is not None else []
    state = verdict_state(run=run) if run is not None else None
    verdict_failed = state in {VERDICT_RETRYING, VERDICT_GAVE_UP}
    if verdict is not None:
        kind = verdict.kind
    elif run is not None:
        kind = "verdict_failed" if verdict_failed else "training"
    else:
        kind = "none"
    return {
        "project": project,
        "scope": scope,
        "batch": batch,
        "run": run,
        "verdict": verdict,
        "verdict_failed": verdict_failed,
        "proposals": rerun_proposals(verdict=verdict) if verdict else [],
        "gain": ladder_gain(verdict=verdict),
        "kind": kind,
        "rungs_done": sum(status == RungJob.DONE for status in jobs),
        "rungs_total": len(jobs),
        "suspect_count": len(verdict.suspects) if verdict else 0,
        "finished": state in {None, VERDICT_DONE, VERDICT_GAVE_UP},
        "poll_seconds": BANNER_POLL_SECONDS,
    }


def batch_runs(*, batch: Batch) -> dict:
    """A batch's runs, newest first, and the ladders a new run may use."""
    runs = (
        Run.objects.filter(batch=batch)
        .select_related("ladder", "verdict", "rerun_of")
        .order_by("-created_at", "-pk")
    )
    ladders = list(batch.project.ladders.order_by("name"))
    return {
        "runs": list(runs),
        "ladders": ladders,
        "learning_curve_sizes": learning_curve_sizes(batch.train_count),
        "known_hyperparameters": KNOWN_HYPERPARAMETERS,
        "label_check_folds": batch.project.label_check_folds,
        "label_check_estimates": [
            estimate for ladder in ladders
            if (estimate := label_check_estimate(
                ladder=ladder, train_count=batch.train_count, folds=batch.project.label_check_folds,
                epochs_factor=batch.project.label_check_epochs_factor,
            )) is not None
        ],
    }


def label_check_estimate(*, ladder, train_count: int, folds: int, epochs_factor: float) -> dict | None:
    """Seconds the judging rungs' fold jobs would take on a train split of `train_count` items, from each
    judge's latest measured fine-tune (seconds per train item); None until every judge has one."""
    seconds = 0.0
    for rung in judging_rungs_default(list(ladder.rungs.order_by("order"))):
        job = (
            RungJob.objects.full().filter(rung=rung, status=RungJob.DONE, train_seconds__isnull=False)
            .select_related("run__batch").order_by("-finished_at").first()
        )
        if job is None or not job.run.batch.train_count:
            return None
        per_item = job.train_seconds / job.run.batch.train_count
        seconds += folds * per_item * train_count * (folds - 1) / folds * epochs_factor
    return {"ladder": ladder.name, "seconds": seconds}


def _series(stage: dict) -> dict:
    return {
        "f1": stage.get("f1", []),
        "ci_low": stage.get("ci_low", []),
        "ci_high": stage.get("ci_high", []),
    }


def f1_by_size(*, verdict: Verdict) -> dict:
    """Per-rung F1 with bootstrap intervals, base and tuned, in ascending size."""
    tuned, base = verdict.tuned or {}, verdict.base or {}
    names = tuned.get("names", [])
    base_by_name = dict(zip(base.get("names", []), range(len(base.get("names", [])))))
    base_series = _series(base)

    def base_value(key: str, name: str):
        index = base_by_name.get(name)
        return None if index is None else base_series[key][index]

    return {
        "names": names,
        "sizes": tuned.get("sizes", []),
        "size_labels": [size_label(size) for size in tuned.get("sizes", [])],
        "tuned": _series(tuned),
        "base": {key: [base_value(key, name) for name in names] for key in ("f1", "ci_low", "ci_high")},
        "confidence": tuned.get("confidence"),
        "n_items": tuned.get("n_items"),
        "metric": verdict_metric(verdict=verdict),
        "rows": [
            {
                "name": name,
                "size": size_label(size),
                "base_f1": base_value("f1", name),
                "base_low": base_value("ci_low", name),
                "base_high": base_value("ci_high", name),
                "tuned_f1": tuned["f1"][index],
                "tuned_low": tuned["ci_low"][index],
                "tuned_high": tuned["ci_high"][index],
            }
            for index, (name, size) in enumerate(zip(names, tuned.get("sizes", [])))
        ],
    }


def _latest_verdict_per_batch(*, project) -> list[tuple[Batch, Verdict]]:
    """Each frozen batch (oldest first) with the verdict of its latest run that has tuned F1."""
    verdicts = (
        Verdict.objects.filter(run__batch__project=project)
        .exclude(kind=Verdict.INCOMPLETE)
        .select_related("run__batch")
        .order_by(
            F("run__batch__frozen_at").asc(nulls_first=True), "run__batch_id", "-run__created_at", "-run_id"
        )
    )
    chosen: dict[int, tuple[Batch, Verdict]] = {}
    for verdict in verdicts:
        chosen.setdefault(verdict.run.batch_id, (verdict.run.batch, verdict))
    return list(chosen.values())


def f1_across_batches(*, project) -> dict:
    """Tuned F1 by rung, one series per batch: is the data getting better?"""
    per_batch = _latest_verdict_per_batch(project=project)
    sizes: dict[str, float] = {}
    for _, verdict in per_batch:
        sizes.update(zip(verdict.tuned.get("names", []), verdict.tuned.get("sizes", [])))
    names = sorted(sizes, key=lambda name: sizes[name])
    series = []
    for batch, verdict in per_batch:
        f1 = dict(zip(verdict.tuned.get("names", []), verdict.tuned.get("f1", [])))
        series.append(
            {"batch": batch.name, "run_id": verdict.run_id, "kind": verdict.kind,
             "verdict": verdict.get_kind_display(), "message": verdict.message,
             "f1": [f1.get(name) for name in names]}
        )
    return {"names": names, "series": series, "metric": project.metric_name}


def _power_f1(params: dict, size: float) -> float:
    """F1 on the fitted curve: 1 − err(N), the law `laws.fit_power` fits to 1 − F1."""
    return 1.0 - float(laws.power_law(size, A=params["A"], alpha=params["alpha"], E=params["E"]))


def power_law_overlay(*, verdict: Verdict) -> dict | None:
    """Observed tuned F1, the fitted power law through it, and the extrapolated next size."""
    power = (verdict.fits or {}).get("power")
    if not power:
        return None
    params = power["params"]
    names, sizes, observed = verdict.tuned["names"], verdict.tuned["sizes"], verdict.tuned["f1"]
    # Points between the rungs (in log size) so the curve draws as a curve.
    low, high = math.log(sizes[0]), math.log(power["next_size"])
    curve_sizes = [math.exp(low + (high - low) * step / 24) for step in range(25)]
    return {
        "params": params,
        "rmse_log": power.get("rmse_log"),
        "observed": [{"x": size, "y": f1} for size, f1 in zip(sizes, observed)],
        "curve": [{"x": size, "y": _power_f1(params, size)} for size in curve_sizes],
        "next": {"x": power["next_size"], "y": power["next_f1"], "label": size_label(power["next_size"])},
        "metric": verdict_metric(verdict=verdict),
        "rows": [
            {"name": name, "size": size_label(size), "observed": f1, "fitted": _power_f1(params, size)}
            for name, size, f1 in zip(names, sizes, observed)
        ]
        + [{"name": "next (extrapolated)", "size": size_label(power["next_size"]), "observed": None,
            "fitted": power["next_f1"]}],
    }


def category_growth(*, verdict: Verdict) -> dict | None:
    growth = (verdict.diagnostics or {}).get("categories")
    if not growth or not growth.get("categories"):
        return None
    return {
        "names": growth["names"],
        "categories": growth["categories"],
        "not_scaling": growth.get("not_scaling", []),
    }


def learning_curves(*, verdict: Verdict) -> dict | None:
    """Eval loss by train-subset size per rung, with the rectified fit and AtS advice when fitted."""
    curves = (verdict.fits or {}).get("learning_curves")
    if not curves:
        return None
    sizes = sorted({point[0] for entry in curves.values() for point in entry["points"]})
    rungs = []
    for name, entry in curves.items():
        loss = dict((point[0], point[1]) for point in entry["points"])
        rungs.append(
            {
                "name": name,
                "points": [{"x": size, "y": value} for size, value in entry["points"]],
                "loss_by_size": [loss.get(size) for size in sizes],
                "rectified": entry.get("rectified"),
                "accept_then_stop": entry.get("accept_then_stop"),
            }
        )
    return {"sizes": sizes, "rungs": rungs}


def _full_train_size(verdict: Verdict, curves: dict) -> float:
    """The batch's train split; the largest measured subset when the batch does not say."""
    largest = max(point[0] for entry in curves.values() for point in entry["points"])
    return float(verdict.run.batch.train_count or largest)


def learning_curve_forecasts(*, verdict: Verdict) -> dict[str, planning.CurveForecast]:
    """Each rung's rectified law and bootstrap through its learning curve, in ladder order."""
    curves = (verdict.fits or {}).get("learning_curves") or {}
    order = dict(verdict.run.ladder.rungs.values_list("name", "order"))
    return {
        name: planning.forecast_curve(
            [point[0] for point in entry["points"]], [point[1] for point in entry["points"]],
            standard_errors=entry.get("stderr"),
        )
        for name, entry in sorted(curves.items(), key=lambda item: order.get(item[0], math.inf))
    }


def _estimate(estimate: planning.Estimate | None) -> dict | None:
    return None if estimate is None else estimate.to_dict()


def _ranking(ranking: planning.Ranking, sizes: dict[str, float]) -> dict:
    return {
        "target_size": ranking.target_size,
        "recommended": None if ranking.recommended is None else {
            **ranking.recommended.to_dict(), "size": size_label(sizes.get(ranking.recommended.name, 0)),
        },
        "ranked": [entry.to_dict() for entry in ranking.ranked],
        "ats_order": ranking.ats_order,
        "agrees": ranking.agrees,
        "bend_order": ranking.bend_order,
        "bend_agrees": ranking.bend_agrees,
        "unranked": [{"name": name, "reason": reason} for name, reason in ranking.unranked.items()],
        "reason": ranking.reason,
    }


def _recommendation(forecasts: dict[str, planning.CurveForecast], full: float, sizes: dict[str, float]) -> dict:
    """The rankings at the full train size and at twice it, and one row per ranked rung with both."""
    at_full, at_double = planning.rank_rungs(forecasts, full), planning.rank_rungs(forecasts, 2 * full)
    double = {entry.name: entry for entry in at_double.ranked}
    return {
        "full": _ranking(at_full, sizes),
        "double": _ranking(at_double, sizes),
        "rows": [
            {"name": entry.name, "size": size_label(sizes.get(entry.name, 0)),
             "targets": [entry.to_dict(), double[entry.name].to_dict()]}
            for entry in at_full.ranked
        ],
    }


def rung_recommendation(*, verdict: Verdict | None) -> dict | None:
    """Which rung to train on the full batch (and on twice its labels); None without learning curves."""
    curves = (verdict.fits or {}).get("learning_curves") if verdict is not None else None
    if not curves:
        return None
    sizes = dict(verdict.run.ladder.rungs.values_list("name", "parameters"))
    return _recommendation(learning_curve_forecasts(verdict=verdict), _full_train_size(verdict, curves), sizes)


def _rung_costs(run: Run, full: float) -> tuple[list[planning.RungCost], float | None]:
    """Each rung's measured seconds per train example over its jobs, and what the full fine-tunes cost in all.

    The total (training and scoring every rung on the whole train split) is
    the default budget; None until every full fine-tune is measured.
    """
    jobs = list(run.rung_jobs.subsets().filter(status=RungJob.DONE).select_related("rung"))
    trained: dict[int, list[float]] = defaultdict(lambda: [0.0, 0.0])
    scoring: dict[int, float] = {}
    full_seconds, measured = 0.0, True
    for job in jobs:
        if job.train_seconds is not None:
            trained[job.rung_id][0] += job.train_seconds
            trained[job.rung_id][1] += job.train_size or full
        if job.train_size is None:
            scoring[job.rung_id] = job.eval_seconds or 0.0
            if job.train_seconds is None:
                measured = False
            else:
                full_seconds += job.train_seconds + (job.eval_seconds or 0.0)
    costs = [
        planning.RungCost(
            rung.name, float(rung.parameters),
            trained[rung.pk][0] / trained[rung.pk][1] if trained[rung.pk][1] else None,
            scoring.get(rung.pk, 0.0),
        )
        for rung in run.ladder.rungs.order_by("order")
    ]
    return costs, (full_seconds if measured and full_seconds > 0 else None)


def _grid_points(curves: dict, sizes: dict[str, float]) -> list[tuple[float, float, float, float | None]]:
    """Every measured (rung size, train size, loss, standard error) of the learning curves."""
    return [
        (sizes[name], point[0], point[1], error)
        for name, entry in curves.items() if name in sizes
        for point, error in zip(entry["points"], entry.get("stderr") or [None] * len(entry["points"]))
    ]


def _joint_law(curves: dict, sizes: dict[str, float]) -> planning.JointFit:
    """The multiplicative joint law over the rung × subset grid of the learning curves."""
    points = _grid_points(curves, sizes)
    model_sizes, data_sizes, losses, errors = (list(column) for column in zip(*points)) if points else ([],) * 4
    return planning.joint_fit(model_sizes, data_sizes, losses, standard_errors=errors)


def run_planning(*, verdict: Verdict | None, target_loss: float | None = None,
                 budget_seconds: float | None = None) -> dict | None:
    """The lead's three questions from a verdict's learning curves, as plain numbers.

    Which rung for the full batch (`recommendation`); per rung, the loss at
    2×, 4×, 8× today's labels and the labels `target_loss` needs (`rungs`);
    and, by the joint law over the rung × subset grid, every rung × label
    multiple with its loss, training seconds and extra labels, and the best
    within `budget_seconds` (default: what the run's full fine-tunes cost).
    None when the verdict has no learning curves.
    """
    curves = (verdict.fits or {}).get("learning_curves") if verdict is not None else None
    if not curves:
        return None
    run, batch = verdict.run, verdict.run.batch
    full = _full_train_size(verdict, curves)
    sizes = {name: float(parameters) for name, parameters in run.ladder.rungs.values_list("name", "parameters")}
    forecasts = learning_curve_forecasts(verdict=verdict)
    # An eval item is labelled too: each new train item costs 1 / train share labels.
    train_share = batch.train_count / (batch.train_count + batch.eval_count) if batch.train_count else 1.0

    def labels_to_annotate(examples: float | None) -> int | None:
        return None if examples is None else math.ceil(max(examples, 0.0) / train_share)

    rungs = []
    for name, forecast in forecasts.items():
        needed = forecast.labels_for(target_loss) if target_loss is not None else None
        top = max(forecast.sizes + [8 * full])
        low = min((size for size in forecast.sizes if size > 0), default=full)
        curve_sizes = [low * (top / low) ** (step / 24) for step in range(25)]
        rungs.append({
            "name": name,
            "size": size_label(sizes.get(name, 0)),
            "answered": forecast.answered,
            "reason": forecast.reason,
            "interval_source": forecast.interval_source,
            "interval_reason": forecast.interval_reason,
            "params": forecast.params,
            "rmse_log": forecast.rmse_log,
            "at": [
                {"multiple": multiple, "train_size": multiple * full,
                 "loss": _estimate(forecast.loss_at(multiple * full))}
                for multiple in planning.LABEL_MULTIPLES
            ],
            "labels_needed": None if needed is None else {
                **needed.to_dict(),
                "extra_labels": labels_to_annotate(None if needed.size is None else needed.size - full),
            },
            "fitted": [{"x": size, "y": loss} for size, loss in zip(curve_sizes, forecast.curve(curve_sizes))],
        })

    joint = _joint_law(curves, sizes)
    costs, run_cost = _rung_costs(run, full)
    budget = budget_seconds or run_cost
    options = None
    if budget is not None:
        plan = planning.plan_options(joint, costs, current_size=full, budget_seconds=budget)
        rows = [
            {**option.to_dict(), "size": size_label(option.model_size),
             "extra_labels": labels_to_annotate(option.extra_examples), "best": option is plan.best}
            for option in plan.options
        ]
        options = {
            "budget_seconds": budget,
            "reason": plan.reason,
            "best": next((row for row in rows if row["best"]), None),
            "rows": rows,
        }
    return {
        "run_id": run.pk,
        "full_train_size": full,
        "train_share": train_share,
        "target_loss": target_loss,
        "run_cost_seconds": run_cost,
        "recommendation": _recommendation(forecasts, full, sizes),
        "rungs": rungs,
        "joint": joint.to_dict(),
        "options": options,
        "options_reason": None if budget is not None else "no budget: the run's full fine-tunes were not timed",
    }


# --- was the law right last time ------------------------------------------------------------

# A later rung job measures a predicted point when it trained on a train size within ±15% of it:
# batches are never exactly twice the last one, and the laws change little over that span.
MEASURED_SIZE_TOLERANCE = 0.15
# The order the track record lists the laws in.
LAW_ORDER = [LawPrediction.RECTIFIED, LawPrediction.JOINT, LawPrediction.ACCEPT_THEN_STOP]


def gold_loss(scores: dict, label: str) -> float:
    """Negative log-probability of the labelled option among the options: the learning curves' loss."""
    values = np.array(list(scores.values()), dtype=float)
    if label not in scores or values.size == 0:
        return math.nan
    log_norm = values.max() + math.log(np.exp(values - values.max()).sum())
    return float(log_norm - scores[label])


def law_predictions(*, verdict: Verdict | None) -> list[dict]:
    """What the verdict's laws predict for each rung on 1×, 2×, 4× and 8× today's labels, with their inputs.

    Per rung with enough learning-curve points: the rectified law (with its
    bootstrap interval) and Accept then Stop; for every rung of the ladder:
    the joint law over the rung × subset grid. Each row carries the fitted
    parameters and the measured points they came from. 1× is kept as well: a
    revised batch of the same size measures it. Empty without learning curves.
    """
    curves = (verdict.fits or {}).get("learning_curves") if verdict is not None else None
    if not curves:
        return []
    full = _full_train_size(verdict, curves)
    sizes = {name: float(parameters) for name, parameters in verdict.run.ladder.rungs.values_list("name", "parameters")}

    def row(rung: str, law: str, multiple: int, estimate: planning.Estimate, params: dict, points: list) -> dict:
        return {
            "rung": rung, "law": law, "multiple": multiple, "train_size": round(multiple * full),
            "predicted_loss": estimate.value, "interval_low": estimate.low, "interval_high": estimate.high,
            "predicted_f1": None, "params": params, "points": points,
        }

    rows = []
    for name, forecast in learning_curve_forecasts(verdict=verdict).items():
        if not forecast.answered:
            continue
        entry = curves[name]
        measured = [
            {"train_size": size, "loss": loss, "stderr": error}
            for (size, loss), error in zip(entry["points"], entry.get("stderr") or [None] * len(entry["points"]))
        ]
        for multiple in planning.LABEL_MULTIPLES:
            rows.append(row(name, LawPrediction.RECTIFIED, multiple, forecast.loss_at(multiple * full),
                            forecast.params, measured))
            ats = selection.accept_then_stop((forecast.sizes, forecast.losses), multiple * full)
            rows.append(row(name, LawPrediction.ACCEPT_THEN_STOP, multiple, planning.Estimate(ats.predicted_loss),
                            {"slope": ats.slope, "intercept": ats.intercept, "accepted_sizes": ats.accepted_sizes},
                            measured))
    joint = _joint_law(curves, sizes)
    if joint.params is not None:
        grid = [
            {"model_size": model_size, "train_size": size, "loss": loss, "stderr": error}
            for model_size, size, loss, error in _grid_points(curves, sizes)
        ]
        for name, model_size in sizes.items():
            for multiple in planning.LABEL_MULTIPLES:
                rows.append(row(name, LawPrediction.JOINT, multiple, joint.loss_at(model_size, multiple * full),
                                {**joint.params, "model_size": model_size}, grid))
    return rows


def _measured_losses(jobs: list[RungJob]) -> dict[int, float]:
    """{job id: mean loss of the labelled option over its own batch's eval items}, as the learning curves measure it."""
    labels: dict[int, dict[int, str]] = defaultdict(dict)
    for batch_id, item_id, label in BatchItem.objects.filter(
        batch_id__in={job.run.batch_id for job in jobs}, split=BatchItem.EVAL
    ).values_list("batch_id", "item_id", "label"):
        labels[batch_id][item_id] = label
    batch_of = {job.pk: job.run.batch_id for job in jobs}
    losses: dict[int, list[float]] = defaultdict(list)
    for job_id, item_id, scores in Prediction.objects.filter(
        rung_job__in=jobs, stage=Prediction.TUNED
    ).values_list("rung_job_id", "item_id", "scores"):
        label = labels[batch_of[job_id]].get(item_id)
        value = math.nan if label is None else gold_loss(scores, label)
        if math.isfinite(value):
            losses[job_id].append(value)
    return {job_id: float(np.mean(values)) for job_id, values in losses.items()}


def _measurements_of(prediction: LawPrediction, jobs: list[RungJob]) -> list[RungJob]:
    """The later jobs that trained `prediction`'s rung on about its train size, one per result.

    Later: a run created after the predicting one, on another batch, whose result
    was not reused from a run that old (a re-run's copied jobs measure nothing new).
    """
    made = prediction.run.created_at
    chosen: dict[int, RungJob] = {}
    for job in jobs:
        origin = job.reused_from or job
        size = job.train_size or job.run.batch.train_count
        if (
            job.run.batch_id == prediction.run.batch_id
            or job.run.created_at <= made
            or origin.run.created_at <= made
            or not size
            or abs(size - prediction.train_size) > MEASURED_SIZE_TOLERANCE * prediction.train_size
        ):
            continue
        # A label check's or a re-run's copy of a later result is the same measurement: the earliest run's.
        kept = chosen.get(origin.pk)
        if kept is None or (job.run.created_at, job.run_id) < (kept.run.created_at, kept.run_id):
            chosen[origin.pk] = job
    return list(chosen.values())


def _law_errors(rows: list[dict]) -> list[dict]:
    """Per law: how many points were measured, the mean absolute and mean signed error, and how many fell inside."""
    summary = []
    for law in LAW_ORDER:
        errors = [row["error"] for row in rows if row["law"] == law]
        if not errors:
            continue
        judged = [row["within_interval"] for row in rows if row["law"] == law and row["within_interval"] is not None]
        summary.append({
            "law": law,
            "label": dict(LawPrediction.LAWS)[law],
            "count": len(errors),
            "mean_absolute_error": float(np.mean(np.abs(errors))),
            "mean_signed_error": float(np.mean(errors)),
            "with_interval": len(judged),
            "within_interval": sum(judged),
        })
    return summary


def _next_measurement(predictions: list[LawPrediction]) -> dict | None:
    """The point a lead could measure next: the latest run's lowest rectified (else joint) prediction on 2× the labels."""
    if not predictions:
        return None
    latest = max(predictions, key=lambda prediction: (prediction.run.created_at, prediction.run_id)).run_id
    for law in (LawPrediction.RECTIFIED, LawPrediction.JOINT):
        candidates = [
            prediction for prediction in predictions
            if prediction.run_id == latest and prediction.law == law and prediction.multiple == 2
        ]
        if candidates:
            best = min(candidates, key=lambda prediction: prediction.predicted_loss)
            return {
                "run_id": best.run_id, "batch": best.run.batch.name, "rung": best.rung.name, "law": best.law,
                "law_label": best.get_law_display(), "multiple": best.multiple, "train_size": best.train_size,
                "predicted_loss": best.predicted_loss, "interval_low": best.interval_low,
                "interval_high": best.interval_high,
            }
    return None


def law_track_record(*, project, run: Run | None = None) -> dict:
    """Was the law right last time? Each stored prediction a later run measured, and each law's running error.

    A row pairs a `LawPrediction` with a later run's done rung job (not a fold)
    on the same rung whose train size is within MEASURED_SIZE_TOLERANCE of the
    predicted one: the measured loss is the mean loss of the labelled option on
    that run's eval split, the error measured − predicted (above 0: the law was
    too hopeful). With `run`, only the rows it predicted or measured, and the
    point to measure next among its own predictions. `next_measurement` names
    a point no run has measured yet, for a lead to aim the next batch at.
    """
    predictions = sorted(
        LawPrediction.objects.filter(run__batch__project=project).select_related("run__batch", "rung"),
        key=lambda prediction: (prediction.run.created_at, prediction.run_id, prediction.rung.order,
                                LAW_ORDER.index(prediction.law), prediction.train_size),
    )
    by_rung: dict[int, list[RungJob]] = defaultdict(list)
    for job in (
        RungJob.objects.filter(run__batch__project=project, status=RungJob.DONE, fold__isnull=True,
                               rung_id__in={prediction.rung_id for prediction in predictions})
        .select_related("run__batch", "reused_from__run")
    ):
        by_rung[job.rung_id].append(job)
    matches = [
        (prediction, job) for prediction in predictions for job in _measurements_of(prediction, by_rung[prediction.rung_id])
    ]
    if run is not None:
        matches = [(prediction, job) for prediction, job in matches if run.pk in (prediction.run_id, job.run_id)]
        predictions = [prediction for prediction in predictions if prediction.run_id == run.pk]
    measured = _measured_losses(list({job.pk: job for _, job in matches}.values())) if matches else {}
    rows = []
    for prediction, job in matches:
        if job.pk not in measured:
            continue
        loss = measured[job.pk]
        has_interval = prediction.interval_low is not None and prediction.interval_high is not None
        rows.append({
            "law": prediction.law,
            "law_label": prediction.get_law_display(),
            "rung": prediction.rung.name,
            "predicting_run_id": prediction.run_id,
            "predicting_batch": prediction.run.batch.name,
            "measuring_run_id": job.run_id,
            "measuring_batch": job.run.batch.name,
            "multiple": prediction.multiple,
            "predicted_train_size": prediction.train_size,
            "measured_train_size": job.train_size or job.run.batch.train_count,
            "predicted_loss": prediction.predicted_loss,
            "interval_low": prediction.interval_low,
            "interval_high": prediction.interval_high,
            "measured_loss": loss,
            "error": loss - prediction.predicted_loss,
            "within_interval": (prediction.interval_low <= loss <= prediction.interval_high) if has_interval else None,
            "predicted_f1": prediction.predicted_f1,
            "measured_f1": (job.metrics.get("tuned") or {}).get("f1"),
        })
    return {
        "tolerance": MEASURED_SIZE_TOLERANCE,
        "predictions": len(predictions),
        "rows": rows,
        "laws": _law_errors(rows),
        "next_measurement": None if rows else _next_measurement(predictions),
    }


def _track_record_chart(track_record: dict) -> dict | None:
    """Predicted against measured loss, one series per law, and the span of both for the diagonal."""
    rows = track_record["rows"]
    if not rows:
        return None
    values = [row[key] for row in rows for key in ("predicted_loss", "measured_loss")]
    return {
        "laws": [
            {"label": entry["label"],
             "points": [{"x": row["predicted_loss"], "y": row["measured_loss"]} for row in rows
                        if row["law"] == entry["law"]]}
            for entry in track_record["laws"]
        ],
        "low": min(values),
        "high": max(values),
    }


def dashboard(*, project, target_loss: float | None = None, budget_seconds: float | None = None) -> dict:
    """Everything the project dashboard draws, for the latest batch's latest run.

    `target_loss` and `budget_seconds` are the lead's what-if inputs to the planning section.
    """
    run = latest_run(project=project)
    verdict = run_verdict(run=run)
    context = {
        "project": project,
        "run": run,
        "verdict": verdict,
        "metric": verdict_metric(verdict=verdict) if verdict is not None else project.metric_name,
        "across_batches": f1_across_batches(project=project),
        "regressions": regression_report(project=project),
        "track_record": law_track_record(project=project),
    }
    if verdict is not None and verdict.kind != Verdict.INCOMPLETE:
        context.update(
            by_size=f1_by_size(verdict=verdict),
            power=power_law_overlay(verdict=verdict),
            categories=category_growth(verdict=verdict),
            curves=learning_curves(verdict=verdict),
            proposals=rerun_proposals(verdict=verdict),
            planning=run_planning(verdict=verdict, target_loss=target_loss, budget_seconds=budget_seconds),
        )
    if context.get("planning") and context.get("curves"):
        # The learning-curve chart draws each rung's fitted law out to 8× today's labels.
        fitted = {rung["name"]: rung["fitted"] for rung in context["planning"]["rungs"]}
        for rung in context["curves"]["rungs"]:
            rung["fitted"] = fitted.get(rung["name"], [])
    options = (context.get("planning") or {}).get("options")
    context["options_chart"] = options and {
        "budget_seconds": options["budget_seconds"],
        "rows": [
            {"x": row["seconds"], "y": row["predicted"]["value"], "name": row["name"], "multiple": row["multiple"],
             "best": row["best"]}
            for row in options["rows"] if row["seconds"] is not None
        ],
    }
    context["track_record_chart"] = _track_record_chart(context["track_record"])
    # Plain numbers only: this goes to the page's scripts through json_script.
    context["charts"] = {
        key: context.get(key)
        for key in ("by_size", "across_batches", "power", "categories", "curves", "options_chart",
                    "track_record_chart")
    }
    return context


def _option_text(project, value: str) -> str:
    """An option's text; a value the project no longer offers shows as itself."""
    try:
        return project.option_text(value)
    except KeyError:
        return value or "—"


def _class_text(project, predicted) -> str:
    """The ladder's answer as verdict_compute scored it: an option of a macro-F1 task, or for
    a binary one the side (the positive option, or the others) the ladder took."""
    if isinstance(predicted, str):
        return _option_text(project, predicted)
    if predicted:
        return _option_text(project, project.positive_option)
    negatives = [
        option["text"]
        for option in project.options
        if option["value"] != project.positive_option and option["value"] not in project.abstain_options
    ]
    return " or ".join(negatives) or f"not {_option_text(project, project.positive_option)}"


def suspect_queue(*, verdict: Verdict) -> list[dict]:
    """The verdict's suspect items, strongest disagreement first, with each item's label now.

    Suspects of a run that checked every label (cross-fitted folds) cover the
    whole batch and carry the judges' answer, a reason, the split and the
    annotator; otherwise they come from the eval split only.

    `fixed` tells a lead which suspects were relabelled since the batch froze.
    """
    run = verdict.run
    project = run.batch.project
    suspects = sorted(verdict.suspects or [], key=lambda suspect: -suspect["score"])
    item_ids = [suspect["item_id"] for suspect in suspects]
    items = Item.objects.in_bulk(item_ids)
    frozen = dict(
        BatchItem.objects.filter(batch=run.batch, item_id__in=item_ids).values_list("item_id", "label")
    )
    rows = []
    for suspect in suspects:
        item = items.get(suspect["item_id"])
        if item is None:
            continue
        whole_batch = "answer" in suspect
        rows.append(
            {
                "item": item,
                "strength": suspect["score"],
                "agreement": suspect["against"] / suspect["judges"] if whole_batch else suspect["agreement"],
                "frozen_label": _option_text(project, frozen.get(item.pk, "")),
                "ladder_says": (
                    _option_text(project, suspect["answer"])
                    if whole_batch
                    else _class_text(project, suspect["predicted"])
                ),
                "current_label": _option_text(project, item.label),
                "fixed": item.label != frozen.get(item.pk, ""),
                "frozen_value": frozen.get(item.pk, ""),
                "answer": suspect.get("answer"),
                "kind": suspect.get("kind", diagnostics.WRONG),
                "reason": suspect.get("reason", ""),
                "split": suspect.get("split", BatchItem.EVAL),
                "annotator": suspect.get("annotator", ""),
                "probabilities": suspect.get("probabilities", {}),
            }
        )
    return rows


def suspect_row_plain(row: dict) -> dict:
    """A suspect-queue row as plain values (the API's and the management command's shape)."""
    item = row["item"]
    return {
        "item_id": item.pk,
        "text": item.text,
        "label": row["frozen_value"],
        "current_label": item.label,
        "answer": row["answer"],
        "score": row["strength"],
        "kind": row["kind"],
        "reason": row["reason"],
        "split": row["split"],
        "annotator": row["annotator"],
        "probabilities": row["probabilities"],
    }


def item_ladder_opinion(*, item: Item) -> dict | None:
    """What the latest run that scored `item` out of sample says about it: each rung's answer and its
    probability of the item's label now, and the item's suspect entry in that run's verdict.

    Out of sample: an eval item as scored by the full fine-tunes, a train item as scored by the
    fold job that held it out. None when no run has scored the item yet.
    """
    latest = (
        Prediction.objects.filter(item=item, stage=Prediction.TUNED, rung_job__train_size__isnull=True)
        .order_by("-rung_job__run__created_at", "-rung_job__run_id")
        .values_list("rung_job__run_id", flat=True)
        .first()
    )
    if latest is None:
        return None
    run = Run.objects.select_related("batch").get(pk=latest)
    rows = []
    for option, scores, rung, fold in (
        Prediction.objects.filter(item=item, stage=Prediction.TUNED, rung_job__run=run,
                                  rung_job__train_size__isnull=True)
        .order_by("rung_job__rung__order")
        .values_list("option", "scores", "rung_job__rung__name", "rung_job__fold")
    ):
        by_value = dict(zip(scores, diagnostics.option_probabilities(scores, list(scores)).tolist()))
        rows.append({
            "rung": rung,
            "answer": _option_text(item.project, option),
            "agrees": option == item.label,
            "label_probability": by_value.get(item.label),
            "fold": fold,
        })
    verdict = run_verdict(run=run)
    suspect = next((entry for entry in (verdict.suspects if verdict else []) if entry["item_id"] == item.pk), None)
    return {"run": run, "rows": rows, "suspect": suspect, "whole_batch": bool(run.label_check)}


def item_training_dynamics(*, item: Item) -> dict | None:
    """How the latest run's full fine-tunes saw `item` while training on it, per rung; None if none did.

    Each row: the area under the margin (the label's logit over the best other
    choice's, averaged over the steps that trained on it), the confidence and
    the variability of the label's probability (dataset cartography). Available
    from an ordinary run, before any label check: a label every rung resists
    (a low or negative area) is worth a second look.
    """
    rows = list(
        ItemDynamics.objects.filter(item=item, rung_job__train_size__isnull=True, rung_job__fold__isnull=True)
        .order_by("-rung_job__run__created_at", "-rung_job__run_id", "rung_job__rung__order")
        .values_list("rung_job__run_id", "rung_job__rung__name", "area_under_margin", "confidence", "variability",
                     "seen")
    )
    if not rows:
        return None
    latest = rows[0][0]
    return {
        "run_id": latest,
        "rows": [
            {"rung": rung, "area_under_margin": area, "confidence": confidence, "variability": variability,
             "seen": seen, "resisted": area < 0}
            for run_id, rung, area, confidence, variability, seen in rows
            if run_id == latest
        ],
    }


def label_check_cost(*, run: Run, folds: int | None = None, epochs_factor: float | None = None) -> dict:
    """What checking every label of `run`'s batch would add: fold jobs and an estimate of their time.

    Folds and epochs factor left out are the project's label-check settings.

    Each judging rung trains `folds` times on (folds-1)/folds of the train
    split for `epochs_factor` times its epochs, and scores the fold it left
    out; the estimate scales the rung's own measured fine-tune and scoring
    seconds in this run. `available` is false where the check cannot start
    (the run is a re-run, already checks labels, or is not done).
    """
    project = run.batch.project
    folds = project.label_check_folds if folds is None else folds
    epochs_factor = project.label_check_epochs_factor if epochs_factor is None else epochs_factor
    rungs = list(run.ladder.rungs.order_by("order"))
    judges = judging_rungs_default(rungs)
    full = {job.rung_id: job for job in run.rung_jobs.full()}
    seconds, measured = 0.0, True
    for rung in judges:
        job = full.get(rung.pk)
        if job is None or job.train_seconds is None:
            measured = False
            continue
        training = job.train_seconds * epochs_factor * (folds - 1) / folds
        scoring = ((job.metrics.get("tuned") or {}).get("seconds") or 0.0) * run.batch.train_count / max(
            1, run.batch.eval_count
        ) / folds
        seconds += folds * (training + scoring)
    return {
        "available": not run.label_check and run.rerun_of_id is None and run.status == Run.DONE,
        "judges": [rung.name for rung in judges],
        "jobs": folds * len(judges),
        "folds": folds,
        "epochs_factor": epochs_factor,
        "seconds": seconds if measured else None,
    }


def label_authors(*, batch) -> dict[int, str]:
    """{item id: who first gave it the label it has in the batch}: the annotator, not the lead who accepted it."""
    frozen = dict(BatchItem.objects.filter(batch=batch).values_list("item_id", "label"))
    authors: dict[int, str] = {}
    for item_id, option, username in (
        Annotation.objects.filter(item__batch_items__batch=batch, kind__in=Annotation.LABEL_KINDS)
        .order_by("id")
        .values_list("item_id", "option", "annotator__username")
    ):
        if option == frozen.get(item_id) and item_id not in authors:
            authors[item_id] = username
    return authors


def label_check_arrays(*, run: Run) -> dict | None:
    """Every batch item's out-of-sample option probabilities from each judging rung that finished.

    A train item's come from the fold job that held it out, an eval item's
    from the full fine-tune. A judge counts once its full job and every fold
    job are done; None when the run checks no labels or no judge finished.
    """
    config = run.label_check or {}
    if not config:
        return None
    jobs = list(run.rung_jobs.filter(rung__name__in=config["rungs"]).exclude(train_size__isnull=False)
                .select_related("rung").order_by("rung__order", "fold"))
    by_rung: dict[str, list[RungJob]] = defaultdict(list)
    for job in jobs:
        by_rung[job.rung.name].append(job)
    complete = [
        name for name in config["rungs"]
        if len(by_rung[name]) == config["folds"] + 1 and all(job.status == RungJob.DONE for job in by_rung[name])
    ]
    if not complete:
        return None
    rows = list(
        BatchItem.objects.filter(batch=run.batch)
        .order_by("item_id")
        .values_list("item_id", "label", "split", "annotation__annotator__username")
    )
    classes = list(run.batch.project.option_values)
    opinions: dict[str, dict[int, np.ndarray]] = {}
    for name in complete:
        scored: dict[int, np.ndarray] = {}
        for job in by_rung[name]:
            # A fold job scored its held-out train items only, a full job the eval split only.
            for item_id, scores in Prediction.objects.filter(rung_job=job, stage=Prediction.TUNED).values_list(
                "item_id", "scores"
            ):
                for value in scores:
                    if value not in classes:
                        classes.append(value)
                scored[item_id] = scores
        opinions[name] = scored
    rows = [row for row in rows if all(row[0] in opinions[name] for name in complete)]
    labelled_by = label_authors(batch=run.batch)
    probabilities = np.array(
        [[diagnostics.option_probabilities(opinions[name][row[0]], classes) for row in rows] for name in complete]
    ).reshape(len(complete), len(rows), len(classes))
    return {
        "item_ids": [row[0] for row in rows],
        "labels": [row[1] for row in rows],
        "splits": {row[0]: row[2] for row in rows},
        "annotators": {row[0]: labelled_by.get(row[0], row[3]) for row in rows},
        "classes": classes,
        "probabilities": probabilities,
        "judges": complete,
    }


def project_annotator_quality(*, project) -> dict | None:
    """The latest label check's per-annotator figures for the project: {"verdict", "annotators"}; None before one."""
    verdict = (
        Verdict.objects.filter(run__batch__project=project, diagnostics__label_check__isnull=False)
        .exclude(diagnostics__label_check=None)
        .select_related("run__batch")
        .order_by("-created_at", "-pk")
        .first()
    )
    if verdict is None:
        return None
    return {"verdict": verdict, "annotators": verdict.diagnostics["label_check"]["annotators"]}


def label_check_summary(*, verdict: Verdict | None) -> dict | None:
    """What the run's label check covered and each annotator's share of suspects; None without one."""
    if verdict is None:
        return None
    return (verdict.diagnostics or {}).get("label_check")


def rerun_proposals(*, verdict: Verdict) -> list[dict]:
    """The rung diagnosis's proposed hyper-parameter changes, ready for a one-click re-run."""
    changes = ((verdict.diagnostics or {}).get("rungs") or {}).get("proposed_changes") or []
    rungs = {rung.name: rung for rung in Rung.objects.filter(ladder_id=verdict.run.ladder_id)}
    proposals = []
    for change in changes:
        rung = rungs.get(change["rung"])
        if rung is None or change.get("proposed") is None:
            continue
        proposals.append(
            {
                "rung": rung,
                "parameter": change["parameter"],
                "current": change.get("current"),
                "proposed": change["proposed"],
                "hyperparameters": f"{change['parameter']}={change['proposed']:g}",
            }
        )
    return proposals


def _tuned_predictions(*, run: Run, rung_name: str, item_ids) -> dict[int, tuple[str, float | None]]:
    rows = Prediction.objects.filter(
        rung_job__run=run,
        rung_job__rung__name=rung_name,
        rung_job__train_size__isnull=True,
        rung_job__fold__isnull=True,
        stage=Prediction.TUNED,
        item_id__in=item_ids,
    ).values_list("item_id", "option", "margin")
    return {item_id: (option, margin) for item_id, option, margin in rows}


def latest_label_check(*, batch: Batch) -> dict | None:
    """`label_check_arrays` of the batch's latest finished label check with a finished judge; None before one."""
    checks = Run.objects.filter(batch=batch, status=Run.DONE).exclude(label_check={}).order_by("-created_at", "-pk")
    for run in checks:
        arrays = label_check_arrays(run=run)
        if arrays is not None:
            return arrays
    return None


def label_check_opinion(*, arrays: dict | None, rung_name: str) -> dict | None:
    """A label check's out-of-sample opinion of every item, from `latest_label_check`'s arrays.

    {"classes", "by_item": {item id: P(option) in class order}, "judged_by"}:
    the rung's own when it was a judge, else the judges' mean. None without arrays.
    """
    if arrays is None:
        return None
    judges = arrays["judges"]
    if rung_name in judges:
        probabilities, judged_by = arrays["probabilities"][judges.index(rung_name)], rung_name
    else:
        probabilities, judged_by = arrays["probabilities"].mean(axis=0), ", ".join(judges)
    return {"classes": arrays["classes"], "by_item": dict(zip(arrays["item_ids"], probabilities)),
            "judged_by": judged_by}


def regression_blame(
    *, earlier: Run, later: Run, rung_name: str, limit: int = REGRESSION_BLAME_LIMIT, checks: dict | None = None
) -> list[dict]:
    """Items relabelled between two runs' batches, the likeliest culprits of the rung's drop first.

    Any relabelled item can be blamed, in either split: with a label check
    of either batch (the later's first), the blame is how much less likely
    the new label is than the old one in the ladder's out-of-sample opinion
    (log P(before) − log P(after); the item never trained the model that
    judged it). Items in both eval splits also show how far the rung's tuned
    margin (positive option minus the best other) moved between the runs.
    Items with an opinion come first, by blame; the rest by movement.
    """
    project = later.batch.project
    before = dict(BatchItem.objects.filter(batch=earlier.batch).values_list("item_id", "label"))
    later_rows = list(BatchItem.objects.filter(batch=later.batch).values_list("item_id", "split", "label"))
    after = {item_id: label for item_id, _, label in later_rows}
    splits = {item_id: split for item_id, split, _ in later_rows}
    changed = [item_id for item_id in before.keys() & after.keys() if before[item_id] != after[item_id]]
    old = _tuned_predictions(run=earlier, rung_name=rung_name, item_ids=changed)
    new = _tuned_predictions(run=later, rung_name=rung_name, item_ids=changed)
    # `checks`: the two batches' latest label checks, read once for every rung that fell.
    checks = checks if checks is not None else batch_label_checks(earlier=earlier, later=later)
    opinion = label_check_opinion(arrays=checks["later"] or checks["earlier"], rung_name=rung_name)
    items = Item.objects.in_bulk(changed)
    rows = []
    for item_id in changed:
        row = {
            "item": items[item_id],
            "split": splits[item_id],
            "label_before": _option_text(project, before[item_id]),
            "label_after": _option_text(project, after[item_id]),
            "movement": None,
            "blame": None,
        }
        if item_id in old and item_id in new:
            (old_option, old_margin), (new_option, new_margin) = old[item_id], new[item_id]
            row.update(
                predicted_before=_option_text(project, old_option),
                predicted_after=_option_text(project, new_option),
                margin_before=old_margin,
                margin_after=new_margin,
                movement=abs(new_margin - old_margin) if old_margin is not None and new_margin is not None else 0.0,
            )
        probabilities = None if opinion is None else opinion["by_item"].get(item_id)
        if probabilities is not None:
            classes = opinion["classes"]
            p_before, p_after = (
                float(probabilities[classes.index(label)]) if label in classes else 0.0
                for label in (before[item_id], after[item_id])
            )
            row.update(
                ladder_says=_option_text(project, classes[int(np.argmax(probabilities))]),
                judged_by=opinion["judged_by"],
                probability_before=p_before,
                probability_after=p_after,
                blame=math.log(max(p_before, 1e-9)) - math.log(max(p_after, 1e-9)),
            )
        rows.append(row)
    rows.sort(key=lambda row: (row["blame"] is None, -(row["blame"] or 0.0), -(row["movement"] or 0.0),
                               row["item"].pk))
    return rows[:limit]


def batch_label_checks(*, earlier: Run, later: Run) -> dict:
    """{"earlier", "later"}: each run's batch's latest label check (`latest_label_check`), or None."""
    return {"earlier": latest_label_check(batch=earlier.batch), "later": latest_label_check(batch=later.batch)}


def regression_report(*, project) -> dict | None:
    """Rungs whose tuned F1 fell from the previous batch's run to the latest one's, with blame."""
    per_batch = _latest_verdict_per_batch(project=project)
    if len(per_batch) < 2:
        return None
    (earlier_batch, earlier), (later_batch, later) = per_batch[-2], per_batch[-1]
    before = dict(zip(earlier.tuned["names"], earlier.tuned["f1"]))
    drops, checks = [], None
    for name, f1 in zip(later.tuned["names"], later.tuned["f1"]):
        if name in before and f1 < before[name]:
            checks = checks or batch_label_checks(earlier=earlier.run, later=later.run)
            drops.append(
                {
                    "rung": name,
                    "f1_before": before[name],
                    "f1_after": f1,
                    "drop": before[name] - f1,
                    "items": regression_blame(earlier=earlier.run, later=later.run, rung_name=name,
                                              checks=checks),
                }
            )
    return {"earlier": earlier_batch, "later": later_batch, "earlier_run": earlier.run,
            "later_run": later.run, "drops": drops}


def run_report(*, run: Run) -> dict:
    """A run's verdict, fits, per-rung metrics and provenance as one JSON-ready dict."""
    verdict = run_verdict(run=run)
    jobs = run.rung_jobs.select_related("rung").order_by("rung__order", "fold", "train_size")
    return {
        "run": {
            "id": run.pk,
            "status": run.status,
            "batch": run.batch.name,
            "batch_hash": run.batch.content_hash,
            "ladder": run.ladder.name,
            "hyperparameters": run.hyperparameters,
            "learning_curve": run.learning_curve,
            "label_check": run.label_check,
            "rerun_of": run.rerun_of_id,
            "rung_overrides": run.rung_overrides,
            "code_version": run.code_version,
            "provenance": run.provenance,
            "created_at": run.created_at.isoformat(),
            "finished_at": run.finished_at.isoformat() if run.finished_at else None,
        },
        "rungs": [
            {
                "name": job.rung.name,
                "parameters": job.rung.parameters,
                "train_size": job.train_size,
                "fold": job.fold,
                "reused_from": job.reused_from_id,
                "status": job.status,
                "hyperparameters": job.hyperparameters,
                "metrics": job.metrics,
                "train_seconds": job.train_seconds,
                "eval_seconds": job.eval_seconds,
                "tokens_per_second": job.tokens_per_second,
                "error": job.error,
            }
            for job in jobs
        ],
        "verdict": None
        if verdict is None
        else {
            "kind": verdict.kind,
            "message": verdict.message,
            "tuned": verdict.tuned,
            "base": verdict.base,
            "fits": verdict.fits,
            "diagnostics": verdict.diagnostics,
            "suspects": verdict.suspects,
            "missing_rungs": verdict.missing_rungs,
            "provenance": verdict.provenance,
            "created_at": verdict.created_at.isoformat(),
        },
    }
