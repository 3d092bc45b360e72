"""The bench's tables (`rnnbench bench`, commands/bench.py): bench.csv and bench.json read back,
the throughput ratios between implementations with their targets, the growth of step time with T,
and the tables as shown (Markdown, the report's bench section)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

CSV, META, PLOT = "bench.csv", "bench.json", "throughput_vs_T.png"


# The targets this table can show: (name, numerator impl, denominator impl, target, at which T
# (None: every T)). Fused must keep ≥ 0.9× of raw torch.nn; a scan ≥ 5× its loop at T = 1000.
RATIOS = (
    ("fused / raw torch.nn", "fused", "torch", 0.9, None),
    ("reference / fused", "reference", "fused", None, None),
    ("compiled / fused", "compiled", "fused", None, None),
    ("compiled / own loop", "compiled", "reference", None, None),
    ("scan / own loop", "scan", "reference", 5.0, 1000),
)
# Every cell's train step within 1.5× of oneDNN's LSTM at the same width, FLOP for FLOP (issue 36):
# its train GFLOP/s over the fused LSTM's, at the same T, batch and hidden size, ≥ 1 / 1.5.
FLOP_RATE_TARGET = 1 / 1.5


def ratios(table) -> pd.DataFrame:
    """Train-step and forward throughput ratios between implementations of the same model at the
    same T, batch and hidden size, with the target where one applies."""
    import pandas as pd

    keys = ["model", "T", "batch", "hidden"]
    rows = []
    for name, top, bottom, target, at in RATIOS:
        a = table[table.impl == top].set_index(keys)
        b = table[table.impl == bottom].set_index(keys)
        both = a.index.intersection(b.index)
        for key in both:
            train = a.loc[key, "train_tokens_per_s"] / b.loc[key, "train_tokens_per_s"]
            applies = target if at is None or key[1] == at else None
            rows.append(
                {
                    "ratio": name,
                    **dict(zip(keys, key)),
                    "train": train,
                    "fwd": a.loc[key, "fwd_tokens_per_s"] / b.loc[key, "fwd_tokens_per_s"],
                    "target": applies,
                    "met": None if applies is None else bool(train >= applies),
                }
            )
    case = keys[1:]  # the same T, batch and hidden size, any model
    lstm = table[(table.model == "lstm") & (table.impl == "fused")].set_index(case)
    for _, row in table[table.impl.isin(["fused", "compiled"])].iterrows():
        key = tuple(row[k] for k in case)
        if key not in lstm.index or (row.model == "lstm" and row.impl == "fused"):
            continue
        rate = row.train_gflops / lstm.loc[key, "train_gflops"]
        rows.append(
            {
                "ratio": f"{row.impl} GFLOP/s / oneDNN LSTM's",
                "model": row.model,
                **dict(zip(case, key)),
                "train": rate,
                "fwd": row.fwd_gflops / lstm.loc[key, "fwd_gflops"],
                "target": FLOP_RATE_TARGET,
                "met": bool(rate >= FLOP_RATE_TARGET),
            }
        )
    return pd.DataFrame(rows)


def growth(table) -> pd.DataFrame:
    """How train-step time grows with T, per model/impl/batch/hidden: the least-squares slope of
    log(time) against log(T). 1 is linear — a step after a step, no parallelism over time; below 1,
    fixed costs or work spread over time (a scan, convolutions, attention) dominate at short T."""
    import numpy as np
    import pandas as pd

    rows = []
    for (model, impl, batch, hidden), group in table.groupby(["model", "impl", "batch", "hidden"], sort=True):
        if group["T"].nunique() < 2:
            continue
        slope = np.polyfit(np.log(group["T"]), np.log(group["train_ms"]), 1)[0]
        longest = group.loc[group["T"].idxmax()]
        rows.append(
            {
                "model": model,
                "impl": impl,
                "batch": batch,
                "hidden": hidden,
                "T range": f"{group['T'].min()}–{group['T'].max()}",
                "slope": slope,
                "train ms at longest T": longest["train_ms"],
            }
        )
    return pd.DataFrame(rows)


def load_bench(folder: Path):
    """(table, ratios, meta) of a bench folder written by `run_bench`."""
    import json

    import pandas as pd

    table = pd.read_csv(folder / CSV).rename(columns={"flops_per_step": "flops_per_token"})  # before the rename
    meta = json.loads((folder / META).read_text(encoding="utf-8")) if (folder / META).is_file() else {}
    return table, ratios(table), meta


def display(table, ratio_table):
    """The tables as shown: one row per case, then the ratios (formatted strings)."""
    shown = table.assign(
        **{
            "train tok/s": table.train_tokens_per_s.map("{:,.0f}".format),
            "fwd tok/s": table.fwd_tokens_per_s.map("{:,.0f}".format),
            "train ms (IQR)": [f"{m:.2f} ({q:.2f})" for m, q in zip(table.train_ms, table.train_iqr_ms)],
            "MFLOP/token": (table.flops_per_token / 1e6).map("{:.3f}".format),
            "% of peak (train)": (100 * table.train_peak_frac).map("{:.1f}".format),
            "train MiB": table.train_mb.map("{:.1f}".format),
        }
    )[
        [
            "model",
            "impl",
            "T",
            "batch",
            "hidden",
            "params",
            "MFLOP/token",
            "train tok/s",
            "fwd tok/s",
            "train ms (IQR)",
            "% of peak (train)",
            "train MiB",
        ]
    ]
    if not len(ratio_table):
        return shown, ratio_table
    return shown, ratio_table.assign(
        train=ratio_table.train.map("{:.2f}×".format),
        fwd=ratio_table.fwd.map("{:.2f}×".format),
        target=ratio_table.target.map(lambda t: "" if t is None or math.isnan(t) else f"≥ {t:g}×"),
        met=ratio_table.met.map(lambda m: "" if m is None or m != m else ("yes" if m else "no")),
    )


def display_growth(table):
    slopes = growth(table)
    if not len(slopes):
        return slopes
    return slopes.assign(
        slope=slopes.slope.map("{:.2f}".format),
        **{"train ms at longest T": slopes["train ms at longest T"].map("{:.1f}".format)},
    )


def describe_machine(meta: dict) -> str:
    return (
        f"{meta.get('cpu', '?')}, {meta.get('threads', '?')} threads, torch {meta.get('torch', '?')}, "
        f"{meta.get('device', '?')}, {meta.get('date', '?')}; matmul peak "
        f"{meta.get('matmul_peak_gflops', float('nan')):.1f} GFLOP/s"
    )


def markdown(table, ratio_table, meta: dict) -> str:
    shown, shown_ratios = display(table, ratio_table)
    text = describe_machine(meta) + "\n\n" + shown.to_markdown(index=False)
    if len(shown_ratios):
        text += (
            "\n\nthroughput ratios (same T, batch, hidden; train = forward + backward)\n\n"
            + shown_ratios.to_markdown(index=False)
        )
    slopes = display_growth(table)
    if len(slopes):
        text += (
            "\n\ngrowth of train-step time with T (log-log slope; 1 = linear: no parallelism over time)\n\n"
            + slopes.to_markdown(index=False)
        )
    return text + "\n"
