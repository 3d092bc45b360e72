"""Comparison tables: runs grouped by dataset × model × every knob that was varied, each metric as
mean ± sample std over the seeds of a group, beside the task's baseline measured on the same
split.

Which knobs split groups is read from the records, not configured, so no table averages runs that
were not run alike:
  - a key outside ``model.`` (the task, the trainer, the optimizer) that differs between runs of
    one dataset becomes a grouping column (``dataset.seq_len`` in a T sweep, ``trainer.lr``);
  - a ``model.`` key splits only runs of the same model name (``model.hidden_size=64,128`` with
    ``model=lstm``, or a user cell swapped into ``model=lstm``): across models the keys differ by
    definition, and the params column shows their size.
Seeds never split groups, and neither do the keys that do not change what a run computes
(config.INCIDENTAL_KEYS: where it writes, what it shows or mirrors). `rnnbench report --group-by
KEY…` replaces the detected keys (runs that differ in anything else are then pooled: the table says
which keys it grouped by). `--metric NAME…` keeps those of the task's metrics.

A group's row combines each report column of the record (record.Summary's `report` metadata) as
the schema says — "same" takes the value (sizes), "mean" averages over seeds — and each metric as
mean ± std with the 95% interval; `display_table` formats one line per column.
"""

from __future__ import annotations

import math

import pandas as pd

from rnnbench.config import SEED_KEYS, incidental
from rnnbench.errors import UserError
from rnnbench.report.collect import (
    ANALYSIS,
    AT_LENGTH,
    AT_LENGTH_BASELINE,
    HPARAM,
    OTHER_BASELINE,
    config_values,
    hashable,
)
from rnnbench.report.stats import mean_ci
from rnnbench.training.record import FINISHED, aggregations

ARROWS = {"min": "↓", "max": "↑"}


def grouping_keys(runs: pd.DataFrame) -> list[str]:
    """Config keys (without the hp. prefix) that vary between the runs of one dataset. Of keys that
    vary alike, the first is shown: optimizer.* after the rest, since conf/optimizer takes its lr
    and weight decay from trainer.lr and trainer.weight_decay, the names users set."""
    keys: list[str] = []
    chosen: list[pd.Series] = []
    columns = [c for c in runs.columns if c.startswith(HPARAM)]
    for column in sorted(columns, key=lambda c: (c.startswith(HPARAM + "optimizer."), c)):
        key = column[len(HPARAM) :]
        if key in SEED_KEYS or incidental(key):
            continue
        values = config_values(runs[column])
        if key.startswith("model."):
            varies = values.groupby(runs["model"]).nunique().max() > 1
        else:
            varies = values.dropna().nunique() > 1
        if varies and not any(values.equals(other) for other in chosen):  # an alias
            keys.append(key)
            chosen.append(values)
    return keys


def metric_directions(runs: pd.DataFrame, metrics: list[str] | None = None) -> dict[str, str]:
    """The task's metrics of one dataset's runs → "min"/"max", the primary one first; only
    `metrics` if given (checked)."""
    completed = runs[runs["status"] == "completed"]
    completed = completed if len(completed) else runs[runs["status"] == "running"]  # --include-running
    directions = next((d for d in completed["metric_directions"] if isinstance(d, dict)), {}) if len(completed) else {}
    primary = next((p for p in completed["primary_metric"] if isinstance(p, str)), None) if len(completed) else None
    if primary in directions:  # the record's JSON sorts keys; the task's primary metric goes first
        directions = {primary: directions[primary], **directions}
    if metrics and directions:
        unknown = [m for m in metrics if m not in directions]
        if len(unknown) == len(metrics):
            dataset = runs["dataset"].iloc[0]
            raise UserError(f"--metric {' '.join(metrics)}: {dataset} records {', '.join(directions)}")
        directions = {m: d for m, d in directions.items() if m in metrics}
    return directions


