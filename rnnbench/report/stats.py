"""Statistics over seeds: the numbers behind "± spread", intervals and claim verdicts.

    mean_ci(x)        mean and the 95% Student-t interval  x̄ ± t_{0.975, n−1} · s/√n  (n ≥ 2)
    welch(a, b)       Welch's t-test for a difference of means without assuming equal variances:
                      t = (ā − b̄) / √(s_a²/n_a + s_b²/n_b), Welch–Satterthwaite degrees of freedom,
                      two-sided p, and the 95% interval of ā − b̄ (scipy.stats.t; what
                      scipy.stats.ttest_ind(equal_var=False) computes, tested against it)
    hedges_g(a, b)    the standardised difference g = J · (ā − b̄)/s_pooled, J = 1 − 3/(4(n_a+n_b) − 9),
                      with its 95% interval g ± 1.96 √((n_a+n_b)/(n_a n_b) + g²/(2(n_a+n_b)))
                      (Hedges & Olkin 1985): how big a difference is, beside whether it is real
    detectable(...)   the smallest difference Welch's test finds with 80% power at α = 0.05 with
                      these n and spreads (noncentral t): what an "inconclusive" could have missed
    noninferiority_p  one-sided p of "a − b is on the claimed side of ∓margin" (Welch's t, shifted)
    beats(x, ref)     one-sided one-sample t-test p of "the mean of x is better than ref" (a
                      model against its task's trivial baseline, scored on the same test data)
    holm(ps)          Holm–Bonferroni step-down adjusted p-values: the claims of one report are one
                      family; a verdict is read from its adjusted p
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
    """a vs b: means, their difference with its 95% interval, Welch's t (standard error, degrees of
    freedom) and two-sided p, Hedges' g with its interval, the smallest detectable difference."""

    n_a: int
    n_b: int
    mean_a: float
    mean_b: float
    diff: float
    low: float
    high: float
    t: float
    p: float
    se: float = math.nan
    df: float = math.nan
    g: float = math.nan
    g_low: float = math.nan
    g_high: float = math.nan
    detectable: float = math.nan

    def describe(self, unit: str = "") -> str:
        if math.isnan(self.p):
            too_few = f"(n={self.n_a}, {self.n_b}: too few for a test)"
            return f"{short(self.mean_a)}{unit} vs {short(self.mean_b)}{unit} {too_few}"
        if self.low == self.high:  # no spread on either side (see welch)
            difference = f"difference {short(self.diff)}" if self.diff else "no difference"
            return (
                f"{short(self.mean_a)}{unit} vs {short(self.mean_b)}{unit}, {difference}, "
                f"the same in every run of each side: no spread, so no interval is needed "
                f"(n={self.n_a}, {self.n_b})"
            )
        return (
            f"{short(self.mean_a)}{unit} vs {short(self.mean_b)}{unit}, difference {short(self.diff)} "
            f"[95% CI {short(self.low)}, {short(self.high)}], Welch t={self.t:.2f}, p={self.p:.3g} "
            f"(n={self.n_a}, {self.n_b})"
        )


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
    df = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1))  # Welch–Satterthwaite
    t = diff / se
    half = float(stats.t.ppf(1 - ALPHA / 2, df) * se)
    return Comparison(
        len(a),
        len(b),
        mean_a,
        mean_b,
        diff,
        diff - half,
        diff + half,
        t,
        float(2 * stats.t.sf(abs(t), df)),
        se,
        df,
        *hedges_g(a, b),
        detectable(se, df),
    )


