"""The folk claims about recurrent cells, each judged from the runs that bear on it.

A claim compares two groups of completed runs made in the same setting — same dataset, same
values of every dataset, trainer and optimizer key and of the model's hidden_size (seeds and the
keys that do not change what a run computes, record.INCIDENTAL_KEYS, aside) —
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

Verdicts (stats.verdict): holds, does not hold, inconclusive — significance at 5% with the seeds
there are (≥ 3 recommended); the evidence column gives the means, the difference with its 95%
interval, t and p, and — for a claim on a task metric — which side beats the task's trivial
baseline on average (two models at the baseline can differ "significantly" and still have learnt
nothing). A claim whose measure one side did not record (gradients without
diagnostics.grad_per_time_step) is not listed.
"""
from __future__ import annotations

import json
import math
from typing import Iterator

import pandas as pd

from rnnbench.record import SEED_KEYS, incidental
from rnnbench.report.collect import ANALYSIS, HPARAM, as_typed
from rnnbench.report.stats import short, verdict, welch

SHARED_MODEL_KEYS = ("model.hidden_size",)
MARGIN = 0.10  # non-inferiority margin, as a fraction of the better parent's mean
COLUMNS = ["claim", "setting", "verdict", "evidence"]


def judge_claims(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per (claim, setting) the runs can judge: claim, setting, verdict, evidence."""
    rows: list[dict] = []
    if runs.empty or "status" not in runs:
        return pd.DataFrame(columns=COLUMNS)
    for setting, frame, _ in _settings(runs[runs["status"] == "completed"]):
        direction = _direction(frame)
        rows += _more_params(setting, frame, "lstm", "gru", "LSTM has more parameters than GRU")
        rows += _more_params(setting, frame, "convlstm", "convgru", "ConvGRU is lighter than ConvLSTM")
        rows += _compare(setting, frame, "GRU trains faster than LSTM (tokens/s)", ("gru", {}), ("lstm", {}),
                         "tokens_per_s", ">", unit=" tok/s")
        rows += _compare(setting, frame, "ConvGRU is faster than ConvLSTM (frames/s)", ("convgru", {}),
                         ("convlstm", {}), "tokens_per_s", ">", unit=" frames/s")
        rows += _steps_to_target(setting, frame)
        rows += _versus(setting, frame, "plain RNN gradients vanish (gradient reach, RNN < {other})", "rnn",
                        ("lstm", "gru"), "grad_reach", "<", unit=" steps")
        rows += _versus(setting, frame, "LSTM counts beyond its training range better than {other} "
                        "(largest n generalised to)", "lstm", ("rnn", "gru"), ANALYSIS + "max_n_generalised", ">")
        if direction:
            metric, better = direction
            rows += _hybrids(setting, frame, metric, better)
            last, one_way = {"model.readout": ("auto", "last")}, {"model.bidirectional": False}
            for name, a, b in (("Bi-LSTM beats LSTM", ("lstm", {"model.bidirectional": True, **last}),
                                ("lstm", {**one_way, **last})),
                               ("attention readout beats the last step", ("lstm", {"model.readout": "attention", **one_way}),
                                ("lstm", {**last, **one_way})),
                               ("attention helps the encoder-decoder", ("seq2seq", {"model.attention": ("bahdanau", "luong")}),
                                ("seq2seq", {"model.attention": "none"}))):
                rows += _compare(setting, frame, f"{name} ({metric})", a, b, f"final.{metric}", better)
    rows += _longer_dependencies(runs[runs["status"] == "completed"])
    return pd.DataFrame(rows, columns=COLUMNS)


def _settings(done: pd.DataFrame) -> Iterator[tuple[str, pd.DataFrame, list[str]]]:
    """(label, runs, varied keys) for each setting: runs of one dataset alike in every key that
    is not the model's own (a key some runs lack does not split them)."""
    for dataset, frame in done.groupby("dataset", sort=True):
        keys = [c for c in frame.columns if c.startswith(HPARAM) and _setting_key(c[len(HPARAM):])]
        values = frame[keys].map(_hashable) if keys else frame[[]]
        varied = [k for k in keys if values[k].nunique() > 1]
        if not varied:
            yield str(dataset), frame, []
            continue
        for combo, members in frame.groupby([values[k] for k in varied], dropna=False, sort=True):
            combo = combo if isinstance(combo, tuple) else (combo,)
            label = ", ".join(f"{k.split('.')[-1]}={as_typed(v)}" for k, v in zip(varied, combo))
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


def _compare(setting, frame, claim, a, b, column, expect, unit="") -> list[dict]:
    """a vs b on `column`; not listed unless both sides recorded it. On a task metric
    (final.*), the evidence also says which side beats the task's trivial baseline."""
    runs_a, runs_b = _select(frame, *a), _select(frame, *b)
    if column not in frame or runs_a[column].isna().all() or runs_b[column].isna().all():
        return []
    comparison = welch(runs_a[column].astype(float), runs_b[column].astype(float))
    evidence = f"{_name(a)} vs {_name(b)}: {comparison.describe(unit)}"
    if column.startswith("final."):
        evidence += _against_baseline(frame, column.removeprefix("final."), expect[0],
                                      {_name(a): runs_a, _name(b): runs_b})
    return [_row(claim, setting, verdict(comparison, expect), evidence)]


def _against_baseline(frame, metric, better, sides: dict[str, pd.DataFrame]) -> str:
    """'; the baseline (name) scores X: beaten on average by both / by a only / by neither' —
    a difference between two models that are both no better than the trivial predictor says
    little about the cells."""
    column = f"baseline.{metric}"
    if column not in frame or frame[column].isna().all():
        return ""
    base = float(frame[column].astype(float).mean())
    beaten = [name for name, runs in sides.items()
              if (runs[f"final.{metric}"].astype(float).mean() - base) * (1 if better == ">" else -1) > 0]
    who = "both" if len(beaten) == len(sides) else f"{beaten[0]} only" if beaten else "neither"
    name = frame["baseline_name"].dropna()
    label = f"the baseline ({name.iloc[0]})" if len(name) else "the baseline"
    return f"; {label} scores {short(base)}: beaten on average by {who}"


def _more_params(setting, frame, more: str, fewer: str, claim: str) -> list[dict]:
    a, b = frame[frame["model"] == more]["params"], frame[frame["model"] == fewer]["params"]
    if a.empty or b.empty:
        return []
    pa, pb = int(a.iloc[0]), int(b.iloc[0])
    return [_row(claim, setting, "holds" if pa > pb else "does not hold",
                 f"{more} {pa:,} vs {fewer} {pb:,} parameters (×{pa / pb:.2f}; exact, the same for every seed)")]


def _steps_to_target(setting, frame) -> list[dict]:
    if "steps_to_target" not in frame:
        return []
    reached = frame.assign(censored=frame["steps_to_target"].isna(),
                           steps_or_budget=frame["steps_to_target"].fillna(frame["steps"]))
    rows = _compare(setting, reached, "GRU reaches the target in fewer steps than LSTM", ("gru", {}), ("lstm", {}),
                    "steps_or_budget", "<", unit=" steps")
    if rows:
        missed = {m: int(reached[reached["model"] == m]["censored"].sum()) for m in ("gru", "lstm")}
        if any(missed.values()):
            rows[0]["evidence"] += (f"; runs that never reached it (counted at their whole budget, a lower bound): "
                                    f"gru {missed['gru']}, lstm {missed['lstm']}")
    return rows


def _versus(setting, frame, claim: str, model: str, others: tuple[str, ...], column, expect, unit="") -> list[dict]:
    """`model` against each of `others` (_compare); `claim` names the other as {other}."""
    return [row for other in others
            for row in _compare(setting, frame, claim.format(other=other.upper()), (model, {}), (other, {}),
                                column, expect, unit)]


def _hybrids(setting, frame, metric, better) -> list[dict]:
    rows = []
    column = f"final.{metric}"
    parents = {p: frame[frame["model"] == p][column].astype(float).mean() for p in ("lstm", "gru")}
    parents = {p: m for p, m in parents.items() if not math.isnan(m)}
    if len(parents) < 2:
        return rows
    best = (min if better == "<" else max)(parents, key=parents.get)
    for hybrid in ("hybrid_stacked", "hybrid_parallel"):
        runs = frame[frame["model"] == hybrid]
        if runs.empty:
            continue
        parent = frame[frame["model"] == best]
        comparison = welch(runs[column].astype(float), parent[column].astype(float))
        margin = MARGIN * abs(parents[best])
        found = verdict(comparison, better + "=", margin)
        baseline = _against_baseline(frame, metric, better, {hybrid: runs, best: parent})
        rows.append(_row(f"{hybrid} is at least as good as the better parent ({metric})", setting, found,
                         f"{hybrid} vs {best} (the better parent): {comparison.describe()}; "
                         f"margin ±{margin:.3g} (10% of {best}'s mean){baseline}"))
    return rows


def _longer_dependencies(done: pd.DataFrame) -> list[dict]:
    """At the longest T of each dataset's T sweep (where the runs vary dataset.seq_len), LSTM
    against RNN and against GRU on the task's primary metric."""
    rows = []
    column = HPARAM + "dataset.seq_len"
    if column not in done:
        return rows
    for dataset, frame in done.groupby("dataset", sort=True):
        lengths = frame[column].dropna()
        if lengths.nunique() < 2 or not _direction(frame):
            continue
        longest = frame[frame[column] == lengths.max()]
        metric, better = _direction(frame)
        for setting, members, _ in _settings(longest):
            rows += _versus(setting, members, "LSTM handles longer dependencies than {other} "
                            f"({metric} at the longest T, {int(lengths.max())})", "lstm", ("rnn", "gru"),
                            f"final.{metric}", better)
    return rows


def _direction(frame: pd.DataFrame) -> tuple[str, str] | None:
    """(primary metric, '<' if lower is better else '>') of these runs' task."""
    for primary, metrics in zip(frame["primary_metric"], frame["metric_directions"]):
        if isinstance(primary, str) and isinstance(metrics, dict) and primary in metrics:
            return primary, "<" if metrics[primary] == "min" else ">"
    return None


def _row(claim, setting, found, evidence) -> dict:
    return {"claim": claim, "setting": setting, "verdict": found, "evidence": evidence}


def _name(selector) -> str:
    model, switches = selector
    return model + "".join(f" {k.split('.')[-1]}={'/'.join(map(str, v)) if isinstance(v, tuple) else v}"
                           for k, v in switches.items())


def _hashable(value):
    return json.dumps(value, sort_keys=True) if isinstance(value, (list, dict)) else value

