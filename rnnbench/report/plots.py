"""The report's plots (matplotlib, headless; PNG files the HTML page embeds):

    curves_<dataset>.png     validation metric against training step, one line per group (mean over
                             seeds, band from the lowest to the highest seed), the baseline dashed
    length_<dataset>.png     test metric against sequence length T, when dataset.seq_len was varied
    pareto_<dataset>.png     test metric against parameters and against training speed, Pareto front
    grads_<dataset>.png      ‖∂L/∂h_t‖ against t before and after training (diagnostics.grad_per_time_step)
    eval_lengths_<dataset>.png  test metric against the length evaluated at (`rnnbench eval`)
    league_cd.png            the league across settings: average ranks and the Nemenyi critical
                             difference (league.py)
    throughput_vs_T.png      `rnnbench bench`: train-step tokens/s and time against T, log-log

Within `style(models, formats)` (write_report opens it) a model has one colour in every plot of
the report (groups of one model differ by line style), and each figure is also written as SVG or
PDF for a paper.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from itertools import cycle
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # headless: files only
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from rnnbench.report.collect import AT_LENGTH, AT_LENGTH_BASELINE, HPARAM, as_typed  # noqa: E402
from rnnbench.report.tables import eval_lengths, value_text  # noqa: E402

FORMATS = ("svg", "pdf")  # besides PNG, on request (rnnbench report --format)
PALETTE = [matplotlib.colormaps["tab10"](i) for i in range(10)] + [matplotlib.colormaps["Dark2"](i) for i in range(8)]
LINE_STYLES = ("-", "--", "-.", ":")
MARKERS = (
    "o",
    "s",
    "^",
    "D",
    "v",
    "P",
    "X",
    "<",
    ">",
    "*",
)  # a model's, on its curves: lines that coincide stay told apart
MAX_TEXT = 60  # characters of a title, label or legend entry
_style: dict = {"colours": {}, "formats": ()}


@contextlib.contextmanager
def style(models: list[str], formats: tuple[str, ...] = ()) -> Iterator[None]:
    """One colour per model (in sorted order) and the extra file formats, for the plots made within."""
    before = dict(_style)
    _style.update(
        colours={m: PALETTE[i % len(PALETTE)] for i, m in enumerate(sorted(set(models)))}, formats=tuple(formats)
    )
    try:
        yield
    finally:
        _style.update(before)


def colour(model: str):
    """The model's colour in this report (a model outside it: one fixed by its name)."""
    return _style["colours"].get(model) or PALETTE[sum(map(ord, str(model))) % len(PALETTE)]


def marker(model: str) -> str:
    """The model's marker in this report (by its place among the report's models, as its colour)."""
    names = list(_style["colours"]) or [model]
    return MARKERS[(names.index(model) if model in names else sum(map(ord, str(model)))) % len(MARKERS)]


def _styles_by_model(models: list[str]) -> list[tuple]:
    """(colour, line style) for groups whose models are `models`, in order: a model's colour, its
    groups told apart by line style."""
    styles, seen = [], {}
    for model in models:
        seen.setdefault(model, cycle(LINE_STYLES))
        styles.append((colour(model), next(seen[model])))
    return styles


