"""The folk claims about recurrent cells, each judged from the runs that bear on it.

A claim compares two groups of completed runs made in the same setting — same dataset, same
values of every dataset, trainer and optimizer key and of the model's hidden_size (seeds and the
keys that do not change what a run computes, config.INCIDENTAL_KEYS, aside) —
differing only in the model (or one model switch, such as bidirectional). Where a report holds
no such pair, the claim is not listed: verdicts are never written in advance.

    claim                                          measure                         test
    LSTM has more parameters than GRU              params (exact)                  count comparison
    ConvGRU is lighter than ConvLSTM               params (exact)                  count comparison
    GRU trains faster than LSTM (per token)        train tokens/s                  Welch, GRU > LSTM
    ConvGRU is faster than ConvLSTM                train frames/s                  Welch, ConvGRU >
    GRU reaches the target in fewer steps          steps to the task's target      Welch, GRU < LSTM
                                                   (a run that never reached it counts its whole
                                                   budget: a lower bound, said in the evidence)
    LSTM handles longer dependencies               test metric at the longest T    Welch, LSTM better
                                                   of a T sweep, vs RNN and vs GRU
    plain RNN gradients vanish                     gradient reach: steps t < T     Welch, RNN < LSTM, GRU
                                                   with ‖∂L/∂h_t‖ ≥ 10⁻³‖∂L/∂h_T‖
                                                   after training (diagnostics.grad_per_time_step)
    LSTM counts beyond its training range          largest n with every a^n b^n    Welch, LSTM > RNN, GRU
    (Weiss et al. 2018)                            (… c^n) up to it right
                                                   (analysis.max_n_generalised)
    the hybrid is at least as good as the better   test metric                     non-inferiority: the 95%
    of its parents (LSTM, GRU)                                                     interval of hybrid − parent
                                                                                   within 10% of the parent
    Bi-LSTM / attention help                       test metric: bidirectional=true Welch, better
                                                   vs false, readout=attention vs
                                                   the default, seq2seq attention
                                                   vs none

Verdicts (stats.verdict): holds, does not hold, inconclusive, and neither learned.
- The claims of one report are one family: their p-values are adjusted together (Holm–Bonferroni,
  stats.holm) and each verdict is read from its adjusted p at 5%. Exact claims (parameter counts)
  need no test and are not in the family.
- A claim about skill (a task metric, or steps to the target) is decided only where at least one
  side beats the task's trivial baseline, significantly (one-sided t-test against the baseline
  scored on the same test data, stats.beats) — or reached the target at least once. Where neither
  does, the verdict is "neither learned": two failures can differ "significantly" and say nothing
  about the cells. Such rows are not in the family either.
- Beside each difference: Hedges' g with its 95% interval (how big), and, when a verdict is
  inconclusive, the smallest difference the test could have detected with 80% power at these n
  and spreads (stats.detectable): "underpowered" is then a number, not a guess.
The evidence column gives the means, the difference with its 95% interval, t and p. A claim whose
measure one side did not record (gradients without diagnostics.grad_per_time_step) is not listed.

Width. Runs sized by `model.param_budget` are compared at equal budget (their hidden sizes
differ by design); the parameter-count claims are judged only at equal hidden_size, where they
mean something. Keys a study tuned per model (`tuned`, e.g. trainer.lr: each model at its own
best value) do not split settings.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field

import pandas as pd

from rnnbench.config import SEED_KEYS, incidental
from rnnbench.report.collect import ANALYSIS, HPARAM, as_typed, config_values
from rnnbench.report.stats import ALPHA, Comparison, beats, claim_p, holm, short, verdict, welch

SHARED_MODEL_KEYS = ("model.hidden_size", "model.param_budget")
BUDGET, WIDTH, TUNED = HPARAM + "model.param_budget", HPARAM + "model.hidden_size", HPARAM + "tuned"
MARGIN = 0.10  # non-inferiority margin, as a fraction of the better parent's mean
NEITHER = "neither learned"
# claims.csv; the report's tables show DISPLAY.
COLUMNS = [
    "claim",
    "setting",
    "verdict",
    "p",
    "p_adjusted",
    "effect_size",
    "effect_low",
    "effect_high",
    "detectable",
    "n_a",
    "n_b",
    "evidence",
]
DISPLAY = ["claim", "setting", "verdict", "p (Holm)", "Hedges' g [95% CI]", "evidence"]


@dataclass
class Judgement:
    """One claim in one setting before the family's adjustment: its comparison and how to read it,
    or a verdict fixed without a test (exact counts; neither side learned)."""

    claim: str
    setting: str
    evidence: str
    comparison: Comparison | None = None
    expect: str = ">"
    margin: float = 0.0
    fixed: str | None = None
    notes: list[str] = field(default_factory=list)  # said after the numbers

    @property
    def p(self) -> float:
        return math.nan if self.fixed or self.comparison is None else claim_p(self.comparison, self.expect, self.margin)


def judge_claims(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per (claim, setting) the runs can judge (COLUMNS), verdicts read from p-values
    adjusted over all of them."""
    if runs.empty or "status" not in runs:
        return pd.DataFrame(columns=COLUMNS)
    done = runs[(runs["status"] == "completed") & runs["tested"].fillna(False).astype(bool)]  # tuning trials aside
    return decide(_judgements(done))


