"""Benchmark: selector candidates against AtS, tuned on two of the paper's datasets, scored on the third.

Candidates (each predicts every model's loss at 1,638,400 examples from the
halving subsets a budget allows, as `bench_ats_table1.py` scores AtS):
AtS with other k, δ, a floor under the residual spread and keeping the
smallest subset; the line through the last m subsets; a blend (geometric
mean, weight w on AtS) of AtS with that line; the rectified law
(`scaling.laws.fit_rectified`) fitted to every point the budget allows, with
or without the zero-shot point, read at the target; and a blend of AtS with
that rectified prediction; and AtS with a backtested bend
(`scaling.selection.backtested_bend`, which predicts all 30 models at once).
For each held-out dataset a candidate is chosen on the other two datasets'
14 budget cells in two ways, each scored on the held-out dataset's 7 cells:
by mean PearCorr (then RelAcc), and by the goal itself (RelAcc no lower than
AtS's on either, then the largest smaller PearCorr gain over AtS of the two).

The rectified fits (30 models × 7 budgets × 3 datasets, with and without the
zero-shot point) are made once, on two processes, and shared by every
candidate that reads them.

Needs the paper's CSVs (see bench_ats_table1.py for where to get them).
Run: .venv/bin/python benchmarks/bench_selector_holdout.py PATH/TO/benchmark
(add --no-rectified to leave out the rectified candidates and their fits:
seconds instead of minutes).
"""

import argparse
import itertools
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_ats_table1 import BUDGETS, DATASETS, SIZES, TARGET, cell, load  # noqa: E402

from scaling.laws import fit_rectified  # noqa: E402
from scaling.selection import accept_then_stop, backtested_bend  # noqa: E402

AtS = ("ats", 3, 5.0, 0.0, False)


def last_line(sizes: np.ndarray, losses: np.ndarray, points: int) -> float:
    slope, intercept = np.polyfit(np.log(sizes[-points:]), np.log(losses[-points:]), 1)
    return float(np.exp(intercept + slope * np.log(TARGET)))


def budget_columns(budget: int, with_zero: bool) -> list[int]:
    return [i for i, size in enumerate(SIZES) if (with_zero or size > 0) and size <= budget]


def rectified_at_target(job: tuple[np.ndarray, int, bool]) -> float:
    row, budget, with_zero = job
    columns = budget_columns(budget, with_zero)
    return float(fit_rectified(np.array(SIZES, dtype=float)[columns], row[columns]).predict(TARGET))


def rectified_table(losses: np.ndarray) -> dict[tuple[int, bool], np.ndarray]:
    """Each model's rectified prediction at the target, per (budget, zero-shot point kept)."""
    keys = [(budget, with_zero) for budget in BUDGETS for with_zero in (False, True)]
    jobs = [(row, budget, with_zero) for budget, with_zero in keys for row in losses]
    with ProcessPoolExecutor(max_workers=2) as pool:
        flat = np.array(list(pool.map(rectified_at_target, jobs, chunksize=8)))
    return {key: flat[i * len(losses) : (i + 1) * len(losses)] for i, key in enumerate(keys)}


def predict(candidate: tuple, sizes: np.ndarray, losses: np.ndarray, rectified: float) -> float:
    kind = candidate[0]
    if kind == "rectified":
        return rectified
    if kind == "ats_rectified":
        ats = float(accept_then_stop((sizes, losses), TARGET))
        weight = candidate[2]
        return float(np.exp(weight * np.log(ats) + (1 - weight) * np.log(rectified)))
    if kind == "ats":
        _, k, delta, floor, keep = candidate
        return float(
            accept_then_stop((sizes, losses), TARGET, k=k, delta=delta, min_residual_std=floor, keep_smallest=keep)
        )
    if kind == "last":
        return last_line(sizes, losses, candidate[1])
    _, points, weight = candidate
    ats = float(accept_then_stop((sizes, losses), TARGET))
    return float(np.exp(weight * np.log(ats) + (1 - weight) * np.log(last_line(sizes, losses, points))))


