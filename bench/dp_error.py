"""Expected error of the differentially private mode, for docs/privacy.md.

`python -m bench.dp_error` prints a Markdown table: for the default per-answer ε (0.5,
noise scale CONTRIBUTION/ε = 4) and two others, the expected absolute error and standard
deviation of one noisy count (closed form for the discrete Laplace distribution
P(x) ∝ q^|x|, q = exp(-1/scale): E|X| = 2q/(1-q²), sd = √(2q)/(1-q)), the same measured
from 20 000 draws of OpenDP's mechanism, and what that is relative to a site's monthly
visitors (1k/10k/100k) as a total and as one day of a 30-day time:day series.
"""

from __future__ import annotations

import math
import statistics

import opendp.prelude as dp

from dashboards.noise import DpPolicy

DRAWS = 20_000
EPSILONS = (0.5, 0.1, 1.0)  # 0.5 is the default dp_query_epsilon


def expected_abs(scale: float) -> float:
    q = math.exp(-1 / scale)
    return 2 * q / (1 - q * q)


def standard_deviation(scale: float) -> float:
    q = math.exp(-1 / scale)
    return math.sqrt(2 * q) / (1 - q)


def measured_abs(epsilon: float) -> float:
    """Mean |noise| over DRAWS draws of the mechanism dashboards.noise builds (OpenDP)."""
    measure = dp.m.make_laplace(dp.vector_domain(dp.atom_domain(T=int)),
                                dp.l1_distance(T=int), scale=DpPolicy(epsilon).scale)
    noisy = measure([1000] * DRAWS)  # one vector: DRAWS independent draws
    return statistics.fmean(abs(n - 1000) for n in noisy)


def table() -> str:
    lines = ["| ε per answer | noise scale | E\\|error\\| (formula) | measured | sd | "
             "total 1k / 10k / 100k | one day of 1k / 10k / 100k a month |",
             "|---|---|---|---|---|---|---|"]
    for epsilon in EPSILONS:
        scale = DpPolicy(query_epsilon=epsilon).scale
        error = expected_abs(scale)
        totals = " / ".join(f"{error / n:.3%}" for n in (1_000, 10_000, 100_000))
        days = " / ".join(f"{error / (n / 30):.1%}" for n in (1_000, 10_000, 100_000))
        lines.append(f"| {epsilon:g} | {scale:g} | {error:.2f} | {measured_abs(epsilon):.2f} | "
                     f"{standard_deviation(scale):.2f} | {totals} | {days} |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(table())