def decide(judgements: list[Judgement]) -> pd.DataFrame:
    """Holm over the family of tested claims, then each verdict and its evidence."""
    ps = [j.p for j in judgements]
    rows = []
    for j, p, q in zip(judgements, ps, holm(ps)):
        c = j.comparison
        found = j.fixed or verdict(c, j.expect, j.margin, q)
        sized = c is not None and not j.fixed  # an effect size for a tested difference only
        g = (c.g, c.g_low, c.g_high) if sized else (math.nan,) * 3
        evidence = j.evidence
        if not math.isnan(g[0]):
            evidence += f"; Hedges' g {g[0]:.2f} [{g[1]:.2f}, {g[2]:.2f}]"
        if found == "inconclusive" and c is not None and not math.isnan(c.detectable):
            evidence += (
                f"; underpowered: with n={c.n_a}, {c.n_b} this test detects a difference of "
                f"{short(c.detectable)} or more (80% power)"
            )
        evidence += "".join(j.notes)
        rows.append(
            {
                "claim": j.claim,
                "setting": j.setting,
                "verdict": found,
                "p": p,
                "p_adjusted": q,
                "effect_size": g[0],
                "effect_low": g[1],
                "effect_high": g[2],
                "detectable": c.detectable if c else math.nan,
                "n_a": c.n_a if c else None,
                "n_b": c.n_b if c else None,
                "evidence": evidence,
            }
        )
    return pd.DataFrame(rows, columns=COLUMNS)


def display_claims(claims: pd.DataFrame) -> pd.DataFrame:
    """The claims as the report's tables show them: p (adjusted) and g as text."""

    def p_text(row) -> str:
        return "—" if math.isnan(row.p) else f"{row.p:.2g} ({row.p_adjusted:.2g})"

    def g_text(row) -> str:
        return (
            "—"
            if math.isnan(row.effect_size)
            else f"{row.effect_size:.2f} [{row.effect_low:.2f}, {row.effect_high:.2f}]"
        )

    shown = claims.assign(
        **{
            "p (Holm)": [p_text(r) for r in claims.itertuples()],
            "Hedges' g [95% CI]": [g_text(r) for r in claims.itertuples()],
        }
    )
    return shown[DISPLAY]


def _single_runs(frame: pd.DataFrame) -> pd.DataFrame:
    """The runs whose speed was their own: a batched member's tokens/s is its share of steps it
    took with K − 1 others (rnnbench/training/members.py), so speed claims leave members out."""
    return frame[frame["members"].isna()] if "members" in frame else frame


def _judgements(done: pd.DataFrame) -> list[Judgement]:
    rows: list[Judgement] = []
    for setting, frame, _ in _settings(done):
        direction = _direction(frame)
        if BUDGET not in frame or frame[BUDGET].isna().all():  # counts compared at equal width only
            rows += _more_params(setting, frame, "lstm", "gru", "LSTM has more parameters than GRU")
            rows += _more_params(setting, frame, "convlstm", "convgru", "ConvGRU is lighter than ConvLSTM")
        timed = _single_runs(frame)
        rows += _compare(
            setting,
            timed,
            "GRU trains faster than LSTM (tokens/s)",
            ("gru", {}),
            ("lstm", {}),
            "tokens_per_s",
            ">",
            unit=" tok/s",
        )
        rows += _compare(
            setting,
            timed,
            "ConvGRU is faster than ConvLSTM (frames/s)",
            ("convgru", {}),
            ("convlstm", {}),
            "tokens_per_s",
            ">",
            unit=" frames/s",
        )
        rows += _steps_to_target(setting, frame)
        rows += _versus(
            setting,
            frame,
            "plain RNN gradients vanish (gradient reach, RNN < {other})",
            "rnn",
            ("lstm", "gru"),
            "grad_reach",
            "<",
            unit=" steps",
        )
        rows += _versus(
            setting,
            frame,
            "LSTM counts beyond its training range better than {other} (largest n generalised to)",
            "lstm",
            ("rnn", "gru"),
            ANALYSIS + "max_n_generalised",
            ">",
        )
        if direction:
            metric, better = direction
            rows += _hybrids(setting, frame, metric, better)
            last, one_way = {"model.readout": ("auto", "last")}, {"model.bidirectional": False}
            for name, a, b in (
                ("Bi-LSTM beats LSTM", ("lstm", {"model.bidirectional": True, **last}), ("lstm", {**one_way, **last})),
                (
                    "attention readout beats the last step",
                    ("lstm", {"model.readout": "attention", **one_way}),
                    ("lstm", {**last, **one_way}),
                ),
                (
                    "attention helps the encoder-decoder",
                    ("seq2seq", {"model.attention": ("bahdanau", "luong")}),
                    ("seq2seq", {"model.attention": "none"}),
                ),
            ):
                rows += _compare(setting, frame, f"{name} ({metric})", a, b, f"final.{metric}", better)
    rows += _longer_dependencies(done)
    return rows