def score(
    candidate: tuple, losses: np.ndarray, rectified: dict[tuple[int, bool], np.ndarray]
) -> tuple[float, float]:
    truth = losses[:, SIZES.index(TARGET)]
    # Only the rectified candidates read the fits; the zero-shot flag is their second field.
    with_zero = candidate[0] in ("rectified", "ats_rectified") and candidate[1]
    pears, relaccs = [], []
    for budget in BUDGETS:
        columns = budget_columns(budget, with_zero=False)
        sizes = np.array(SIZES, dtype=float)[columns]
        if candidate[0] == "bend":
            _, delta, ratio, trust_power, growth = candidate
            bent = backtested_bend(
                {model: (sizes, row[columns]) for model, row in enumerate(losses)}, TARGET, delta=delta,
                ratio=ratio, trust_power=trust_power, growth=growth,
            )
            predicted = np.array([bent.predicted[model] for model in range(len(losses))])
        else:
            fitted = rectified[(budget, with_zero)] if rectified else [None] * len(losses)
            predicted = np.array(
                [predict(candidate, sizes, row[columns], fit) for row, fit in zip(losses, fitted)]
            )
        pear, relacc = cell(predicted, truth, candidate[0])
        pears.append(pear)
        relaccs.append(relacc)
    return float(np.mean(pears)), float(np.mean(relaccs))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("benchmark_dir", type=Path)
    parser.add_argument("--no-rectified", action="store_true", help="leave out the rectified candidates")
    arguments = parser.parse_args()
    folder = arguments.benchmark_dir
    losses = {name: load(folder, name)[1] for name in DATASETS}
    candidates = [AtS]
    candidates += [
        ("ats", k, delta, floor, keep)
        for k in (3, 4, 5)
        for delta in (2.0, 3.0, 5.0, 8.0)
        for floor in (0.0, 0.002, 0.005)
        for keep in (False, True)
    ]
    candidates += [("last", points) for points in (2, 3, 4, 5)]
    candidates += [("blend", points, weight) for points in (2, 3, 4) for weight in (0.25, 0.5, 0.75)]
    candidates += [
        ("bend", delta, ratio, trust_power, growth)
        for delta in (3.0, 5.0)
        for ratio in (2.0, 4.0)
        for trust_power in (0.5, 1.0, 2.0)
        for growth in (0.0, 0.1, 0.25, 0.5, 1.0)
    ]
    rectified = {name: {} for name in DATASETS}
    if not arguments.no_rectified:
        candidates += [("rectified", with_zero) for with_zero in (False, True)]
        candidates += [
            ("ats_rectified", with_zero, weight) for with_zero in (False, True) for weight in (0.25, 0.5, 0.75)
        ]
        started = time.perf_counter()
        rectified = {name: rectified_table(losses[name]) for name in DATASETS}
        fits = len(DATASETS) * len(BUDGETS) * 2 * len(losses[DATASETS[0]])
        print(f"{fits} rectified fits in {time.perf_counter() - started:.0f} s")
    candidates = list(dict.fromkeys(candidates))
    started = time.perf_counter()
    table = {
        (candidate, name): score(candidate, losses[name], rectified[name])
        for candidate in candidates
        for name in DATASETS
    }
    print(f"{len(candidates)} candidates scored in {time.perf_counter() - started:.0f} s")
    for candidate in candidates:
        if candidate[0] in ("rectified", "ats_rectified", "bend") or candidate == AtS:
            cells = "  ".join(
                f"{name.upper()} {table[(candidate, name)][0]:.1f} / {table[(candidate, name)][1]:.1f}"
                for name in DATASETS
            )
            print(f"  in-sample {candidate}: {cells}")
    def by_mean(candidate, train):
        return tuple(np.mean([table[(candidate, name)][i] for name in train]) for i in (0, 1))

    def by_goal(candidate, train):
        gains = [np.subtract(table[(candidate, name)], table[(AtS, name)]) for name in train]
        if any(gain[1] < -1e-9 for gain in gains):
            return (-np.inf, -np.inf)
        return (min(gain[0] for gain in gains), by_mean(candidate, train)[0])

    families = {
        "every candidate": candidates,
        "backtested bend only (its settings tuned)": [candidate for candidate in candidates if candidate[0] == "bend"],
    }
    for (family, members), (rule, key) in itertools.product(
        families.items(), (("mean PearCorr", by_mean), ("the goal", by_goal))
    ):
        print(f"{family}, chosen by {rule} on the other two:")
        for held in DATASETS:
            train = [name for name in DATASETS if name != held]
            chosen = max(members, key=lambda candidate: key(candidate, train))
            mine, ats = table[(chosen, held)], table[(AtS, held)]
            print(
                f"  held out {held.upper():8s}: {chosen}: PearCorr {mine[0]:.2f} RelAcc {mine[1]:.2f} "
                f"(AtS {ats[0]:.2f} / {ats[1]:.2f})"
            )
    bends = families["backtested bend only (its settings tuned)"]
    chosen = max(bends, key=lambda candidate: by_goal(candidate, DATASETS))
    cells = "  ".join(
        f"{name.upper()} {table[(chosen, name)][0]:.2f} / {table[(chosen, name)][1]:.2f}" for name in DATASETS
    )
    print(f"backtested bend settings chosen by the goal on all three (backtested_bend's defaults): {chosen}: {cells}")


if __name__ == "__main__":
    main()
