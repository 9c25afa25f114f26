"""Benchmark: the planning answers for a 5-rung × 5-subset learning-curve grid, target <= 1 s in total.

Five rectified fits with 200 bootstrap refits each, the rung rankings at the
full train size and at twice it, the joint law over the grid with its 200
refits, and the 20 options within a budget; on synthetic losses from a known
multiplicative law with 0.5 % noise. Pure numpy: needs no database.

Run: .venv/bin/python benchmarks/bench_planning.py
"""

import sys
import time
from pathlib import Path

import numpy as np

# Run as a script from anywhere: the project root holds the `scaling` package.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scaling import planning  # noqa: E402

TARGET_SECONDS = 1.0
REPEATS = 5
FULL = 1600
SUBSETS = np.array([FULL / 16, FULL / 8, FULL / 4, FULL / 2, FULL])
LADDER = np.array([0.5e9, 1.5e9, 3e9, 7e9, 14e9])
LAW = {"A": 27.0, "alpha": 0.15, "beta": 0.3, "E": 0.25}


def answer(losses: np.ndarray) -> planning.OptionsPlan:
    forecasts = {f"r{at}": planning.forecast_curve(SUBSETS, losses[at]) for at in range(len(LADDER))}
    for target in (FULL, 2 * FULL):
        planning.rank_rungs(forecasts, target)
    for forecast in forecasts.values():
        forecast.labels_for(0.3)
    joint = planning.joint_fit(np.repeat(LADDER, len(SUBSETS)), np.tile(SUBSETS, len(LADDER)), losses.ravel())
    costs = [planning.RungCost(f"r{at}", size, 1e-3 * (size / 1e9) ** 0.5, 2.0) for at, size in enumerate(LADDER)]
    return planning.plan_options(joint, costs, current_size=FULL, budget_seconds=60.0)


def main() -> int:
    rng = np.random.default_rng(0)
    exact = planning.multiplicative_loss(LAW, LADDER[:, None], SUBSETS[None, :])
    losses = exact * np.exp(rng.normal(0.0, 0.005, exact.shape))
    answer(losses)  # warm-up: imports and first-call allocations
    seconds = []
    for _ in range(REPEATS):
        started = time.perf_counter()
        plan = answer(losses)
        seconds.append(time.perf_counter() - started)
    median = float(np.median(seconds))
    print(f"planning, 5 rungs × 5 subsets: median {median:.3f} s of {REPEATS} "
          f"(min {min(seconds):.3f}, max {max(seconds):.3f}); best option {plan.best.name} × {plan.best.multiple}")
    print(f"target <= {TARGET_SECONDS} s: {'met' if median <= TARGET_SECONDS else 'MISSED'}")
    return 0 if median <= TARGET_SECONDS else 1


if __name__ == "__main__":
    sys.exit(main())
