"""Benchmark: Table 1 of arXiv 2402.02314 (model selection) from the paper's own data.

Thirty models fine-tuned on halving subsets (200 … 1,638,400 examples) of
FLAN, WMT19 and Gigaword. For each data budget (1/8 … 1/512 of 1,638,400),
every method ranks the models from what that budget allows; PearCorr is the
Pearson correlation of the method's score with each model's loss on the full
1,638,400 examples, RelAcc = (worst − chosen) / (worst − best) on that loss.
Methods: AtS (`scaling.selection.accept_then_stop` with its defaults),
ZeroShot (loss at size 0), SubTuning (loss at the budget), ModelSize.

With `--rmsd`, also fits `scaling.laws.fit_rectified` to each model's 14
fine-tuned points (the zero-shot point left out, as the paper's Figure 4 does)
and compares the RMSD of log loss with the paper's per-model figures.

The CSVs carry no licence and are not part of this repository. Get
`benchmark/flan.csv`, `benchmark/wmt19.csv`, `benchmark/gigaword.csv` (and,
for --rmsd, `results/rmsd.csv`) from https://github.com/linhaowei1/Fine-tuning-Scaling-Law
and pass the folder holding the three CSVs (rmsd.csv is looked for beside
them and in ../results/).

Run: .venv/bin/python benchmarks/bench_ats_table1.py PATH/TO/benchmark [--rmsd]
"""

import argparse
import csv
import sys
import time
from pathlib import Path

import numpy as np
from scipy.stats import pearsonr

# Run as a script from anywhere: the project root holds the `scaling` package.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scaling.laws import fit_rectified  # noqa: E402
from scaling.selection import accept_then_stop  # noqa: E402

DATASETS = ("flan", "wmt19", "gigaword")
SIZES = [0] + [200 * 2**i for i in range(14)]
TARGET = 1_638_400
BUDGETS = [204_800, 102_400, 51_200, 25_600, 12_800, 6_400, 3_200]
METHODS = ("AtS", "ZeroShot", "SubTuning", "ModelSize")
METRICS = ("PearCorr", "RelAcc")

# The paper's Table 1 (results/tab1.txt of its repository): per dataset, method
# and metric, the cells for budgets 1/8 … 1/512.
PAPER = {
    ("FLAN", "AtS", "PearCorr"): [90.9, 73.1, 65.5, 61.1, 52.2, 50.5, 45.6],
    ("FLAN", "ZeroShot", "PearCorr"): [-10.7] * 7,
    ("FLAN", "SubTuning", "PearCorr"): [60.9, 46.5, 36.4, 29.0, 24.6, 20.9, 16.4],
    ("FLAN", "ModelSize", "PearCorr"): [-20.9] * 7,
    ("FLAN", "AtS", "RelAcc"): [93.6, 93.2, 93.2, 93.2, 85.3, 93.2, 93.2],
    ("FLAN", "ZeroShot", "RelAcc"): [85.3] * 7,
    ("FLAN", "SubTuning", "RelAcc"): [93.2, 93.2, 93.2, 93.2, 59.6, 59.6, 59.6],
    ("FLAN", "ModelSize", "RelAcc"): [59.6] * 7,
    ("WMT19", "AtS", "PearCorr"): [98.9, 97.0, 97.7, 86.0, 78.0, 73.4, 61.5],
    ("WMT19", "ZeroShot", "PearCorr"): [7.1] * 7,
    ("WMT19", "SubTuning", "PearCorr"): [93.5, 87.1, 77.7, 64.5, 51.7, 41.6, 34.5],
    ("WMT19", "ModelSize", "PearCorr"): [36.0] * 7,
    ("WMT19", "AtS", "RelAcc"): [99.1, 99.1, 99.6, 99.1, 99.1, 99.1, 99.1],
    ("WMT19", "ZeroShot", "RelAcc"): [84.4] * 7,
    ("WMT19", "SubTuning", "RelAcc"): [99.1] * 7,
    ("WMT19", "ModelSize", "RelAcc"): [22.5] * 7,
    ("GIGAWORD", "AtS", "PearCorr"): [98.9, 97.6, 96.9, 92.0, 91.1, 89.1, 91.0],
    ("GIGAWORD", "ZeroShot", "PearCorr"): [-49.2] * 7,
    ("GIGAWORD", "SubTuning", "PearCorr"): [93.2, 89.3, 85.4, 80.9, 76.2, 69.9, 64.8],
    ("GIGAWORD", "ModelSize", "PearCorr"): [-24.4] * 7,
    ("GIGAWORD", "AtS", "RelAcc"): [100.0, 91.4, 94.3, 100.0, 94.3, 94.3, 91.4],
    ("GIGAWORD", "ZeroShot", "RelAcc"): [71.3] * 7,
    ("GIGAWORD", "SubTuning", "RelAcc"): [87.6, 87.6, 87.6, 71.3, 71.3, 71.3, 71.3],
    ("GIGAWORD", "ModelSize", "RelAcc"): [71.3] * 7,
}
TOLERANCE = 0.1


