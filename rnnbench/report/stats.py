"""Statistics over seeds: the numbers behind "± spread", intervals and claim verdicts.

    mean_ci(x, metric)  mean and the 95% Student-t interval  x̄ ± t_{0.975, n−1} · s/√n  (n ≥ 2),
                      cut to the metric's range (METRIC_RANGES)
    compare(a, b)     the two-sample test that fits the data (below), with its name
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
    permutation_p     the exact permutation test of a difference of means: every relabelling of
                      the pooled values (or RESAMPLES random ones past EXACT_LIMIT), p counted
                      with the observed labelling among them, so never 0
    equivalence_p     two one-sided tests (TOST) of |a − b| < margin: p = max of the two
    friedman(table)   models ranked within each setting (block), then compared by their average
                      ranks across settings (Demšar 2006): Friedman's χ²_F (scipy), the Iman–
                      Davenport F_F, the Nemenyi critical difference CD = q_α √(k(k+1)/(6N)) and
                      each model against the best-ranked, z = (R_i − R_1)/√(k(k+1)/(6N)), Holm
    logrank(...)      time-to-event data with censoring (steps to a target a run may never
                      reach): the log-rank statistic, its p from the permutation distribution
                      (exact for the few seeds of a CPU study; scipy.stats.logrank is the
                      asymptotic one), Kaplan–Meier medians

Which test (`compare`): fewer than MIN_SEEDS values on a side get none ("too few seeds"); values
that tie (discrete measures: steps at the evaluation interval, counts) or a side without spread
get the exact permutation test — a t-test there would divide by a spread of zero or of float
round-off and return p ≈ 0 from three runs; otherwise Welch's t. Ties and spread are read at 12
significant digits, so a sum's round-off is not spread. Every claim names the test it used.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

ALPHA = 0.05
MIN_SEEDS = 3  # per side, for a claim to be decided
EXACT_LIMIT = 200_000  # relabellings enumerated for an exact permutation test; past it, RESAMPLES random ones
RESAMPLES = 20_000
DIGITS = 12  # significant digits at which values are compared for ties and spread


# The values each task metric can take (rnnbench/data): a mean's interval is cut to them, so an
# accuracy's never passes 1 nor an error's 0 (three seeds at 1.0 and two at 0.5 give a t-interval
# of [0.47, 1.14]; it says [0.47, 1]). A metric not named here is not cut.
METRIC_RANGES = {
    **dict.fromkeys(("acc", "recall_acc", "exact_match", "seq_acc", "step_acc", "dir_acc"), (0.0, 1.0)),
    **dict.fromkeys(("mse", "mae", "mape", "mase", "ce", "cer", "bpc", "ppl"), (0.0, math.inf)),
    "ssim": (-1.0, 1.0),
    "skill": (-math.inf, 1.0),
}


def mean_ci(values, metric: str | None = None) -> tuple[float, float, float]:
    """(mean, low, high) of the 95% t-interval, cut to the range of `metric` where it has one
    (METRIC_RANGES); low = high = nan below 2 values."""
    x = np.asarray([v for v in values if v is not None and not math.isnan(v)], dtype=float)
    if len(x) == 0:
        return math.nan, math.nan, math.nan
    mean = float(x.mean())
    if len(x) < 2:
        return mean, math.nan, math.nan
    from scipy import stats

    half = float(stats.t.ppf(1 - ALPHA / 2, len(x) - 1) * x.std(ddof=1) / math.sqrt(len(x)))
    lowest, highest = METRIC_RANGES.get(metric, (-math.inf, math.inf))
    return mean, max(mean - half, lowest), min(mean + half, highest)


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
    test: str = "Welch t"  # the test its p comes from (`compare`)
    a: tuple = ()  # the values compared, for the one-sided and equivalence tests
    b: tuple = ()

    def describe(self, unit: str = "") -> str:
        means = f"{short(self.mean_a)}{unit} vs {short(self.mean_b)}{unit}"
        if math.isnan(self.p):
            return f"{means} (n={self.n_a}, {self.n_b}: too few seeds for a test, at least {MIN_SEEDS} a side)"
        if math.isnan(self.low):  # no spread on either side: an interval of width 0 would say nothing
            difference = f"difference {short(self.diff)}" if self.diff else "no difference"
            return (
                f"{means}, {difference}, the same in every run of each side (no spread); "
                f"{self.test} p={self.p:.3g} (n={self.n_a}, {self.n_b})"
            )
        statistic = f"Welch t={self.t:.2f}" if self.test == "Welch t" else self.test
        return (
            f"{means}, difference {short(self.diff)} [95% CI {short(self.low)}, {short(self.high)}], "
            f"{statistic}, p={self.p:.3g} (n={self.n_a}, {self.n_b})"
        )


def _values(values) -> np.ndarray:
    """The finite values, read at DIGITS significant digits."""
    return np.asarray([float(f"{v:.{DIGITS}g}") for v in values if v is not None and not math.isnan(v)], dtype=float)


def compare(a, b) -> Comparison:
    """a vs b with the test that fits the data (module docstring): none below MIN_SEEDS a side;
    the exact permutation test under ties or without spread (Welch's interval kept where there is
    spread); else Welch's t."""
    a, b = _values(a), _values(b)
    found = welch(a, b)
    found.a, found.b = tuple(a), tuple(b)
    if min(len(a), len(b)) < MIN_SEEDS:
        found.p, found.test = math.nan, "none"
        return found
    pooled = np.concatenate([a, b])
    if len(np.unique(pooled)) == len(pooled) and np.ptp(a) > 0 and np.ptp(b) > 0:
        return found
    found.p, found.test = permutation_p(a, b), _permutation_name(len(a), len(b))
    return found


