"""Would a paired test gain power? The correlation across seeds of two models' test metric, where
both ran on the same seeds (benchmarks/README.md, "Paired tests").

    python benchmarks/pairing.py STUDY_DIR [STUDY_DIR...]

In a study every model of a setting runs on the same fresh seeds, and a run's seed fixes its data
and batch order (dataset.seed = seed): seed k of the LSTM and seed k of the GRU saw the same
examples. A paired test (on the per-seed differences) is then valid, and gains power exactly when
the two models' results correlate across seeds: Var(a − b) = Var(a) + Var(b) − 2 Cov(a, b). For
every pair of models in every setting this prints n, Pearson's r and the variance ratio
Var(a − b) / (Var(a) + Var(b)) — below 1, pairing narrows the interval; near 1, it only costs
degrees of freedom (n − 1 instead of ≈ 2n − 2).
"""

from __future__ import annotations

import itertools
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from rnnbench.report.claims import primary_direction, settings
from rnnbench.report.collect import load_runs, set_trials_aside


def pairs(paths: list[Path]) -> pd.DataFrame:
    runs, _ = set_trials_aside(load_runs(paths))
    done = runs.runs[runs.runs["status"] == "completed"]
    rows = []
    for setting, frame, _ in settings(done):
        found = primary_direction(frame)
        if found is None:
            continue
        metric = f"final.{found[0]}"
        by_model = {m: g.set_index("seed")[metric].astype(float) for m, g in frame.groupby("model")}
        for a, b in itertools.combinations(sorted(by_model), 2):
            seeds = by_model[a].index.intersection(by_model[b].index)
            if len(seeds) < 3:
                continue
            x, y = by_model[a][seeds].to_numpy(), by_model[b][seeds].to_numpy()
            if np.ptp(x) == 0 or np.ptp(y) == 0:
                continue
            rows.append(
                {
                    "setting": setting,
                    "a": a,
                    "b": b,
                    "n": len(seeds),
                    "r": float(np.corrcoef(x, y)[0, 1]),
                    "var ratio": float(np.var(x - y, ddof=1) / (np.var(x, ddof=1) + np.var(y, ddof=1))),
                }
            )
    return pd.DataFrame(rows)


def main() -> None:
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    table = pairs([Path(p) for p in sys.argv[1:]])
    with pd.option_context("display.width", 200, "display.max_colwidth", 60):
        print(table.round(3).to_string(index=False))
    if len(table):
        print(
            f"\n{len(table)} pairs: median r {table['r'].median():.2f} (IQR {table['r'].quantile(0.25):.2f} to "
            f"{table['r'].quantile(0.75):.2f}); variance ratio below 0.8 in {(table['var ratio'] < 0.8).sum()}, "
            f"above 1.2 in {(table['var ratio'] > 1.2).sum()}"
        )


if __name__ == "__main__":
    main()