def plot_learning_curves(
    runs: pd.DataFrame, curves: pd.DataFrame, keys: list[str], metric: str, baseline_name: str, title: str, path: Path
) -> Path | None:
    """Write the plot for one dataset's runs to `path`; None when there is nothing to draw."""
    column = f"val_{metric}"
    if curves.empty or column not in curves:
        return None
    labels = runs.set_index("dir").apply(lambda r: _label(r, keys), axis=1)
    data = curves[curves["dir"].isin(labels.index)].assign(group=lambda d: d["dir"].map(labels))
    if data.empty:
        return None
    fig, ax = plt.subplots(figsize=(7, 4.2))
    groups = list(data.groupby("group", sort=True))
    models = runs.set_index("dir")["model"]
    owners = [models[g["dir"].iloc[0]] for _, g in groups]
    for k, ((label, group), (color, ls), model) in enumerate(zip(groups, _styles_by_model(owners), owners)):
        stats = group.groupby("step")[column].agg(["mean", "min", "max", "count"])
        seeds = group["dir"].nunique()
        every = max(1, len(stats) // 10)  # about ten markers a curve, shifted per group so they do not cover each other
        (line,) = ax.plot(
            stats.index,
            stats["mean"],
            color=color,
            ls=ls,
            marker=marker(model),
            markersize=5,
            markevery=(k % every, every),
            label=f"{label} (n={seeds})",
        )
        if seeds > 1:
            ax.fill_between(stats.index, stats["min"], stats["max"], color=line.get_color(), alpha=0.15, lw=0)
    for value in _baselines(runs, keys, metric):
        ax.axhline(value, color="0.4", ls="--", lw=1, zorder=1)  # beneath the curves
    ax.plot([], [], color="0.4", ls="--", lw=1, label=f"baseline ({baseline_name})")
    _log_if_wide(ax, data[column], "y")
    ax.set(xlabel="training step", ylabel=f"validation {metric}", title=title)
    return _save(fig, path)


def _baselines(runs: pd.DataFrame, keys: list[str], metric: str) -> list[float]:
    """The validation baseline (the curves' split), averaged over seeds: one value per setting of
    the varied dataset knobs (the copy task's baseline depends on T), else one."""
    column = f"baseline_val.{metric}"
    if column not in runs:
        return []
    by = [HPARAM + k for k in keys if k.startswith("dataset.")]
    values = runs.groupby(by)[column].mean() if by else runs[column].agg(["mean"])
    return [v for v in values if pd.notna(v)]


def _completed_groups(runs: pd.DataFrame, dirs, keys: list[str]) -> list[tuple[str, pd.DataFrame, str, str]]:
    """The completed runs among `dirs` (those with a measurement) by group — model and varied keys —
    each as (label, runs, colour, line style)."""
    measured = runs[runs["dir"].isin(dirs) & (runs["status"] == "completed")]
    if measured.empty:
        return []
    groups = list(measured.groupby(measured.apply(lambda r: _label(r, keys), axis=1), sort=True))
    styles = _styles_by_model([group["model"].iloc[0] for _, group in groups])
    return [(label, group, color, ls) for (label, group), (color, ls) in zip(groups, styles)]


def _label(run: pd.Series, keys: list[str]) -> str:
    parts = [str(run["model"])] + [f"{k.split('.')[-1]}={value_text(run.get(HPARAM + k))}" for k in keys]
    return " ".join(parts)


def plot_metric_vs_length(
    table: pd.DataFrame, keys: list[str], metric: str, direction: str, baseline_name: str, title: str, path: Path
) -> Path | None:
    """Final test metric against sequence length T (dataset.seq_len), one line per model (and
    per setting of the other varied keys), error bars ± std over seeds, the baseline dashed."""
    if "dataset.seq_len" not in keys or table["dataset.seq_len"].nunique() < 2:
        return None
    others = [k for k in keys if k != "dataset.seq_len"]
    fig, ax = plt.subplots(figsize=(7, 4.2))
    groups = list(table.groupby(["model", *others], sort=True))
    for (label, group), (color, ls) in zip(groups, _styles_by_model([g["model"].iloc[0] for _, g in groups])):
        group = group.sort_values("dataset.seq_len")
        name = " ".join(map(str, label if isinstance(label, tuple) else (label,)))
        ax.errorbar(
            group["dataset.seq_len"],
            group[f"{metric}_mean"],
            yerr=group[f"{metric}_std"].fillna(0),
            marker="o",
            capsize=3,
            color=color,
            ls=ls,
            label=name,
        )
    baseline = table.groupby("dataset.seq_len")[f"baseline_{metric}"].mean()
    ax.plot(baseline.index, baseline.values, color="0.4", ls="--", lw=1, label=f"baseline ({baseline_name})")
    _log_if_wide(ax, table[f"{metric}_mean"], "y")
    ax.set_xscale("log")
    ax.set(
        xlabel="sequence length T",
        ylabel=f"test {metric} ({'lower' if direction == 'min' else 'higher'} is better)",
        title=title,
    )
    return _save(fig, path)


def plot_eval_lengths(
    table: pd.DataFrame, keys: list[str], metric: str, direction: str, baseline_name: str, title: str, path: Path
) -> Path | None:
    """Length generalisation: test metric against the evaluation length T′ (`rnnbench eval`), one
    line per group from its training length on (± std over seeds), a dotted line at each training
    length, the baseline on the same data dashed."""
    lengths = eval_lengths(table, metric)
    if not lengths:
        return None
    trained_at = sorted({int(t) for t in table["seq_len"].dropna()})
    fig, ax = plt.subplots(figsize=(7, 4.2))
    baseline = {}
    for (_, row), (color, ls) in zip(table.iterrows(), _styles_by_model(list(table["model"]))):
        points = [(T, row[f"{AT_LENGTH}{T}.{metric}"], row[f"{AT_LENGTH}{T}.{metric}_std"]) for T in lengths]
        if not pd.isna(row["seq_len"]):  # its own test, at the length it was trained at
            points.append((int(row["seq_len"]), row[f"{metric}_mean"], row[f"{metric}_std"]))
            baseline.setdefault(int(row["seq_len"]), row[f"baseline_{metric}"])
        points = sorted(p for p in points if not pd.isna(p[1]))
        if not points:
            continue
        name = " ".join([str(row["model"]), *(f"{k.split('.')[-1]}={as_typed(row[k])}" for k in keys)])
        x, y, err = zip(*points)
        ax.errorbar(
            x, y, yerr=[0 if pd.isna(e) else e for e in err], marker="o", capsize=3, color=color, ls=ls, label=name
        )
        baseline.update(
            {
                T: row[f"{AT_LENGTH_BASELINE}{T}.{metric}"]
                for T in lengths
                if not pd.isna(row[f"{AT_LENGTH_BASELINE}{T}.{metric}"])
            }
        )
    for T in trained_at:
        ax.axvline(T, color="0.6", ls=":", lw=1)
    if baseline:
        ax.plot(
            sorted(baseline),
            [baseline[T] for T in sorted(baseline)],
            color="0.4",
            ls="--",
            lw=1,
            label=f"baseline ({baseline_name})",
        )
    ax.set_xscale("log")
    ticks = sorted({*lengths, *trained_at})
    ax.set_xticks(ticks, [str(t) for t in ticks])
    ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
    _log_if_wide(ax, table[f"{metric}_mean"], "y")
    ax.set(
        xlabel="evaluation length T′ (dotted: trained at)",
        ylabel=f"test {metric} ({'lower' if direction == 'min' else 'higher'} is better)",
        title=f"{title}: at other lengths",
    )
    ax.legend(fontsize=7)
    return _save(fig, path)


def plot_pareto(
    table: pd.DataFrame, keys: list[str], metric: str, direction: str, unit: str, title: str, path: Path
) -> Path | None:
    """Test metric against parameters and against training speed: one point per group (± std over
    seeds); the Pareto front — groups no other group beats on both axes — joined by a line. One
    row of panels per setting of the varied dataset keys (a front across sequence lengths would
    compare different tasks)."""
    data = table.dropna(subset=[f"{metric}_mean", "params", "tokens_per_s"])
    by = [k for k in keys if k.startswith("dataset.")]
    settings = list(data.groupby(by, sort=True)) if by else [((), data)]
    settings = [(s, d) for s, d in settings if len(d) >= 2][:4]
    if not settings:
        return None
    fig, axes = plt.subplots(len(settings), 2, figsize=(11, 4.2 * len(settings)), squeeze=False)
    for (setting, rows), pair in zip(settings, axes):
        setting = setting if isinstance(setting, tuple) else (setting,)
        where = ", ".join(f"{k.split('.')[-1]}={as_typed(v)}" for k, v in zip(by, setting))
        for ax, column, label, more_is_better in (
            (pair[0], "params", "parameters", False),
            (pair[1], "tokens_per_s", f"train {unit}/s", True),
        ):
            ax.errorbar(
                rows[column],
                rows[f"{metric}_mean"],
                yerr=rows[f"{metric}_std"].fillna(0),
                fmt="none",
                ecolor="0.55",
                capsize=3,
            )  # one call for all points: a call per point costs seconds
            ax.scatter(rows[column], rows[f"{metric}_mean"], c=[colour(m) for m in rows["model"]], zorder=3)
            span = np.log(rows[column].max() / rows[column].min()) or 1.0  # where to put a label, not the axis
            for _, row in rows.iterrows():
                name = " ".join(
                    [str(row["model"]), *(f"{k.split('.')[-1]}={as_typed(row[k])}" for k in keys if k not in by)]
                )
                right_half = np.log(row[column] / rows[column].min()) / span > 0.5  # label inward: never clipped
                ax.annotate(
                    name,
                    (row[column], row[f"{metric}_mean"]),
                    fontsize=7,
                    xytext=(-3 if right_half else 3, 3),
                    textcoords="offset points",
                    ha="right" if right_half else "left",
                )
            front = rows.loc[pareto_front(rows[column], rows[f"{metric}_mean"], more_is_better, direction == "max")]
            front = front.sort_values(column)
            ax.plot(front[column], front[f"{metric}_mean"], color="0.3", lw=1, ls=":", label="Pareto front")
            _log_if_wide(ax, rows[column], "x")  # equal budgets put every point near one x: linear there
            _log_if_wide(ax, rows[f"{metric}_mean"], "y")
            ax.set(
                xlabel=label,
                ylabel=f"test {metric} ({'lower' if direction == 'min' else 'higher'} is better)",
                title=f"{title}{' (' + where + ')' if where else ''}: {metric} vs {label}",
            )
            ax.title.set_fontsize(10)
    return _save(fig, path)


def pareto_front(x: pd.Series, y: pd.Series, x_more_is_better: bool, y_more_is_better: bool) -> list:
    """Index labels of the points no other point is at least as good as on both axes and
    strictly better on one."""
    sx = x if x_more_is_better else -x
    sy = y if y_more_is_better else -y
    front = []
    for i in x.index:
        dominated = ((sx >= sx[i]) & (sy >= sy[i]) & ((sx > sx[i]) | (sy > sy[i]))).any()
        if not dominated:
            front.append(i)
    return front


def plot_grad_per_time_step(
    runs: pd.DataFrame, grads: dict[str, list[dict]], keys: list[str], title: str, path: Path
) -> Path | None:
    """‖∂L/∂h_t‖ against t (diagnostics.grad_per_time_step), one line per group (geometric mean
    over seeds): at the first measurement (before training, unless diagnostics were switched on
    when a run resumed) and at the last, on a log axis."""
    groups = _completed_groups(runs, grads.keys(), keys)
    if not groups:
        return None
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True)
    for label, group, color, ls in groups:
        for ax, which in ((axes[0], 0), (axes[1], -1)):
            rows = [grads[d][which] for d in group["dir"]]
            length = min(len(r["norms"]) for r in rows)
            norms = np.array([r["norms"][:length] for r in rows], dtype=float)
            mean = np.exp(np.log(np.maximum(norms, 1e-30)).mean(axis=0))
            ax.plot(np.arange(1, length + 1), mean, color=color, ls=ls, label=f"{label} (n={len(rows)})")
            when = "before training" if rows[0]["step"] == 0 else f"after {rows[0]['step']} steps"
            ax.set_title(f"{title}: {when}", fontsize=10)
    for ax in axes:
        ax.set_yscale("log")
        ax.set(xlabel="time step t")
    axes[0].set_ylabel("‖∂L/∂h_t‖ (per sample)")
    return _save(fig, path)


