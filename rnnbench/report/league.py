"""The league table: every setting's models ranked by its task's primary test metric, and the
models ranked across settings (Demšar 2006).

Within a setting (claims.settings: one dataset, runs alike but for the model and their seeds) each
model — a model name, with the switches of its own that vary there, e.g. `lstm (bidirectional=True)`
— is ranked by its mean over seeds and compared with the best one by stats.compare (Welch's t, or
the exact permutation test where values tie; none below 3 seeds a side). These comparisons are one
Holm family of their own: they are exploratory (which model leads here?), not the claims a report
was made to decide, and pooling them with the claims would make every claim pay for each extra
model in the league.

Across settings (at least 2 settings holding the same 3 or more models): the models are ranked
within each setting by their means, and the average ranks compared — Friedman's test, then the
Nemenyi critical difference (any two models further apart than CD differ) and each model against
the best-ranked (z-test on average ranks, Holm), drawn as a critical-difference diagram. Settings
are the blocks: settings of one task at two lengths are not independent data sets, so read the
p-values as a description of this grid, not of a population of tasks. A setting where no model
beats the task's trivial baseline is not ranked: the order of models that all failed is noise.
"""

from __future__ import annotations

import math

import pandas as pd

from rnnbench.report import stats
from rnnbench.report.claims import primary_direction, settings
from rnnbench.report.collect import BUDGET_KEYS, HPARAM, as_typed, config_values, incidental

COLUMNS = [
    "setting",
    "rank",
    "model",
    "n",
    "mean",
    "std",
    "baseline",
    "beats baseline",
    "difference vs best",
    "test",
    "p",
    "p (Holm)",
    "verdict",
]
BEST, TIED, WORSE, TOO_FEW = "best", "not shown worse", "worse", "too few seeds"
MIN_MODELS, MIN_SETTINGS = 3, 2  # for the ranking across settings


def league(done: pd.DataFrame) -> pd.DataFrame:
    """One row per (setting, model) of the completed runs, best first within each setting."""
    rows = []
    for setting, frame, _ in settings(done):
        found = primary_direction(frame)
        if found is None:
            continue
        metric, better = found
        if f"final.{metric}" not in frame:  # tuning trials: never scored on test
            continue
        scores = _scores(frame, metric)
        if len(scores) < 2:
            continue
        means = {name: values.mean() for name, values in scores.items()}
        order = sorted(means, key=lambda m: means[m] if better == "<" else -means[m])
        best = order[0]
        baseline = frame[f"baseline.{metric}"].astype(float).mean() if f"baseline.{metric}" in frame else math.nan
        for rank, name in enumerate(order, start=1):
            values = scores[name]
            row = {
                "setting": setting,
                "rank": rank,
                "model": name,
                "n": len(values),
                "mean": means[name],
                "std": values.std(ddof=1) if len(values) > 1 else math.nan,
                "baseline": baseline,
                "beats baseline": stats.beats(list(values), baseline, better),
                "metric": metric,
                "score": means[name] if better == "<" else -means[name],  # lower is better
            }
            if name != best:
                comparison = stats.compare(list(values), list(scores[best]))
                row.update({"difference vs best": comparison.diff, "test": comparison.test, "p": comparison.p})
            rows.append(row)
    table = pd.DataFrame(rows, columns=[*COLUMNS, "metric", "score"])
    if len(table):
        table["p (Holm)"] = stats.holm(table["p"].astype(float))
        table["verdict"] = [_verdict(r) for r in table.to_dict("records")]
    return table


def _scores(frame: pd.DataFrame, metric: str) -> dict[str, pd.Series]:
    """Model (with its own switches that vary in this setting) → its runs' final test metric."""
    own = [
        c
        for c in frame.columns
        if c.startswith(HPARAM + "model.")
        and not incidental(c[len(HPARAM) :])
        and c[len(HPARAM) :] not in ("model.hidden_size", *BUDGET_KEYS)
    ]
    scores: dict[str, pd.Series] = {}
    for model, runs in frame.groupby("model", sort=True):
        values = runs[own].apply(config_values) if own else runs[[]]
        varied = [c for c in own if values[c].nunique() > 1]
        groups = runs.groupby([values[c] for c in varied], dropna=False, sort=True) if varied else [((), runs)]
        for combo, members in groups:
            combo = combo if isinstance(combo, tuple) else (combo,)
            switches = ", ".join(f"{c.split('.')[-1]}={as_typed(v)}" for c, v in zip(varied, combo))
            values = members[f"final.{metric}"].astype(float).dropna()
            if len(values):
                scores[f"{model} ({switches})" if switches else str(model)] = values
    return scores


def _verdict(row: dict) -> str:
    if row["rank"] == 1:
        return BEST
    if math.isnan(row["p"]):
        return TOO_FEW
    return WORSE if row["p (Holm)"] < stats.ALPHA else TIED