def _settings(done: pd.DataFrame, ignore: tuple[str, ...] = ()) -> Iterator[tuple[str, pd.DataFrame, list[str]]]:
    """(label, runs, varied keys) for each setting: runs of one dataset alike in every key that
    is not the model's own (a key some runs lack does not split them), nor tuned per model, nor the
    width of runs sized by a parameter budget, nor one of `ignore` (columns)."""
    for dataset, frame in done.groupby("dataset", sort=True):
        tuned = {HPARAM + k for keys in frame.get(TUNED, pd.Series(dtype=object)).dropna() for k in keys} & set(frame)
        tuned |= {
            c for c in frame.columns if any(frame[c].equals(frame[t]) for t in tuned)
        }  # optimizer.lr ≡ trainer.lr
        keys = [
            c
            for c in frame.columns
            if c.startswith(HPARAM)
            and _setting_key(c[len(HPARAM) :])
            and c not in tuned
            and c != TUNED
            and c not in ignore
        ]
        values = frame[keys].apply(config_values) if keys else frame[[]]
        if BUDGET in values and WIDTH in values:  # sized by the budget: their widths differ by design
            values[WIDTH] = values[WIDTH].astype(object).where(values[BUDGET] == "none", "by budget")
        varied = [k for k in keys if values[k].nunique() > 1]
        if not varied:
            yield str(dataset), frame, []
            continue
        for combo, members in frame.groupby([values[k] for k in varied], dropna=False, sort=True):
            combo = combo if isinstance(combo, tuple) else (combo,)
            label = ", ".join(f"{k.split('.')[-1]}={as_typed(v)}" for k, v in zip(varied, combo) if v != "by budget")
            yield f"{dataset} ({label})", members, varied


def _setting_key(key: str) -> bool:
    """Whether two runs must agree on this config key to be compared: not a seed, not incidental,
    and of the model's own keys only those every model shares."""
    if key in SEED_KEYS or incidental(key):
        return False
    return not key.startswith("model.") or key in SHARED_MODEL_KEYS


def _select(frame: pd.DataFrame, model: str, switches: dict) -> pd.DataFrame:
    chosen = frame[frame["model"] == model]
    for key, wanted in switches.items():
        column = HPARAM + key
        if column not in chosen:
            return chosen.iloc[0:0]
        allowed = wanted if isinstance(wanted, tuple) else (wanted,)
        chosen = chosen[chosen[column].isin(allowed)]
    return chosen


def _compare(setting, frame, claim, a, b, column, expect, unit="", margin=0.0) -> list[Judgement]:
    """a vs b on `column`; not listed unless both sides recorded it. On a task metric (final.*)
    the claim is about skill: decided only if a side beats the task's trivial baseline."""
    runs_a, runs_b = _select(frame, *a), _select(frame, *b)
    if column not in frame or runs_a[column].isna().all() or runs_b[column].isna().all():
        return []
    comparison = welch(runs_a[column].astype(float), runs_b[column].astype(float))
    judgement = Judgement(
        claim, setting, f"{_name(a)} vs {_name(b)}: {comparison.describe(unit)}", comparison, expect, margin
    )
    if column.startswith("final."):
        _gate_on_baseline(
            judgement, frame, column.removeprefix("final."), expect[0], {_name(a): runs_a, _name(b): runs_b}
        )
    return [judgement]


def _gate_on_baseline(judgement: Judgement, frame, metric, better, sides: dict[str, pd.DataFrame]) -> None:
    """Which side beats the task's trivial baseline (one-sided t-test at 5% against the baseline
    on the same test data); if neither does, the verdict is NEITHER."""
    column = f"baseline.{metric}"
    if column not in frame or frame[column].isna().all():
        return
    base = float(frame[column].astype(float).mean())
    ps = {name: beats(runs[f"final.{metric}"].astype(float), base, better) for name, runs in sides.items()}
    beaten = [name for name, p in ps.items() if p < ALPHA]
    who = "both" if len(beaten) == len(sides) else f"{beaten[0]} only" if beaten else "neither"
    name = frame["baseline_name"].dropna()
    label = f"the baseline ({name.iloc[0]})" if len(name) else "the baseline"
    tests = ", ".join(f"{side} p={short(p)}" for side, p in ps.items())
    judgement.notes.append(f"; {label} scores {short(base)}: beaten (one-sided t-test, 5%) by {who} ({tests})")
    if not beaten:
        judgement.fixed = NEITHER