def hedges_g(a, b) -> tuple[float, float, float]:
    """(g, low, high); nan when neither side varies (the difference is then exact, not a size)."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    n_a, n_b = len(a), len(b)
    if n_a < 2 or n_b < 2:
        return math.nan, math.nan, math.nan
    pooled = math.sqrt(((n_a - 1) * a.var(ddof=1) + (n_b - 1) * b.var(ddof=1)) / (n_a + n_b - 2))
    if pooled == 0:
        return math.nan, math.nan, math.nan
    g = (1 - 3 / (4 * (n_a + n_b) - 9)) * (a.mean() - b.mean()) / pooled
    half = 1.959964 * math.sqrt((n_a + n_b) / (n_a * n_b) + g * g / (2 * (n_a + n_b)))
    return float(g), float(g - half), float(g + half)


def detectable(se: float, df: float, power: float = 0.8) -> float:
    """The difference δ at which Welch's two-sided test at ALPHA rejects with probability `power`,
    for this standard error and these degrees of freedom: P(|T′| > t_crit) = power with
    T′ ~ noncentral t(df, δ/se)."""
    if not (se > 0 and df > 0):
        return math.nan
    from scipy import optimize, stats

    critical = stats.t.ppf(1 - ALPHA / 2, df)

    def shortfall(delta: float) -> float:
        shift = delta / se
        wrong_tail = np.nan_to_num(stats.nct.cdf(-critical, df, shift))  # negligible; scipy gives nan far out
        return stats.nct.sf(critical, df, shift) + wrong_tail - power

    high = se
    while shortfall(high) < 0:
        high *= 2
    return float(optimize.brentq(shortfall, 0.0, high))


def noninferiority_p(comparison: Comparison, expect: str, margin: float) -> float:
    """One-sided p of H0 "a − b is beyond the margin on the wrong side": for '<=' (a at most b +
    margin) H0 is a − b ≥ margin; for '>=' it is a − b ≤ −margin. No spread: 0 or 1."""
    c = comparison
    if math.isnan(c.p):
        return math.nan
    shifted = c.diff - margin if expect == "<=" else c.diff + margin
    if not c.se > 0:
        right = shifted < 0 if expect == "<=" else shifted > 0
        return 0.0 if right else 1.0
    from scipy import stats

    t = shifted / c.se
    return float(stats.t.cdf(t, c.df) if expect == "<=" else stats.t.sf(t, c.df))


def beats(values, reference: float, better: str) -> float:
    """One-sided p that the mean of `values` is better ('<': lower, '>': higher) than the fixed
    `reference`; nan below 2 values. No spread: 0 if every value is better, else 1."""
    x = np.asarray([v for v in values if v is not None and not math.isnan(v)], dtype=float)
    if len(x) < 2 or reference is None or math.isnan(reference):
        return math.nan
    sign = 1.0 if better == ">" else -1.0
    sd = x.std(ddof=1)
    if sd == 0:
        return 0.0 if sign * (x.mean() - reference) > 0 else 1.0
    from scipy import stats

    return float(stats.t.sf(sign * (x.mean() - reference) / (sd / math.sqrt(len(x))), len(x) - 1))


def holm(p_values) -> list[float]:
    """Holm–Bonferroni adjusted p-values, in the input order (nan: no test, left out of the family):
    sorted p_(1) ≤ … ≤ p_(m), adjusted p_(i) = max_{j ≤ i} min(1, (m − j + 1) p_(j))."""
    ps = [float(p) for p in p_values]
    tested = sorted((p, i) for i, p in enumerate(ps) if not math.isnan(p))
    adjusted, running = list(ps), 0.0
    m = len(tested)
    for rank, (p, i) in enumerate(tested):
        running = max(running, min(1.0, (m - rank) * p))
        adjusted[i] = running
    return adjusted


def claim_p(comparison: Comparison, expect: str, margin: float = 0.0) -> float:
    """The p of the test that decides a claim: Welch's two-sided p for '>' / '<', the
    non-inferiority p for '>=' / '<='."""
    return comparison.p if expect in (">", "<") else noninferiority_p(comparison, expect, margin)


def verdict(comparison: Comparison, expect: str, margin: float = 0.0, p: float | None = None) -> str:
    """Does the data support the claim about a − b? `p` is the claim's p after adjustment for the
    family of claims (holm); default: its own `claim_p`.

    expect '>' or '<' (a larger / smaller than b): holds when the difference is significant at 5%
    in that direction, does not hold when it is significant the other way, else inconclusive.
    expect '>=' or '<=' (a at least as large / at most as large as b, within `margin`, a
    non-inferiority claim): holds when the non-inferiority test is significant; does not hold when
    the whole 95% interval of a − b lies beyond the margin on the wrong side (inferior by more
    than the margin); else inconclusive. Fewer than 2 values on a side: inconclusive.
    """
    if math.isnan(comparison.p):
        return "inconclusive"
    p = claim_p(comparison, expect, margin) if p is None else p
    larger = expect.startswith(">")
    if expect in (">", "<"):
        significant = p < ALPHA
        wrong_way = significant and (comparison.diff < 0 if larger else comparison.diff > 0)
        return "does not hold" if wrong_way else "holds" if significant else "inconclusive"
    if p < ALPHA:
        return "holds"
    inferior = comparison.high < -margin if larger else comparison.low > margin
    return "does not hold" if inferior else "inconclusive"


def short(value: float) -> str:
    """A number for evidence text: 4 significant digits, e-notation below 1e-3 and from 1e6."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return f"{value:.3e}" if value != 0 and (abs(value) < 1e-3 or abs(value) >= 1e6) else f"{value:.4g}"