def across_settings(table: pd.DataFrame) -> tuple[stats.Ranking, list[str], list[str], list[str]] | None:
    """The Friedman ranking of the models over the settings that hold them all: the largest set of
    settings sharing at least MIN_MODELS models (ties: more models), of the settings where some
    model beats the task's trivial baseline; (ranking, settings, models left out, settings where
    none learned) or None where no MIN_SETTINGS settings share MIN_MODELS models."""
    learned = table.groupby("setting", sort=False)["beats baseline"].agg(
        lambda p: p.isna().all() or (p < stats.ALPHA).any()
    )  # where no model beats the trivial baseline, the ranks are noise
    held = {s: frozenset(g["model"]) for s, g in table.groupby("setting", sort=False) if learned[s]}
    if not held:
        return None
    shared_sets = {*held.values(), frozenset.intersection(*held.values())}  # each setting's, all settings'
    shared_sets |= {held[a] & held[b] for a in held for b in held if a < b}  # two settings' common models
    candidates = [
        (len(chosen), len(shared), chosen, sorted(shared))
        for shared in shared_sets
        if len(shared) >= MIN_MODELS
        for chosen in [[s for s, models in held.items() if shared <= models]]
        if len(chosen) >= MIN_SETTINGS
    ]
    if not candidates:
        return None
    _, _, chosen, shared = max(candidates, key=lambda c: (c[0], c[1], c[3]))
    rows = table[table["setting"].isin(chosen) & table["model"].isin(shared)]
    scores = rows.pivot(index="setting", columns="model", values="score").loc[chosen, shared]
    left_out = sorted(set(table["model"]) - set(shared))
    return stats.friedman(scores), chosen, left_out, [s for s, ok in learned.items() if not ok]


def display_league(table: pd.DataFrame) -> pd.DataFrame:
    """The league as shown: numbers at 4 significant digits, p-values short."""

    def p_text(value) -> str:
        return "" if value is None or math.isnan(value) else f"{value:.2g}"

    shown = pd.DataFrame(
        {
            "setting": table["setting"],
            "rank": table["rank"].astype(int).astype(str),
            "model": table["model"],
            "metric": table["metric"],
            "n": table["n"].astype(int).astype(str),
            "mean ± std": [
                f"{stats.short(m)} ± {stats.short(s)}" if not math.isnan(s) else stats.short(m)
                for m, s in zip(table["mean"], table["std"])
            ],
        }
    )
    shown["baseline"] = [stats.short(b) if not math.isnan(b) else "" for b in table["baseline"]]
    shown["beats baseline (p)"] = [
        "" if math.isnan(p) else ("yes" if p < stats.ALPHA else "no") + f" ({p:.2g})" for p in table["beats baseline"]
    ]
    shown["vs best: difference, test"] = [
        "" if r["rank"] == 1 else f"{stats.short(r['difference vs best'])}, {r['test']}"
        for r in table.to_dict("records")
    ]
    shown["p (Holm)"] = [p_text(p) for p in table["p (Holm)"]]
    shown["verdict"] = table["verdict"]
    return shown


def display_ranking(ranking: stats.Ranking) -> pd.DataFrame:
    """Average ranks, best first, with each model against the best-ranked."""
    best = next(iter(ranking.ranks.values()))
    return pd.DataFrame(
        {
            "model": list(ranking.ranks),
            "average rank": [f"{r:.2f}" for r in ranking.ranks.values()],
            "vs best-ranked: p (Holm)": [
                "" if m not in ranking.p_vs_best else f"{ranking.p_vs_best[m]:.2g}" for m in ranking.ranks
            ],
            "within CD of the best": ["yes" if r - best <= ranking.cd else "no: worse" for r in ranking.ranks.values()],
        }
    )


def describe_ranking(ranking: stats.Ranking) -> str:
    """A heading: how many models over how many settings, Friedman's test, the critical difference."""
    k = len(ranking.ranks)
    return (
        f"{k} models over {ranking.n} settings: Friedman χ²={ranking.chi2:.2f} (df {k - 1}), p={ranking.p:.2g}; "
        f"Nemenyi critical difference {ranking.cd:.2f} ranks"
    )


def ranking_details(ranking: stats.Ranking, chosen: list[str], left_out: list[str], unlearned: list[str]):
    """What the ranking across settings covers and its tests, one row each."""
    k = len(ranking.ranks)
    iman = (
        f"F={ranking.f:.2f} ({k - 1}, {(k - 1) * (ranking.n - 1)} df), p={ranking.p_f:.2g}"
        if math.isfinite(ranking.f)
        else "undefined: every setting ranks the models alike (χ² at its maximum)"
    )
    rows = {
        "settings ranked (blocks)": "; ".join(chosen),
        "models left out (not in all of these settings)": ", ".join(left_out) or "none",
        "settings not ranked (no model beats the baseline)": "; ".join(unlearned) or "none",
        "Friedman (Demšar 2006)": f"χ²={ranking.chi2:.2f} ({k - 1} df), p={ranking.p:.2g}",
        "Iman–Davenport": iman,
        "Nemenyi critical difference at 5%": f"{ranking.cd:.2f} ranks",
    }
    return pd.DataFrame({"what": list(rows), "value": list(rows.values())})