def plot_accuracy_by_length(
    runs: pd.DataFrame, by_length: dict[str, dict[int, float]], keys: list[str], title: str, path: Path
) -> Path | None:
    """Length generalisation (the Chomsky tasks' by_length.json): accuracy against input length,
    one line per group — the mean over seeds, the band from the worst seed to the best (the best is
    what Delétang et al. report) — a dotted line at the longest training length, the baseline dashed."""
    groups = _completed_groups(runs, by_length.keys(), keys)
    if not groups:
        return None
    measured = pd.concat(group for _, group, _, _ in groups)
    fig, ax = plt.subplots(figsize=(7, 4.2))
    for label, group, color, ls in groups:
        table = pd.DataFrame([by_length[d] for d in group["dir"]]).sort_index(axis=1)
        lengths = table.columns.to_numpy()
        ax.plot(lengths, table.mean(), color=color, ls=ls, label=f"{label} (n={len(table)})")
        if len(table) > 1:
            ax.fill_between(lengths, table.min(), table.max(), color=color, alpha=0.15, lw=0)
    trained = measured.get(HPARAM + "dataset.max_train_len", pd.Series(dtype=float)).dropna()
    for longest in sorted(set(trained)):
        ax.axvline(longest, color="0.6", ls=":", lw=1)
    if "baseline.acc" in measured:
        ax.axhline(measured["baseline.acc"].mean(), color="0.4", ls="--", lw=1, zorder=1)
        ax.plot([], [], color="0.4", ls="--", lw=1, label="baseline (test lengths)")
    ax.set_ylim(-0.02, 1.02)
    ax.set(xlabel="input length (dotted: the longest trained on)", ylabel="accuracy", title=title)
    ax.legend(fontsize=7)
    return _save(fig, path)