def summarize(
    runs: pd.DataFrame, group_by: list[str] | None = None, metrics: list[str] | None = None
) -> tuple[pd.DataFrame, list[str], dict[str, str]]:
    """Runs of one dataset → one numeric row per group. Returns (table, grouping keys, metric
    directions)."""
    if group_by is not None:
        missing = [k for k in group_by if HPARAM + k not in runs]
        if missing:
            raise UserError(
                f"--group-by {', '.join(missing)}: not a config key of these runs "
                "(e.g. dataset.seq_len, model.hidden_size, trainer.lr)"
            )
    keys = grouping_keys(runs) if group_by is None else list(group_by)
    directions = metric_directions(runs, metrics)
    frame = runs.assign(**{k: runs[HPARAM + k].map(hashable) for k in keys})
    extras = [
        c
        for c in runs.columns
        if c.startswith((OTHER_BASELINE, ANALYSIS, AT_LENGTH, AT_LENGTH_BASELINE)) and runs[c].notna().any()
    ]
    rows = []
    for group, members in frame.groupby(["model", *keys], dropna=False, sort=True):
        done = members[members["status"] == "completed"]
        row = dict(zip(["model", *keys], group))
        row.update(
            n=len(done),
            failed=int((members["status"] == "failed").sum()),
            running=int((members["status"] == "running").sum()),
            solved=int(done["steps_to_target"].notna().sum()),
            stopped=stopped(members[members["status"].isin(FINISHED)]),
            grad_reach=_mean(done, "grad_reach"),
            grad_reach_std=_std(done, "grad_reach"),
            seq_len=_first(done.get(HPARAM + "dataset.seq_len")),
        )  # the length trained at
        sized = done if len(done) else members[members["status"] == "running"]  # sizes and speed so far
        row.update(
            {
                column: _first(sized.get(column)) if how == "same" else _mean(sized, column)
                for column, how in aggregations().items()
            }
        )
        for metric in directions:
            values = done.get(f"final.{metric}", pd.Series(dtype=float)).astype(float)
            row[f"{metric}_mean"] = values.mean()
            row[f"{metric}_std"] = values.std(ddof=1) if len(values) > 1 else math.nan
            _, row[f"{metric}_ci_low"], row[f"{metric}_ci_high"] = mean_ci(values, metric)
            row[f"{metric}_best_seed"] = values.max() if directions[metric] == "max" else values.min()
            best = done.get(f"best.{metric}", pd.Series(dtype=float)).astype(float)
            row[f"best_{metric}_mean"] = best.mean()
            row[f"best_{metric}_std"] = best.std(ddof=1) if len(best) > 1 else math.nan
            row[f"baseline_{metric}"] = done.get(f"baseline.{metric}", pd.Series(dtype=float)).astype(float).mean()
        for column in extras:
            values = done[column].astype(float)
            row[column] = values.mean()
            if column.startswith((ANALYSIS, AT_LENGTH)):
                row[column + "_std"] = values.std(ddof=1) if len(values) > 1 else math.nan
        rows.append(row)
    return pd.DataFrame(rows), keys, directions


def display_table(
    table: pd.DataFrame,
    keys: list[str],
    directions: dict[str, str],
    baseline_name: str,
    solved_at: float | None,
    primary: str | None,
    unit: str = "tokens",
) -> pd.DataFrame:
    """The numeric summary formatted for reading (strings), one column per metric; speed is in
    `unit`s (time steps: tokens, or frames for video) per second."""
    out = pd.DataFrame({"model": table["model"]})
    for key in keys:
        out[key] = table[key].map(value_text)
    out["params"] = table["params"].map(_count)
    out["core params"] = table["core_params"].map(_count)
    if table["state_size"].notna().any():
        out["state"] = table["state_size"].map(_count)
    out[f"FLOPs/{unit[:-1]}"] = table["flops_per_token"].map(_count)
    out[f"train {unit}/s"] = table["tokens_per_s"].map(_count)
    if table["infer_tokens_per_s"].notna().any():
        out[f"infer {unit}/s"] = table["infer_tokens_per_s"].map(_count)
    if table["memory.step_mb"].notna().any():
        out["train step MiB"] = table["memory.step_mb"].map(_number)
    for metric, direction in directions.items():
        out[f"test {metric} {ARROWS[direction]}"] = [
            _mean_std(m, s) for m, s in zip(table[f"{metric}_mean"], table[f"{metric}_std"])
        ]
        if metric == primary:
            out[f"test {metric} 95% CI"] = [
                _interval(lo, hi) for lo, hi in zip(table[f"{metric}_ci_low"], table[f"{metric}_ci_high"])
            ]
            out[f"test {metric}, best seed"] = table[f"{metric}_best_seed"].map(_number)  # what many papers report
            out[f"best val {metric}"] = [
                _mean_std(m, s) for m, s in zip(table[f"best_{metric}_mean"], table[f"best_{metric}_std"])
            ]
        out[f"baseline {metric} ({baseline_name})"] = table[f"baseline_{metric}"].map(_number)
        for length in eval_lengths(table, metric) if metric == primary else []:
            out[f"test {metric} at T′={length}"] = [
                _mean_std(m, s)
                for m, s in zip(table[f"{AT_LENGTH}{length}.{metric}"], table[f"{AT_LENGTH}{length}.{metric}_std"])
            ]
            out[f"baseline {metric} at T′={length}"] = table[f"{AT_LENGTH_BASELINE}{length}.{metric}"].map(_number)
        for column in table.columns:
            if column.startswith(OTHER_BASELINE) and column.endswith(f".{metric}"):
                name = column[len(OTHER_BASELINE) : -len(metric) - 1]
                out[f"baseline {metric} ({name})"] = table[column].map(_number)
    for column in table.columns:
        if column.startswith(ANALYSIS) and not column.endswith("_std"):
            out[f"test {column[len(ANALYSIS) :].replace('_', ' ')}"] = [
                _mean_std(m, s) for m, s in zip(table[column], table[column + "_std"])
            ]
    if solved_at is not None and primary:
        op = "≤" if directions.get(primary) == "min" else "≥"
        out[f"solved (val {primary} {op} {solved_at:g})"] = [
            f"{s}/{n}" + (f" @ {st:.0f} steps, {sec:.0f} s" if s else "")
            for s, n, st, sec in zip(table["solved"], table["n"], table["steps_to_target"], table["seconds_to_target"])
        ]
    if table["grad_reach"].notna().any():
        out["gradient reach (steps)"] = [_mean_std(m, s) for m, s in zip(table["grad_reach"], table["grad_reach_std"])]
    if table["stopped"].astype(bool).any():
        out["stopped"] = table["stopped"]
    out["seeds"] = table["n"]
    out["failed"] = table["failed"]
    if table["running"].any():
        out["running"] = table["running"]
    return out