def _permutation_name(n_a: int, n_b: int) -> str:
    exact = math.comb(n_a + n_b, n_a) <= EXACT_LIMIT
    return "exact permutation test" if exact else f"permutation test ({RESAMPLES:,} relabellings)"


def permutation_p(a, b, alternative: str = "two-sided") -> float:
    """p of the difference of means under relabelling of the pooled values (scipy's
    permutation_test; ties within its relative tolerance count as at least as extreme).
    alternative 'less' / 'greater': a's mean below / above b's."""
    from scipy import stats

    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    exact = math.comb(len(a) + len(b), len(a)) <= EXACT_LIMIT
    result = stats.permutation_test(
        (a, b),
        lambda x, y, axis: np.mean(x, axis=axis) - np.mean(y, axis=axis),
        vectorized=True,
        n_resamples=np.inf if exact else RESAMPLES,
        alternative=alternative,
        rng=0,
    )
    return float(result.pvalue)


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
    if se <= 1e-12 * max(abs(mean_a), abs(mean_b), 1e-300):  # no spread, or only round-off: no t, no interval
        return Comparison(len(a), len(b), mean_a, mean_b, diff, math.nan, math.nan, math.nan, math.nan)
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
    margin) H0 is a − b ≥ margin; for '>=' it is a − b ≤ −margin. With the comparison's test:
    Welch's t shifted by the margin, or the permutation test of a against b shifted by it."""
    c = comparison
    if math.isnan(c.p):
        return math.nan
    shifted = c.diff - margin if expect == "<=" else c.diff + margin
    if c.test != "Welch t":
        moved = np.asarray(c.b) + (margin if expect == "<=" else -margin)
        return permutation_p(c.a, moved, "less" if expect == "<=" else "greater")
    from scipy import stats

    t = shifted / c.se
    return float(stats.t.cdf(t, c.df) if expect == "<=" else stats.t.sf(t, c.df))


def equivalence_p(comparison: Comparison, margin: float) -> float:
    """Two one-sided tests (TOST) of H0 "|a − b| ≥ margin": the larger of the two one-sided p's;
    below ALPHA, a and b are equivalent within ±margin."""
    return max(noninferiority_p(comparison, "<=", margin), noninferiority_p(comparison, ">=", margin))


def beats(values, reference: float, better: str) -> float:
    """One-sided p that the mean of `values` is better ('<': lower, '>': higher) than the fixed
    `reference` (one-sample t-test); nan below 2 values. No spread: the exact sign test (3 values
    all better: p = 1/8)."""
    x = np.asarray([v for v in values if v is not None and not math.isnan(v)], dtype=float)
    if len(x) < 2 or reference is None or math.isnan(reference):
        return math.nan
    sign = 1.0 if better == ">" else -1.0
    from scipy import stats

    if np.ptp(_values(x)) == 0:  # no spread: the exact sign test (a t-test would divide by zero)
        return float(stats.binomtest(int(sum(sign * (x - reference) > 0)), len(x), 0.5, "greater").pvalue)

    return float(stats.t.sf(sign * (x.mean() - reference) / (x.std(ddof=1) / math.sqrt(len(x))), len(x) - 1))


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
    if math.isnan(comparison.low):  # no interval (no spread): the one-sided test of inferiority beyond the margin
        inferior = noninferiority_p(comparison, "<=" if larger else ">=", -margin) < ALPHA
    else:
        inferior = comparison.high < -margin if larger else comparison.low > margin
    return "does not hold" if inferior else "inconclusive"