def plot_bench(table: pd.DataFrame, path: Path) -> Path | None:
    """Two log-log panels from a bench table: train-step tokens/s against T and time per train
    step against T, one line per model/impl (and batch × hidden, when several). A sequential
    loop's time grows linearly in T (slope 1); what runs all steps at once stays flat until the
    work itself dominates."""
    if table.empty:
        return None
    sizes = table[["batch", "hidden"]].drop_duplicates()
    colors = {model: f"C{i % 10}" for i, model in enumerate(sorted(table["model"].unique()))}
    styles = {"torch": ":", "fused": "-", "scan": "-", "reference": "--"}  # a model's colour, an impl's line
    widths = {tuple(size): 0.8 + 1.2 * i for i, size in enumerate(sizes.itertuples(index=False))}
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.6))
    for key, group in table.sort_values("T").groupby(["model", "impl", "batch", "hidden"], sort=True):
        model, impl, batch, hidden = key
        label = f"{model}/{impl}" + (f" B={batch} H={hidden}" if len(sizes) > 1 else "")
        style = {
            "color": colors[model],
            "ls": styles.get(impl, "-."),
            "lw": widths[(batch, hidden)],
            "marker": "o",
            "ms": 3,
            "label": label,
        }
        axes[0].plot(group["T"], group["train_tokens_per_s"], **style)
        axes[1].plot(group["T"], group["train_ms"], **style)
    only = "" if len(sizes) > 1 else f" (B={sizes.batch.iloc[0]}, H={sizes.hidden.iloc[0]})"
    axes[0].set(
        xscale="log", yscale="log", xlabel="sequence length T", ylabel="tokens/s, train step", title="throughput" + only
    )
    axes[1].set(
        xscale="log",
        yscale="log",
        xlabel="sequence length T",
        ylabel="ms per train step",
        title="time per train step" + only,
    )
    return _save(fig, path)


