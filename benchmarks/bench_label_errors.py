"""Benchmark: does the suspect queue find planted label errors?

Real training on the demo ladder (cpu-s, cpu-m: both are judging rungs), on
the sample corpus, three kinds of planted noise: uniform flips of 30%;
class-conditional (40% of "needs extraction" labelled "no extraction"); and
one careless annotator of three (60% of their labels wrong). For each, the
batch's run and its label check (3 folds, judges at twice their epochs) run
in this process through the same services a worker calls, and the top N
suspects (N = number of wrong labels) are scored against the gold labels:

- eval-only: the verdict's rule before a label check (eval split only);
- cleanlab alone: self-confidence on the judges' pooled out-of-fold probabilities;
- ladder-aware: the queue itself, `scaling.diagnostics.label_issues`
  (cleanlab's issues plus unanimous judges; judges weighted by their
  out-of-fold skill; an annotator prior where annotators differ beyond chance);
- training dynamics: the cheap alternative, no fold jobs at all: the judges'
  full fine-tunes' area under the margin (2001.10528) over their training,
  lowest first (train items only: eval items are never trained on);
- dynamics + out-of-fold: the mean of the two rankings' percentiles.

Targets: uniform 30%: precision >= 0.7 at recall >= 0.7; ladder-aware at
least as good as cleanlab alone on every pattern; the careless annotator
first in the per-annotator table. Runs on a throwaway SQLite database.

    .venv/bin/python benchmarks/bench_label_errors.py [--items 800] [--pretrain-steps 200] [--seed 0]
        [--sizes cpu-s cpu-m] [--patterns 1 2 3]
"""

import argparse
import os
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.pop("DATABASE_URL", None)
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ["LADDERLAB_VAR_DIR"] = tempfile.mkdtemp(prefix="bench-label-errors-")

import django  # noqa: E402

django.setup()

import numpy as np  # noqa: E402
from django.contrib.auth.hashers import make_password  # noqa: E402
from django.core.management import call_command  # noqa: E402

from annotation import services as annotation_services  # noqa: E402
from annotation.batches import batch_create, batch_freeze  # noqa: E402
from annotation.importers import messages_import  # noqa: E402
from annotation.models import Annotation, BatchItem, Item, Membership, Project  # noqa: E402
from annotation.preprocessing import items_preprocess  # noqa: E402
from annotation.sample_corpus import write_jsonl  # noqa: E402
from annotation.simulation import OTHER_CLASS  # noqa: E402
from scaling.selectors import label_check_arrays  # noqa: E402
from scaling.services import verdict_compute  # noqa: E402
from training import services as training_services  # noqa: E402
from training.examples import pretraining_texts  # noqa: E402
from training.ml.ladder import build_demo_ladder  # noqa: E402
from training.models import ItemDynamics, Run  # noqa: E402

PATTERNS = ("uniform 30%", "class-conditional 40%", "careless annotator 60%")
TARGET = 0.7


def label_for(pattern: str, gold: str, annotator: int, rng: random.Random) -> str:
    if pattern == "uniform 30%":
        wrong = rng.random() < 0.3
    elif pattern == "class-conditional 40%":
        wrong = gold == "extraction" and rng.random() < 0.4
    else:
        wrong = annotator == 2 and rng.random() < 0.6
    return OTHER_CLASS.get(gold, gold) if wrong else gold


def labelled_batch(project: Project, pattern: str, items: int, seed: int):
    """Three annotators label the first `items` items round robin; the batch is frozen (its run starts)."""
    rng = random.Random(seed)
    users = []
    for number in range(3):
        user = annotation_services.user_get_or_create(username=f"annotator-{number + 1}", password=make_password(None))
        annotation_services.membership_set(project=project, user=user, role=Membership.ANNOTATOR)
        users.append(user)
    chosen = list(Item.objects.filter(project=project).exclude(gold="").order_by("id")[:items])
    for index, item in enumerate(chosen):
        annotator = index % 3
        annotation_services.item_annotate(
            item=item, annotator=users[annotator], option=label_for(pattern, item.gold, annotator, rng),
            kind=Annotation.SIMULATED,
        )
    batch = batch_create(project=project, name="noisy", items=Item.objects.filter(pk__in=[i.pk for i in chosen]))
    return batch_freeze(batch=batch)


