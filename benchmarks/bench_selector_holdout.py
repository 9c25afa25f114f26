"""Benchmark: selector candidates against AtS, tuned on two of the paper's datasets, scored on the third.

Candidates (each predicts every model's loss at 1,638,400 examples from the
halving subsets a budget allows, as `bench_ats_table1.py` scores AtS):
AtS with other k, δ, a floor under the residual spread and keeping the
smallest subset; the line through the last m subsets; and a blend (geometric
mean, weight w on AtS) of AtS with that line. For each held-out dataset, the
candidate with the best mean PearCorr (then RelAcc) over the other two
datasets' 14 budget cells is scored on the held-out dataset's 7 cells.

Needs the paper's CSVs (see bench_ats_table1.py for where to get them).
Run: .venv/bin/python benchmarks/bench_selector_holdout.py PATH/TO/benchmark
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_ats_table1 import BUDGETS, DATASETS, SIZES, TARGET, cell, load  # noqa: E402

from scaling.selection import accept_then_stop  # noqa: E402

AtS = ("ats", 3, 5.0, 0.0, False)


def last_line(sizes: np.ndarray, losses: np.ndarray, points: int) -> float:
    slope, intercept = np.polyfit(np.log(sizes[-points:]), np.log(losses[-points:]), 1)
    return float(np.exp(intercept + slope * np.log(TARGET)))


def predict(candidate: tuple, sizes: np.ndarray, losses: np.ndarray) -> float:
    kind = candidate[0]
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


def score(candidate: tuple, losses: np.ndarray) -> tuple[float, float]:
    truth = losses[:, SIZES.index(TARGET)]
    pears, relaccs = [], []
    for budget in BUDGETS:
        columns = [i for i, size in enumerate(SIZES) if 0 < size <= budget]
        sizes = np.array(SIZES, dtype=float)[columns]
        predicted = np.array([predict(candidate, sizes, row[columns]) for row in losses])
        pear, relacc = cell(predicted, truth, candidate[0])
        pears.append(pear)
        relaccs.append(relacc)
    return float(np.mean(pears)), float(np.mean(relaccs))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("benchmark_dir", type=Path)
    folder = parser.parse_args().benchmark_dir
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
    candidates = list(dict.fromkeys(candidates))
    started = time.perf_counter()
    table = {(candidate, name): score(candidate, losses[name]) for candidate in candidates for name in DATASETS}
    print(f"{len(candidates)} candidates scored in {time.perf_counter() - started:.0f} s")
    for held in DATASETS:
        train = [name for name in DATASETS if name != held]
        chosen = max(
            candidates,
            key=lambda c: (np.mean([table[(c, n)][0] for n in train]), np.mean([table[(c, n)][1] for n in train])),
        )
        mine, ats = table[(chosen, held)], table[(AtS, held)]
        print(
            f"held out {held.upper():8s}: chosen {chosen}: PearCorr {mine[0]:.1f} RelAcc {mine[1]:.1f} "
            f"(AtS {ats[0]:.1f} / {ats[1]:.1f})"
        )


if __name__ == "__main__":
    main()