def _log_if_wide(ax, values: pd.Series, axis: str) -> None:
    """A log axis when the values are positive and span more than a factor of 20."""
    values = values.dropna()
    if len(values) and values.min() > 0 and values.max() / values.min() > 20:
        (ax.set_yscale if axis == "y" else ax.set_xscale)("log")


def plot_critical_difference(ranks: dict[str, float], cd: float, title: str, path: Path) -> Path:
    """The critical-difference diagram (Demšar 2006): average ranks on an axis, rank 1 (best) at
    the left; the better half of the models labelled on the left, the rest on the right; a thick
    bar joins models whose average ranks lie within the critical difference (Nemenyi: not shown to
    differ), and the CD itself is drawn above the axis."""
    names, values = list(ranks), list(ranks.values())
    k = len(names)
    cliques, reach = [], -1
    for i in range(k):
        j = max(j for j in range(i, k) if values[j] - values[i] <= cd)
        if j > i and j > reach:
            cliques.append((values[i], values[j]))
            reach = j
    half = (k + 1) // 2
    step, top = 0.35, -0.35 - 0.15 * len(cliques)
    fig, ax = plt.subplots(figsize=(8, 1.4 + step * half))
    lowest, highest = 1, max(k, math.ceil(values[-1]))
    ax.plot([lowest, highest], [0, 0], color="black", linewidth=1)
    for tick in range(lowest, highest + 1):
        ax.plot([tick, tick], [0, 0.08], color="black", linewidth=1)
        ax.text(tick, 0.15, str(tick), ha="center", va="bottom", fontsize=9)
    ax.plot([lowest, lowest + cd], [0.7, 0.7], color="black", linewidth=1.5)
    ax.text(lowest + cd / 2, 0.78, f"CD = {cd:.2f}", ha="center", va="bottom", fontsize=9)
    for n, (low, high) in enumerate(cliques):
        y = -0.25 - 0.15 * n
        ax.plot([low - 0.03, high + 0.03], [y, y], color="black", linewidth=4, solid_capstyle="round")
    for i, (name, rank) in enumerate(zip(names, values)):
        left = i < half
        y = top - step * (i if left else k - 1 - i)
        end = lowest - 0.3 if left else highest + 0.3
        ax.plot([rank, rank, end], [0, y, y], color=colour(name.split(" (")[0]), linewidth=1.2)
        ax.text(
            end - 0.05 if left else end + 0.05,
            y,
            f"{name} ({rank:.2f})",
            ha="right" if left else "left",
            va="center",
            fontsize=9,
        )
    ax.set_xlim(lowest - 2.2, highest + 2.2)
    ax.set_ylim(top - step * half, 1.1)
    ax.axis("off")
    ax.set_title(title, fontsize=10)
    return _save(fig, path, bare=True)


def _save(fig, path: Path, bare: bool = False) -> Path:
    """Grid and legend on every panel (not on a `bare` diagram), every text cut to MAX_TEXT
    characters (a record may name its model with any string), then the PNG; the figure is closed."""
    for ax in fig.axes if not bare else ():
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    for text in fig.findobj(matplotlib.text.Text):
        if len(text.get_text()) > MAX_TEXT:
            text.set_text(text.get_text()[: MAX_TEXT - 1] + "…")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    for extension in _style["formats"]:
        fig.savefig(path.with_suffix(f".{extension}"))
    plt.close(fig)
    return path