def execute(run: Run) -> float:
    """Every pending job of the run, in this process, as a worker would; then its verdict. Seconds."""
    started = time.monotonic()
    for job_id in run.rung_jobs.filter(status="pending").values_list("pk", flat=True):
        training_services.rung_job_execute(job_id=job_id)
    run.refresh_from_db()
    assert run.status == Run.DONE, f"run {run.pk} is {run.status}"
    verdict_compute(run_id=run.pk)
    return time.monotonic() - started


def precision_recall(ranked: list[int], wrong: set[int]) -> tuple[float, float]:
    top = ranked[: len(wrong)]
    hits = len(set(top) & wrong)
    return (hits / len(top) if top else 0.0), (hits / len(wrong) if wrong else 0.0)


def dynamics_area(run: Run, judges: list[str]) -> dict[int, float]:
    """Each train item's area under the margin, averaged over the judges' full fine-tunes."""
    areas: dict[int, list[float]] = {}
    rows = ItemDynamics.objects.filter(
        rung_job__run=run, rung_job__rung__name__in=judges, rung_job__fold__isnull=True,
        rung_job__train_size__isnull=True,
    ).values_list("item_id", "area_under_margin")
    for item_id, area in rows:
        areas.setdefault(item_id, []).append(area)
    return {item_id: float(np.mean(values)) for item_id, values in areas.items()}