def _more_params(setting, frame, more: str, fewer: str, claim: str) -> list[Judgement]:
    a, b = frame[frame["model"] == more]["params"], frame[frame["model"] == fewer]["params"]
    if a.empty or b.empty:
        return []
    pa, pb = int(a.iloc[0]), int(b.iloc[0])
    return [
        Judgement(
            claim,
            setting,
            f"{more} {pa:,} vs {fewer} {pb:,} parameters (×{pa / pb:.2f}; exact, the same for every seed)",
            fixed="holds" if pa > pb else "does not hold",
        )
    ]


def _steps_to_target(setting, frame) -> list[Judgement]:
    if "steps_to_target" not in frame:
        return []
    reached = frame.assign(
        censored=frame["steps_to_target"].isna(), steps_or_budget=frame["steps_to_target"].fillna(frame["steps"])
    )
    rows = _compare(
        setting,
        reached,
        "GRU reaches the target in fewer steps than LSTM",
        ("gru", {}),
        ("lstm", {}),
        "steps_or_budget",
        "<",
        unit=" steps",
    )
    if rows:
        sides = {m: reached[reached["model"] == m] for m in ("gru", "lstm")}
        missed = {m: int(runs["censored"].sum()) for m, runs in sides.items()}
        if any(missed.values()):
            rows[0].notes.append(
                f"; runs that never reached it (counted at their whole budget, a lower bound): "
                f"gru {missed['gru']}, lstm {missed['lstm']}"
            )
        if all(missed[m] == len(runs) for m, runs in sides.items()):
            rows[0].fixed = NEITHER  # neither ever reached the target: the "steps" are both budgets
    return rows


def _versus(
    setting, frame, claim: str, model: str, others: tuple[str, ...], column, expect, unit=""
) -> list[Judgement]:
    """`model` against each of `others` (_compare); `claim` names the other as {other}."""
    return [
        row
        for other in others
        for row in _compare(
            setting, frame, claim.format(other=other.upper()), (model, {}), (other, {}), column, expect, unit
        )
    ]


def _hybrids(setting, frame, metric, better) -> list[Judgement]:
    rows = []
    column = f"final.{metric}"
    parents = {p: frame[frame["model"] == p][column].astype(float).mean() for p in ("lstm", "gru")}
    parents = {p: m for p, m in parents.items() if not math.isnan(m)}
    if len(parents) < 2:
        return rows
    best = (min if better == "<" else max)(parents, key=parents.get)
    for hybrid in ("hybrid_stacked", "hybrid_parallel"):
        if frame[frame["model"] == hybrid].empty:
            continue
        margin = MARGIN * abs(parents[best])
        judgement = _compare(
            setting,
            frame,
            f"{hybrid} is at least as good as the better parent ({metric})",
            (hybrid, {}),
            (best, {}),
            column,
            better + "=",
            margin=margin,
        )[0]
        judgement.evidence = (
            f"{hybrid} vs {best} (the better parent): {judgement.comparison.describe()}; "
            f"margin ±{margin:.3g} (10% of {best}'s mean)"
        )
        rows.append(judgement)
    return rows


def _longer_dependencies(done: pd.DataFrame) -> list[Judgement]:
    """At the longest T of each dataset's T sweep (where the runs vary dataset.seq_len), LSTM
    against RNN and against GRU on the task's primary metric."""
    rows = []
    column = HPARAM + "dataset.seq_len"
    if column not in done:
        return rows
    for setting, family, _ in _settings(done, ignore=(column,)):  # runs alike but for T
        lengths = family[column].dropna()
        if lengths.nunique() < 2 or not _direction(family):
            continue
        metric, better = _direction(family)
        rows += _versus(
            setting,
            family[family[column] == lengths.max()],
            f"LSTM handles longer dependencies than {{other}} ({metric} at the longest T, {int(lengths.max())})",
            "lstm",
            ("rnn", "gru"),
            f"final.{metric}",
            better,
        )
    return rows


def _direction(frame: pd.DataFrame) -> tuple[str, str] | None:
    """(primary metric, '<' if lower is better else '>') of these runs' task."""
    for primary, metrics in zip(frame["primary_metric"], frame["metric_directions"]):
        if isinstance(primary, str) and isinstance(metrics, dict) and primary in metrics:
            return primary, "<" if metrics[primary] == "min" else ">"
    return None


def _name(selector) -> str:
    model, switches = selector
    return model + "".join(
        f" {k.split('.')[-1]}={'/'.join(map(str, v)) if isinstance(v, tuple) else v}" for k, v in switches.items()
    )