def key_columns(shown: pd.DataFrame, labels: int) -> list[str]:
    """The columns of a `display_table` a reader needs first: what the group is (its `labels`
    columns), its size (parameters, state), the primary test metric with its interval, the baseline beside it, how
    many solved, and how many seeds and failures. The rest (speeds, memory, FLOPs, other metrics,
    best validation, why runs stopped) is detail."""
    columns = list(shown.columns)
    metrics = [c for c in columns if c.startswith("test ") and c[-1] in ARROWS.values()]
    primary = metrics[0][len("test ") : -2] if metrics else None
    wanted = [
        *columns[:labels],
        "params",
        "state",
        *metrics[:1],
        f"test {primary} 95% CI",
        *[c for c in columns if c.startswith(f"baseline {primary} (")][:1],
        *[c for c in columns if c.startswith("solved")],
        "seeds",
        "failed",
        "running",
    ]
    return [c for c in dict.fromkeys(wanted) if c in columns]


def eval_lengths(table: pd.DataFrame, metric: str) -> list[int]:
    """The lengths T′ at which runs of the table were evaluated besides their own (`rnnbench eval`)."""
    found = {
        int(c[len(AT_LENGTH) :].split(".", 1)[0])
        for c in table.columns
        if c.startswith(AT_LENGTH) and c.endswith(f".{metric}")
    }
    return sorted(found)


def stopped(done: pd.DataFrame) -> str:
    """Why the runs of a group stopped: "plateau ×2 at 850 steps, max_steps ×1 at 1,000" (mean
    steps per reason); empty for records without stop_reason (format 1)."""
    if "stop_reason" not in done or done["stop_reason"].isna().all():
        return ""
    parts = []
    for reason, runs in done.groupby("stop_reason", sort=True):
        count = f" ×{len(runs)}" if len(done) > 1 else ""
        parts.append(f"{reason}{count} at {runs['steps'].astype(float).mean():,.0f} steps")
    return ", ".join(parts)


def _mean(frame: pd.DataFrame, column: str) -> float:
    return frame[column].astype(float).mean() if column in frame and len(frame) else math.nan


def _std(frame: pd.DataFrame, column: str) -> float:
    return frame[column].astype(float).std(ddof=1) if column in frame and frame[column].notna().sum() > 1 else math.nan


def _interval(low, high) -> str:
    if _is_missing(low):
        return "—"
    spec = ".3e" if high != 0 and abs(high) < 1e-3 else ".4g"
    return f"[{format(low, spec)}, {format(high, spec)}]"


def _first(series: pd.Series | None):
    series = series.dropna() if series is not None else ()
    return series.iloc[0] if len(series) else math.nan


def _is_missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def value_text(value) -> str:
    """A config value for a table cell or a plot legend (a tuned learning rate to 4 digits)."""
    if _is_missing(value):
        return "—"
    if isinstance(value, float):  # a tuned learning rate has 16 digits; report.csv keeps them
        return str(int(value)) if value.is_integer() else f"{value:.4g}"
    return str(value)


def _count(value) -> str:
    return "—" if _is_missing(value) else f"{value:,.0f}"


def _number(value) -> str:
    return "—" if _is_missing(value) else f"{value:.4g}"


def _mean_std(mean, std) -> str:
    """4 significant digits, in e-notation below 1e-3, the std in the mean's notation."""
    if _is_missing(mean):
        return "—"
    spec = ".3e" if mean != 0 and abs(mean) < 1e-3 else ".4g"
    text = format(mean, spec)
    return text if _is_missing(std) else f"{text} ± {format(std, '.1e' if spec == '.3e' else '.2g')}"
