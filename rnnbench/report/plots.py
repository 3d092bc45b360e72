"""Learning curves: validation value of the task's primary metric against training step, one line
per group (mean over seeds, band from the lowest to the highest seed), the baseline dashed."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # headless: files only
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from rnnbench.report.collect import HPARAM  # noqa: E402


def plot_learning_curves(runs: pd.DataFrame, curves: pd.DataFrame, keys: list[str], metric: str,
                         baseline_name: str, title: str, path: Path) -> Path | None:
    """Write the plot for one dataset's runs to `path`; None when there is nothing to draw."""
    column = f"val_{metric}"
    if curves.empty or column not in curves:
        return None
    labels = runs.set_index("dir").apply(lambda r: _label(r, keys), axis=1)
    data = curves[curves["dir"].isin(labels.index)].assign(group=lambda d: d["dir"].map(labels))
    if data.empty:
        return None
    fig, ax = plt.subplots(figsize=(7, 4.2))
    for label, group in data.groupby("group", sort=True):
        stats = group.groupby("step")[column].agg(["mean", "min", "max", "count"])
        seeds = group["dir"].nunique()
        (line,) = ax.plot(stats.index, stats["mean"], label=f"{label} (n={seeds})")
        if seeds > 1:
            ax.fill_between(stats.index, stats["min"], stats["max"], color=line.get_color(), alpha=0.2, lw=0)
    for value in _baselines(runs, keys, metric):
        ax.axhline(value, color="0.4", ls="--", lw=1)
    ax.plot([], [], color="0.4", ls="--", lw=1, label=f"baseline ({baseline_name})")
    values = data[column].dropna()
    if len(values) and values.min() > 0 and values.max() / values.min() > 20:
        ax.set_yscale("log")
    ax.set(xlabel="training step", ylabel=f"validation {metric}", title=title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def _baselines(runs: pd.DataFrame, keys: list[str], metric: str) -> list[float]:
    """The validation baseline (the curves' split), averaged over seeds: one value per setting of
    the varied dataset knobs (the copy task's baseline depends on T), else one."""
    column = f"baseline_val.{metric}"
    if column not in runs:
        return []
    by = [HPARAM + k for k in keys if k.startswith("dataset.")]
    values = runs.groupby(by)[column].mean() if by else runs[column].agg(["mean"])
    return [v for v in values if pd.notna(v)]


def _label(run: pd.Series, keys: list[str]) -> str:
    parts = [str(run["model"])] + [f"{k.split('.')[-1]}={run.get(HPARAM + k)}" for k in keys]
    return " ".join(parts)
