"""Statistics over seeds: the numbers behind "± spread", intervals and claim verdicts.

    mean_ci(x)        mean and the 95% Student-t interval  x̄ ± t_{0.975, n−1} · s/√n  (n ≥ 2)
    welch(a, b)       Welch's t-test for a difference of means without assuming equal variances:
                      t = (ā − b̄) / √(s_a²/n_a + s_b²/n_b), Welch–Satterthwaite degrees of freedom,
                      two-sided p, and the 95% interval of ā − b̄ (scipy.stats.t; what
                      scipy.stats.ttest_ind(equal_var=False) computes, tested against it)
    verdict(...)      "holds" / "does not hold" / "inconclusive" from such a test

With the few seeds a CPU budget allows (3–5), the t-interval is wide; an honest verdict says
"inconclusive" rather than reading a ranking into noise. Runs with n < 2 per side get no test.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

ALPHA = 0.05


def mean_ci(values) -> tuple[float, float, float]:
    """(mean, low, high) of the 95% t-interval; low = high = nan below 2 values."""
    x = np.asarray([v for v in values if v is not None and not math.isnan(v)], dtype=float)
    if len(x) == 0:
        return math.nan, math.nan, math.nan
    mean = float(x.mean())
    if len(x) < 2:
        return mean, math.nan, math.nan
    from scipy import stats

    half = float(stats.t.ppf(1 - ALPHA / 2, len(x) - 1) * x.std(ddof=1) / math.sqrt(len(x)))
    return mean, mean - half, mean + half


@dataclass
class Comparison:
    """a vs b: means, their difference with its 95% interval, Welch's t and two-sided p."""

    n_a: int
    n_b: int
    mean_a: float
    mean_b: float
    diff: float
    low: float
    high: float
    t: float
    p: float

    def describe(self, unit: str = "") -> str:
        if math.isnan(self.p):
            return f"{short(self.mean_a)}{unit} vs {short(self.mean_b)}{unit} (n={self.n_a}, {self.n_b}: too few for a test)"
        if self.low == self.high:  # no spread on either side (see welch)
            difference = f"difference {short(self.diff)}" if self.diff else "no difference"
            return (f"{short(self.mean_a)}{unit} vs {short(self.mean_b)}{unit}, {difference}, "
                    f"the same in every run of each side: no spread, so no interval is needed "
                    f"(n={self.n_a}, {self.n_b})")
        return (f"{short(self.mean_a)}{unit} vs {short(self.mean_b)}{unit}, difference {short(self.diff)} "
                f"[95% CI {short(self.low)}, {short(self.high)}], Welch t={self.t:.2f}, p={self.p:.3g} "
                f"(n={self.n_a}, {self.n_b})")


def welch(a, b) -> Comparison:
    a = np.asarray([v for v in a if v is not None and not math.isnan(v)], dtype=float)
    b = np.asarray([v for v in b if v is not None and not math.isnan(v)], dtype=float)
    mean_a = float(a.mean()) if len(a) else math.nan
    mean_b = float(b.mean()) if len(b) else math.nan
    diff = mean_a - mean_b
    if len(a) < 2 or len(b) < 2:
        return Comparison(len(a), len(b), mean_a, mean_b, diff, math.nan, math.nan, math.nan, math.nan)
    from scipy import stats

    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    se = math.sqrt(va + vb)
    if se == 0:  # identical values on both sides (parameter counts, deterministic figures)
        p = 1.0 if diff == 0 else 0.0
        t = 0.0 if diff == 0 else math.copysign(math.inf, diff)
        return Comparison(len(a), len(b), mean_a, mean_b, diff, diff, diff, t, p)
    df = (va + vb) ** 2 / (va ** 2 / (len(a) - 1) + vb ** 2 / (len(b) - 1))  # Welch–Satterthwaite
    t = diff / se
    half = float(stats.t.ppf(1 - ALPHA / 2, df) * se)
    return Comparison(len(a), len(b), mean_a, mean_b, diff, diff - half, diff + half,
                      t, float(2 * stats.t.sf(abs(t), df)))


def verdict(comparison: Comparison, expect: str, margin: float = 0.0) -> str:
    """Does the data support the claim about a − b?

    expect '>' or '<' (a larger / smaller than b): holds when the difference is significant at 5%
    (Welch) in that direction, does not hold when it is significant the other way, else
    inconclusive.
    expect '>=' or '<=' (a at least as large / at most as large as b, within `margin`, a
    non-inferiority claim): holds when the whole 95% interval of a − b lies on the claimed side of
    −margin / +margin, does not hold when the difference is significant the wrong way, else
    inconclusive. Fewer than 2 values on a side: inconclusive.
    """
    if math.isnan(comparison.p):
        return "inconclusive"
    larger = expect.startswith(">")
    wrong_way = comparison.p < ALPHA and (comparison.diff < 0 if larger else comparison.diff > 0)
    if expect in (">", "<"):
        right_way = comparison.p < ALPHA and not wrong_way
    else:
        right_way = comparison.low >= -margin if larger else comparison.high <= margin
    if right_way:
        return "holds"
    return "does not hold" if wrong_way else "inconclusive"


def short(value: float) -> str:
    """A number for evidence text: 4 significant digits, e-notation below 1e-3 and from 1e6."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return f"{value:.3e}" if value != 0 and (abs(value) < 1e-3 or abs(value) >= 1e6) else f"{value:.4g}"