def mean_rank(first: list[int], second: list[int]) -> list[int]:
    """Items by the mean of their percentile in two rankings; one missing from `second` keeps its first."""
    def percentiles(ranking):
        return {item: position / max(1, len(ranking) - 1) for position, item in enumerate(ranking)}

    one, two = percentiles(first), percentiles(second)
    return sorted(first, key=lambda item: ((one[item] + two.get(item, one[item])) / 2, item))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=800)
    parser.add_argument("--messages", type=int, default=30_000)
    parser.add_argument("--pretrain-steps", type=int, default=200)
    parser.add_argument("--epochs-factor", type=float, default=2.0)
    parser.add_argument(
        "--sizes", nargs="+", default=["cpu-s", "cpu-m"],
        help="the ladder's rungs, all of them judges (the demo ladder's own judges: cpu-m cpu-l)",
    )
    parser.add_argument("--patterns", nargs="+", type=int, choices=range(1, len(PATTERNS) + 1),
                        default=list(range(1, len(PATTERNS) + 1)),
                        help="which patterns to run: 1 uniform, 2 class-conditional, 3 careless annotator")
    parser.add_argument(
        "--seed", type=int, default=0,
        help="draws the corpus, the ladder and the labellers from another seed (0: the figures recorded first)",
    )
    args = parser.parse_args()
    call_command("migrate", verbosity=0)
    corpus = Path(os.environ["LADDERLAB_VAR_DIR"]) / "corpus.jsonl"
    write_jsonl(path=corpus, messages=args.messages, seed=args.seed)
    patterns = [PATTERNS[number - 1] for number in sorted(set(args.patterns))]
    projects = []
    for pattern in patterns:
        project = annotation_services.project_create(name=pattern)
        project.shuffle_options = False  # as the demo: tiny models learn the task in a fixed option order
        project.label_check = Project.LABEL_CHECK_ON_REQUEST
        project.save(update_fields=["shuffle_options", "label_check"])
        messages_import(project=project, path=corpus)
        items_preprocess(project=project)
        projects.append(project)
    started = time.monotonic()
    rungs = build_demo_ladder(
        texts=pretraining_texts(project=projects[0]), output_dir=Path(os.environ["LADDERLAB_VAR_DIR"]) / "ladder",
        sizes=args.sizes, seed=args.seed, pretrain_steps=args.pretrain_steps,
    )
    ladder = training_services.ladder_register(name="demo", rungs=rungs, projects=projects)
    print(f"ladder {', '.join(args.sizes)} built in {time.monotonic() - started:.0f} s; {args.items} items a batch")
    rows = []
    for pattern, project in zip(patterns, projects):
        # Each pattern keeps its own draw whichever others run beside it.
        seed = 1 + PATTERNS.index(pattern) + len(PATTERNS) * args.seed
        batch = labelled_batch(project, pattern, args.items, seed)
        run = Run.objects.get(batch=batch, ladder=ladder)
        run_seconds = execute(run)
        frozen = dict(BatchItem.objects.filter(batch=batch).values_list("item_id", "label"))
        gold = dict(Item.objects.filter(pk__in=frozen).values_list("pk", "gold"))
        wrong = {item for item, label in frozen.items() if label != gold[item]}
        eval_wrong = {item for item in wrong if BatchItem.objects.get(batch=batch, item_id=item).split == "eval"}
        eval_only = [suspect["item_id"] for suspect in run.verdict.suspects]

        checking = training_services.label_check_request(run=run, rungs=args.sizes, epochs_factor=args.epochs_factor)
        check_seconds = execute(checking)
        arrays = label_check_arrays(run=checking)
        pooled = arrays["probabilities"].mean(axis=0)
        index = {value: position for position, value in enumerate(arrays["classes"])}
        label_probability = np.array(
            [pooled[row, index[label]] for row, label in enumerate(arrays["labels"])]
        )
        cleanlab_alone = [arrays["item_ids"][row] for row in np.argsort(label_probability, kind="stable")]
        area = dynamics_area(checking, arrays["judges"])
        by_area = sorted(area, key=lambda item: (area[item], item))
        dynamics_only = by_area + [item for item in arrays["item_ids"] if item not in area]
        combined = mean_rank(cleanlab_alone, by_area)
        checked = checking.verdict
        ladder_aware = [suspect["item_id"] for suspect in checked.suspects]
        annotators = checked.diagnostics["label_check"]["annotators"]
        figures = {
            "eval-only": precision_recall(eval_only, wrong),
            "cleanlab alone": precision_recall(cleanlab_alone, wrong),
            "ladder-aware": precision_recall(ladder_aware, wrong),
            "dynamics": precision_recall(dynamics_only, wrong),
            "dynamics+oof": precision_recall(combined, wrong),
        }
        rows.append((pattern, len(frozen), len(wrong), len(eval_wrong), figures, annotators[0]["annotator"],
                     len(ladder_aware), run_seconds, check_seconds, checked.tuned.get("f1")))
        print(f"\n{pattern}: {len(frozen)} items, {len(wrong)} wrong labels ({len(eval_wrong)} in eval); "
              f"run {run_seconds:.0f} s, label check {check_seconds:.0f} s; tuned F1 {checked.tuned.get('f1')}")
        for name, (precision, recall) in figures.items():
            print(f"  {name:<16} top-{len(wrong)} precision {precision:.2f} recall {recall:.2f}")
        print(f"  ladder-aware queue holds {len(ladder_aware)} suspects; most suspects per annotator: "
              + ", ".join(f"{a['annotator']} {a['suspects']}/{a['labels']}" for a in annotators))
    print("\nsummary (top-N, N = wrong labels)")
    for pattern, _, _, _, figures, first, _, _, _, _ in rows:
        ladder_p, ladder_r = figures["ladder-aware"]
        alone_p, _ = figures["cleanlab alone"]
        print(f"  {pattern:<24} ladder-aware P {ladder_p:.2f} R {ladder_r:.2f} | cleanlab alone P {alone_p:.2f} | "
              f"dynamics P {figures['dynamics'][0]:.2f} | dynamics+oof P {figures['dynamics+oof'][0]:.2f} | "
              f"eval-only P {figures['eval-only'][0]:.2f} R {figures['eval-only'][1]:.2f} | first annotator {first}")
    by_pattern = {row[0]: row for row in rows}
    if PATTERNS[0] in by_pattern:
        uniform = by_pattern[PATTERNS[0]][4]["ladder-aware"]
        print(f"target: uniform 30% precision >= {TARGET} at recall >= {TARGET}: "
              f"{'met' if min(uniform) >= TARGET else 'missed'} ({uniform[0]:.2f} / {uniform[1]:.2f})")
    if PATTERNS[2] in by_pattern:
        first = by_pattern[PATTERNS[2]][5]
        print(f"target: careless annotator first: {'yes' if first == 'annotator-3' else 'no'} ({first})")


if __name__ == "__main__":
    main()
