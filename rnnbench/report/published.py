"""Published numbers beside the measured ones.

A study file's `published:` entries (conf/study/tcn_table1.yaml) are a paper's numbers, each set
beside the runs that measured the same thing:

    published:
      - source: Bai, Kolter & Koltun 2018, Table 1     # paper and table
        setting: adding, T = 600, ~70K parameters     # where the paper measured it
        convention: one run per model                 # how it reports (one run, max over 10 seeds…)
        where: {dataset.name: adding}                 # the runs beside it, as a claim's `where`
        metric: mse                                   # in the task's units (87.2 % → 0.872)
        values: {lstm: 0.164, gru: 5.3e-5, rnn: 0.177, tcn: 5.8e-5}

`rnnbench report` of the study's folder writes published.csv and a table: per entry and model,
the paper's number, the measured mean [95% CI], the best seed and n, and the setting the runs
were at (a quick scale is not the paper's: the table says so instead of hiding it). The study
keeps the entries in its folder (published.yaml), as it keeps its claims.
"""

from __future__ import annotations

import math
import numbers
from pathlib import Path
from typing import Any

import pandas as pd

from rnnbench.errors import UserError
from rnnbench.report.claims import matching
from rnnbench.report.collect import HPARAM
from rnnbench.report.stats import mean_ci
from rnnbench.report.tables import value_text

PUBLISHED_FILE = "published.yaml"  # a study file's published numbers, kept in its study folder
KEYS = {"source", "setting", "convention", "where", "metric", "values"}
REQUIRED = ("source", "setting", "metric", "values")


def load_published(where: Path | str, entries: Any) -> list[dict]:
    """Check a study file's `published:` entries (`where` names the file for the error); a wrong
    entry is one line naming it and what an entry holds."""
    if not isinstance(entries, list) or not entries:
        raise UserError(f"{where}: `published:` is a non-empty list of entries with {', '.join(REQUIRED)}")
    for i, entry in enumerate(entries, 1):
        at = f"{where}, published entry {i}"
        if not isinstance(entry, dict):
            raise UserError(f"{at}: an entry is a mapping with {', '.join(sorted(KEYS))} (got {entry!r})")
        wrong = sorted(set(entry) - KEYS) or [k for k in REQUIRED if k not in entry]
        if wrong:
            raise UserError(
                f"{at}: {', '.join(wrong)}: an entry holds {', '.join(sorted(KEYS))} ({', '.join(REQUIRED)} required)"
            )
        values = entry["values"]
        if not isinstance(values, dict) or not values or not all(_number(v) for v in values.values()):
            raise UserError(
                f"{at}: values maps each model to the paper's number, e.g. {{lstm: 0.164}} (got {values!r})"
            )
        if not isinstance(entry.get("where") or {}, dict):
            raise UserError(f"{at}: where is a mapping of config keys to values, e.g. {{dataset.name: adding}}")
    return entries


def read_published(paths: list[Path]) -> list[dict]:
    """The published.yaml a study left in one of `paths` (none: [])."""
    import yaml

    for path in paths:
        kept = Path(path) / PUBLISHED_FILE
        if kept.is_file():
            return load_published(kept, (yaml.safe_load(kept.read_text(encoding="utf-8")) or {}).get("published"))
    return []


def beside_published(runs: pd.DataFrame, entries: list[dict]) -> pd.DataFrame:
    """One row per entry and model: the paper's number beside the completed fresh-seed runs'."""
    done = runs[(runs["status"] == "completed") & runs["tested"].fillna(False).astype(bool)] if len(runs) else runs
    rows = []
    for entry in entries:
        metric, column = entry["metric"], f"final.{entry['metric']}"
        matched = matching(done, dict(entry.get("where") or {})) if len(done) else done
        for model, published in entry["values"].items():
            side = matched[matched["model"] == model] if len(matched) else matched
            values = side[column].dropna().astype(float) if column in side else pd.Series(dtype=float)
            mean, low, high = mean_ci(values, metric) if len(values) else (math.nan,) * 3
            rows.append(
                {
                    "source": entry["source"],
                    "paper's setting": entry["setting"],
                    "convention": entry.get("convention", ""),
                    "model": model,
                    "metric": metric,
                    "published": published,
                    "mean": mean,
                    "ci_low": low,
                    "ci_high": high,
                    "best seed": _best(values, side, metric),
                    "n": len(values),
                    "measured at": _measured_at(side),
                }
            )
    return pd.DataFrame(rows)


def display_published(table: pd.DataFrame) -> pd.DataFrame:
    """The table for a reader: the interval beside the mean, numbers as the other tables write them."""
    shown = table[["source", "paper's setting", "convention", "model", "metric", "published"]].copy()
    shown["published"] = table["published"].map(value_text)
    shown["measured: mean [95% CI]"] = [
        "—" if math.isnan(m) else f"{value_text(m)} [{value_text(lo)}, {value_text(hi)}]"
        for m, lo, hi in zip(table["mean"], table["ci_low"], table["ci_high"])
    ]
    shown["best seed"] = table["best seed"].map(lambda v: "—" if math.isnan(v) else value_text(v))
    shown["n"] = table["n"].astype(str)
    shown["measured at"] = table["measured at"]
    return shown


def _best(values: pd.Series, side: pd.DataFrame, metric: str) -> float:
    if not len(values):
        return math.nan
    directions = next((d for d in side["metric_directions"] if isinstance(d, dict) and metric in d), {})
    return float(values.max() if directions.get(metric) == "max" else values.min())


def _measured_at(side: pd.DataFrame) -> str:
    """The runs' dataset, length, parameters and steps, e.g. 'adding, T = 200, 17,137 params, 1,500 steps'."""
    if not len(side):
        return "not run"
    first = side.iloc[0]
    length = first.get(HPARAM + "dataset.seq_len")
    steps = side[HPARAM + "trainer.max_steps"].max() if HPARAM + "trainer.max_steps" in side else None
    parts = [
        str(first["dataset"]),
        *([f"T = {int(length)}"] if _number(length) else []),
        f"{int(side['params'].median()):,} params",
        *([f"{int(steps):,} steps"] if _number(steps) else []),
    ]
    return ", ".join(parts)


def _number(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)