def short(value: float) -> str:
    """A number for evidence text: 4 significant digits, e-notation below 1e-3 and from 1e6."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return f"{value:.3e}" if value != 0 and (abs(value) < 1e-3 or abs(value) >= 1e6) else f"{value:.4g}"


@dataclass
class Survival:
    """Time to an event that some runs never reach (steps to the task's target): per side the
    runs, how many reached it, the Kaplan–Meier median; the log-rank statistic Z of side a
    (positive: a reaches it sooner than expected under no difference) and its permutation p."""

    n_a: int
    n_b: int
    reached_a: int
    reached_b: int
    median_a: float  # nan: not reached by half of the runs
    median_b: float
    budget_a: float  # the longest run of the side (a run that missed is censored there)
    budget_b: float
    z: float = math.nan
    p: float = math.nan
    test: str = "none"

    def describe(self, unit: str = " steps", names: tuple[str, str] = ("a", "b")) -> str:
        def median(m: float, budget: float) -> str:
            return f"{short(m)}{unit}" if not math.isnan(m) else f"not reached by half (> {short(budget)}{unit})"

        sides = (
            f"Kaplan–Meier median {names[0]} {median(self.median_a, self.budget_a)}, "
            f"{names[1]} {median(self.median_b, self.budget_b)}; reached it in {self.reached_a}/{self.n_a} vs "
            f"{self.reached_b}/{self.n_b} runs"
        )
        if math.isnan(self.p):
            return f"{sides} (too few seeds for a test, at least {MIN_SEEDS} a side)"
        return f"{sides}; log-rank Z={self.z:.2f}, {self.test} p={self.p:.3g}"


def logrank(a_steps, a_reached, b_steps, b_reached) -> Survival:
    """Log-rank comparison of two sides' times to an event; a run that did not reach it is
    right-censored at its last step. Z is scipy.stats.logrank's statistic (sign: a's events beyond
    those expected); p is two-sided, from the distribution of Z over relabellings of the runs
    (every one up to EXACT_LIMIT, else RESAMPLES): exact at any n and under tied times, where the
    normal approximation scipy uses is not."""
    times = np.asarray([*a_steps, *b_steps], dtype=float)
    events = np.asarray([*a_reached, *b_reached], dtype=bool)
    n_a, n_b = len(a_steps), len(b_steps)
    found = Survival(
        n_a,
        n_b,
        int(events[:n_a].sum()),
        int(events[n_a:].sum()),
        _km_median(times[:n_a], events[:n_a]),
        _km_median(times[n_a:], events[n_a:]),
        float(times[:n_a].max()) if n_a else math.nan,
        float(times[n_a:].max()) if n_b else math.nan,
    )
    if min(n_a, n_b) < MIN_SEEDS or not events.any():
        return found
    labels = _relabellings(n_a, n_b)
    z = _logrank_z(times, events, labels)
    found.z, found.test = float(z[0]), _permutation_name(n_a, n_b).replace(" test", "")
    found.p = float(np.mean(np.abs(z) >= abs(z[0]) * (1 - 1e-12)))  # the observed labelling is among them
    return found


def _relabellings(n_a: int, n_b: int) -> np.ndarray:
    """(R, n_a + n_b) booleans, True for side a: the observed labelling first, then every other
    one (or RESAMPLES random ones)."""
    n = n_a + n_b
    observed = np.arange(n) < n_a
    if math.comb(n, n_a) <= EXACT_LIMIT:
        from itertools import combinations

        rows = np.zeros((math.comb(n, n_a), n), dtype=bool)
        for i, chosen in enumerate(combinations(range(n), n_a)):
            rows[i, list(chosen)] = True
        rows = rows[~(rows == observed).all(axis=1)]
    else:
        rng = np.random.default_rng(0)
        rows = np.argsort(rng.random((RESAMPLES, n)), axis=1) < n_a
    return np.vstack([observed, rows])


def _logrank_z(times: np.ndarray, events: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Z of side a for each labelling (rows of `labels`): Σ_j (O_aj − E_aj) / √Σ_j V_aj over the
    distinct event times t_j, with N_j at risk (time ≥ t_j) and O_j events at t_j;
    E_aj = O_j N_aj / N_j, V_aj = E_aj (N_j − O_j)/N_j · (N_j − N_aj)/(N_j − 1)."""
    moments = np.unique(times[events])
    at_risk = (times[None, :] >= moments[:, None]).astype(float)  # (J, n)
    happened = ((times[None, :] == moments[:, None]) & events[None, :]).astype(float)
    n_j, o_j = at_risk.sum(1), happened.sum(1)
    side = labels.astype(float)
    n_aj, o_aj = side @ at_risk.T, side @ happened.T  # (R, J)
    e_aj = o_j * n_aj / n_j
    with np.errstate(invalid="ignore", divide="ignore"):
        v_aj = np.where(n_j > 1, e_aj * (n_j - o_j) / n_j * (n_j - n_aj) / np.maximum(n_j - 1, 1), 0.0)
        return (o_aj - e_aj).sum(1) / np.sqrt(v_aj.sum(1))