def load(folder: Path, name: str) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Model names, losses (models × SIZES) and parameter counts of one dataset."""
    path = folder / f"{name}.csv"
    if not path.exists():
        raise SystemExit(f"{path}: not found (see this script's help for where to get it)")
    with path.open(newline="") as handle:
        rows = list(csv.reader(handle))
    header = rows[0]
    columns = [header.index(str(size)) for size in SIZES]
    size_column = header.index("size")
    models = [row[0] for row in rows[1:]]
    losses = np.array([[float(row[i]) for i in columns] for row in rows[1:]])
    params = np.array([float(row[size_column]) for row in rows[1:]])
    return models, losses, params


def scores(losses: np.ndarray, params: np.ndarray, budget: int) -> dict[str, np.ndarray]:
    """Each method's score per model (lower loss is better; ModelSize ranks by size)."""
    subset = [i for i, size in enumerate(SIZES) if 0 < size <= budget]
    ats = np.array(
        [float(accept_then_stop(dict(zip(np.array(SIZES)[subset], row[subset])), TARGET)) for row in losses]
    )
    return {
        "AtS": ats,
        "ZeroShot": losses[:, 0],
        "SubTuning": losses[:, SIZES.index(budget)],
        # Larger is better here, so the feature is log size and the pick is the largest.
        "ModelSize": np.log(params),
    }


def cell(score: np.ndarray, truth: np.ndarray, method: str) -> tuple[float, float]:
    """PearCorr and RelAcc in percent, as the paper rounds them (float32, 4 decimals)."""
    score32, truth32 = score.astype(np.float32), truth.astype(np.float32)
    pear = round(float(pearsonr(score32, truth32)[0]), 4)
    chosen = int(np.argmax(score)) if method == "ModelSize" else int(np.argmin(score32))
    worst, best = truth32.max(), truth32.min()
    relacc = round(float((worst - truth32[chosen]) / (worst - best)), 4)
    return pear * 100, relacc * 100


def table(folder: Path) -> int:
    started = time.perf_counter()
    ours: dict[tuple[str, str, str], list[float]] = {}
    for name in DATASETS:
        _, losses, params = load(folder, name)
        truth = losses[:, SIZES.index(TARGET)]
        for budget in BUDGETS:
            by_method = scores(losses, params, budget)
            for method in METHODS:
                pear, relacc = cell(by_method[method], truth, method)
                ours.setdefault((name.upper(), method, "PearCorr"), []).append(pear)
                ours.setdefault((name.upper(), method, "RelAcc"), []).append(relacc)
    seconds = time.perf_counter() - started

    worst_gap, off = 0.0, 0
    for dataset in (name.upper() for name in DATASETS):
        print(f"\n{dataset}   (ours / paper, budget 1/8 … 1/512)")
        for metric in METRICS:
            for method in METHODS:
                pairs = zip(ours[(dataset, method, metric)], PAPER[(dataset, method, metric)])
                cells = []
                for mine, theirs in pairs:
                    gap = abs(round(mine, 1) - theirs)
                    worst_gap = max(worst_gap, gap)
                    off += gap > TOLERANCE + 1e-9
                    cells.append(f"{mine:6.1f}/{theirs:<6.1f}" + ("*" if gap > TOLERANCE + 1e-9 else " "))
                print(f"  {metric:8s} {method:9s} " + " ".join(cells))
        for metric in METRICS:
            mean = np.mean(ours[(dataset, "AtS", metric)])
            paper = np.mean(PAPER[(dataset, "AtS", metric)])
            print(f"  AtS mean {metric}: ours {mean:.1f}, paper {paper:.1f}")
    total = len(DATASETS) * len(METHODS) * len(METRICS) * len(BUDGETS)
    print(
        f"\n{total - off} of {total} cells within {TOLERANCE} of the paper "
        f"(largest gap {worst_gap:.1f}); {seconds:.2f} s"
    )
    return 0 if off == 0 else 1


def rmsd(folder: Path) -> None:
    candidates = [folder / "rmsd.csv", folder.parent / "results" / "rmsd.csv"]
    published = next((path for path in candidates if path.exists()), None)
    paper: dict[tuple[str, str], float] = {}
    if published is not None:
        with published.open(newline="") as handle:
            for row in csv.DictReader(handle):
                paper[(row["dataset"], row["model"])] = float(row["our_rmsd_under_log"])
    print("\nRectified law, RMSD of log loss over the 14 fine-tuned points (zero-shot left out)")
    for name in DATASETS:
        models, losses, _ = load(folder, name)
        started = time.perf_counter()
        mine = []
        for row in losses:
            fit = fit_rectified(SIZES[1:], row[1:])
            predicted = np.asarray(fit.predict(np.array(SIZES[1:], dtype=float)))
            mine.append(float(np.sqrt(np.mean((np.log(predicted) - np.log(row[1:])) ** 2))))
        seconds = time.perf_counter() - started
        line = f"  {name.upper():8s} mean {np.mean(mine):.4f}"
        theirs = [paper.get((name.upper(), model)) for model in models]
        if all(value is not None for value in theirs):
            ratios = np.array(mine) / np.array(theirs)
            line += (
                f", paper {np.mean(theirs):.4f} (ours/paper {np.mean(mine) / np.mean(theirs):.2f}×; "
                f"per model median {np.median(ratios):.2f}×, worst {ratios.max():.2f}×)"
            )
        print(line + f"; {seconds:.1f} s for {len(models)} fits")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("benchmark_dir", type=Path, help="folder holding flan.csv, wmt19.csv, gigaword.csv")
    parser.add_argument("--rmsd", action="store_true", help="also compare the rectified fit's RMSD")
    args = parser.parse_args()
    status = table(args.benchmark_dir)
    if args.rmsd:
        rmsd(args.benchmark_dir)
    return status


if __name__ == "__main__":
    sys.exit(main())
