"""Benchmark: the scaling maths for one ladder run, target <= 1 s in total.

Fits the three laws (rectified on 10 halving subsets plus zero-shot,
multiplicative on a 6 × 6 model-by-data grid, power on 6 rungs) and computes
the bootstrap verdict (1,000 resamples × 6 rungs × 1,000 items), on synthetic
data. Pure numpy/scipy: needs no database.

Run: .venv/bin/python benchmarks/bench_scaling.py
"""

import sys
import time
from pathlib import Path

import numpy as np

# Run as a script from anywhere: the project root holds the `scaling` package.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scaling.diagnostics import diagnose_rungs  # noqa: E402
from scaling.laws import fit_multiplicative, fit_power, fit_rectified  # noqa: E402
from scaling.verdict import monotonicity  # noqa: E402

TARGET_SECONDS = 1.0
REPEATS = 5
SIZES = [0.5e9, 1.8e9, 4e9, 7e9, 14e9, 32e9]


def synthetic_inputs():
    rng = np.random.default_rng(0)

    def noise(n):
        return np.exp(rng.normal(0.0, 0.005, n))

    subsets = np.array([0.0] + [200.0 * 2**i for i in range(10)])
    rectified = (subsets, (200.0 / (30.0 + subsets**0.6) + 0.8) * noise(len(subsets)))
    x, d = (grid.ravel() for grid in np.meshgrid(SIZES, [250, 500, 1000, 2000, 4000, 8000.0]))
    multiplicative = (x, d, (3000.0 * x**-0.3 * d**-0.25 + 0.6) * noise(len(x)))
    power = (np.array(SIZES), (50.0 * np.array(SIZES) ** -0.25 + 0.1) * noise(len(SIZES)))
    labels = (rng.random(1000) < 0.4).astype(int)
    difficulty = rng.random(1000)
    predictions = [
        np.where(difficulty + rng.normal(0.0, 0.05, 1000) < accuracy, labels, 1 - labels)
        for accuracy in (0.60, 0.70, 0.58, 0.78, 0.83, 0.88)
    ]
    return rectified, multiplicative, power, labels, predictions


def timed(function, *args, **kwargs):
    started = time.perf_counter()
    result = function(*args, **kwargs)
    return result, time.perf_counter() - started


def main() -> None:
    rectified, multiplicative, power, labels, predictions = synthetic_inputs()
    fit_power(*power)  # first call pays for lazy imports inside scipy
    rows = []
    for _ in range(REPEATS):
        seconds = {}
        _, seconds["fit_rectified"] = timed(fit_rectified, *rectified)
        _, seconds["fit_multiplicative"] = timed(fit_multiplicative, *multiplicative)
        _, seconds["fit_power"] = timed(fit_power, *power)
        verdict, seconds["monotonicity"] = timed(
            monotonicity, SIZES, labels, predictions, n_boot=1000
        )
        _, seconds["diagnose_rungs"] = timed(diagnose_rungs, verdict, learning_rates=2e-4)
        rows.append(seconds)
    median = {name: float(np.median([row[name] for row in rows])) for name in rows[0]}
    for name, value in median.items():
        print(f"{name}: {value * 1000:.1f} ms (median of {REPEATS})")
    total = sum(value for name, value in median.items() if name != "diagnose_rungs")
    status = "ok" if total <= TARGET_SECONDS else "OVER TARGET"
    print(
        f"scaling fits + verdict (3 laws, 1,000 resamples x 6 rungs x 1,000 items): "
        f"{total:.3f} s vs target <= {TARGET_SECONDS:.1f} s [{status}]"
    )
    print(
        f"verdict: {verdict.verdict}, breaks: "
        f"{[(found.smaller_name, found.larger_name) for found in verdict.breaks]}"
    )


if __name__ == "__main__":
    main()