def _km_median(times: np.ndarray, events: np.ndarray) -> float:
    """The Kaplan–Meier median time (scipy.stats.ecdf on censored data): the first time at which
    at most half have not reached the event; nan if that never happens."""
    if not len(times) or not events.any():
        return math.nan
    from scipy import stats

    data = stats.CensoredData(uncensored=times[events], right=times[~events])
    sf = stats.ecdf(data).sf
    below = np.nonzero(sf.probabilities <= 0.5)[0]
    return float(sf.quantiles[below[0]]) if len(below) else math.nan


@dataclass
class Ranking:
    """The Friedman test of k models over N settings (blocks) and its post-hoc tests."""

    ranks: dict[str, float]  # average rank of each model (1 = best), best first
    n: int  # settings (blocks)
    chi2: float  # Friedman's χ²_F from the average ranks, k − 1 degrees of freedom
    p: float
    f: float  # Iman–Davenport F_F = (N−1)χ²_F / (N(k−1) − χ²_F), (k−1, (k−1)(N−1)) degrees of freedom;
    p_f: float  # inf and nan when every setting ranks the models alike
    cd: float  # Nemenyi critical difference of average ranks at ALPHA
    p_vs_best: dict[str, float]  # each model against the best-ranked: two-sided z-test p, Holm-adjusted


def friedman(table) -> Ranking:
    """Models (columns) over settings (rows) of a score where lower is better (negate a score
    where higher is): ranks within each row, averaged (ties share the mean rank). Needs k ≥ 3
    models and N ≥ 2 settings with every model in every setting.

    χ²_F = 12N/(k(k+1)) · (Σ_j R_j² − k(k+1)²/4), as Demšar (2006) computes it: without the
    correction for ties that scipy.stats.friedmanchisquare applies (equal where no setting has a
    tie; smaller, so more cautious, where one has)."""
    from scipy import stats

    values = np.asarray(table, dtype=float)
    n, k = values.shape
    ranks = stats.rankdata(values, axis=1).mean(axis=0)
    chi2 = 12 * n / (k * (k + 1)) * (float(np.sum(ranks**2)) - k * (k + 1) ** 2 / 4)
    p = float(stats.chi2.sf(chi2, k - 1))
    agreement = n * (k - 1) - chi2  # 0 when every setting ranks the models alike: F is undefined
    f = (n - 1) * chi2 / agreement if agreement > 1e-9 else math.inf
    p_f = float(stats.f.sf(f, k - 1, (k - 1) * (n - 1))) if math.isfinite(f) else math.nan
    se = math.sqrt(k * (k + 1) / (6 * n))
    names = list(getattr(table, "columns", range(k)))
    order = np.argsort(ranks, kind="stable")
    best = ranks[order[0]]
    raw = [float(2 * stats.norm.sf(abs(ranks[i] - best) / se)) for i in order[1:]]
    return Ranking(
        ranks={str(names[i]): float(ranks[i]) for i in order},
        n=n,
        chi2=float(chi2),
        p=float(p),
        f=float(f),
        p_f=p_f,
        cd=nemenyi_cd(k, n),
        p_vs_best=dict(zip((str(names[i]) for i in order[1:]), holm(raw))),
    )


def nemenyi_cd(k: int, n: int, alpha: float = ALPHA) -> float:
    """Two average ranks of k models over n settings differ (Nemenyi, all pairs) when they are
    further apart than q_α √(k(k+1)/(6n)); q_α = the studentized range quantile / √2 (Demšar 2006,
    Table 5a: k = 4 → 2.569)."""
    from scipy import stats

    q = stats.studentized_range.ppf(1 - alpha, k, np.inf) / math.sqrt(2)
    return float(q * math.sqrt(k * (k + 1) / (6 * n)))
