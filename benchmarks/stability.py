"""Do a study's verdicts and tuned learning rates survive other seeds? Compare two runs of one study.

    rnnbench study claims study.seed_offset=0      # → <folder A>/report/
    rnnbench study claims study.seed_offset=1      # → <folder B>/report/
    python benchmarks/stability.py <folder A>/report <folder B>/report

Verdicts (claims.csv): every (claim, setting) with its verdict in each run, then the counts:
verdicts that agree, decisive verdicts (holds / does not hold) that the other run contradicts (a
flip: a defect of the protocol or the budget, to be found and fixed), and those that only lost or
gained decisiveness (holds ↔ inconclusive: a power question). A claim judged in one run only is
listed as such.

Learning rates (runs.csv): a seed offset also moves the tuning seed and the sampler's, so the two
runs are two independent searches per unit. For every unit the lr its fresh seeds ran with in
each run and the ratio of the larger to the smaller; a search that converged finds the same lr
to within the flatness of the validation curve around it (a factor 2–3 on a log range of 100×
is the resolution of 6–10 trials).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

DECISIVE = {"holds", "does not hold"}


def compare(a: pd.DataFrame, b: pd.DataFrame) -> pd.DataFrame:
    keys = ["claim", "setting"]
    both = a[keys + ["verdict"]].merge(b[keys + ["verdict"]], on=keys, how="outer", suffixes=(" A", " B"))

    def kind(row) -> str:
        va, vb = row["verdict A"], row["verdict B"]
        if pd.isna(va) or pd.isna(vb):
            return "in one run only"
        if va == vb:
            return "agree"
        if va in DECISIVE and vb in DECISIVE:
            return "FLIP"
        return "decisive in one run" if (va in DECISIVE or vb in DECISIVE) else "differ (neither decisive)"

    return both.assign(outcome=both.apply(kind, axis=1))


def verdict_counts(claims: pd.DataFrame) -> str:
    """'12 holds, 3 does not hold, …; inconclusive: 9 of the 30 claims decided by a test (30%)' —
    the issue's goal is at most a third (holds, does not hold, equivalent and neither learned are
    answers; the exact claims, parameter counts, need no test and are left out of the share)."""
    counts = claims["verdict"].value_counts()
    tested = claims[~claims["test"].astype(str).str.startswith("exact (no test)")]
    open_ = int((tested["verdict"] == "inconclusive").sum())
    return (
        ", ".join(f"{n} {v}" for v, n in counts.items())
        + f"; inconclusive: {open_} of the {len(tested)} claims decided by a test ({open_ / max(len(tested), 1):.0%})"
    )


def chosen_lrs(runs: pd.DataFrame) -> pd.Series:
    """unit (part/unit, from `<study>/<part>/test/<unit>/<run>`) → the lr its fresh seeds ran with,
    for the tuned units (a part with `tune: false` runs at a set lr and is left out)."""
    tested = runs[(runs["tested"] == True) & runs["hp.tuned"].str.contains("trainer.lr", regex=False, na=False)]  # noqa: E712
    parts = tested["dir"].str.split("/")
    unit = parts.str[-4] + "/" + parts.str[-2]
    return tested.groupby(unit)["hp.trainer.lr"].first().rename("lr")


def compare_lrs(a: pd.DataFrame, b: pd.DataFrame) -> pd.DataFrame:
    both = pd.concat([chosen_lrs(a).rename("lr A"), chosen_lrs(b).rename("lr B")], axis=1).dropna()
    ratio = np.maximum(both["lr A"], both["lr B"]) / np.minimum(both["lr A"], both["lr B"])
    return both.assign(ratio=ratio.round(2)).rename_axis("unit").reset_index()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("a", type=Path, help="the report folder of one run of the study")
    parser.add_argument("b", type=Path, help="the report folder of the same study at another seed offset")
    options = parser.parse_args()
    claims_a, claims_b = pd.read_csv(options.a / "claims.csv"), pd.read_csv(options.b / "claims.csv")
    table = compare(claims_a, claims_b)
    print(table.to_markdown(index=False))
    print(f"\nA: {verdict_counts(claims_a)}\nB: {verdict_counts(claims_b)}")
    counts = table["outcome"].value_counts()
    judged = int((table["outcome"] != "in one run only").sum())
    print(
        f"\n{counts.get('agree', 0)} of {judged} verdicts judged in both runs agree; "
        f"{counts.get('FLIP', 0)} flip between holds and does not hold; "
        f"{counts.get('decisive in one run', 0)} are decisive in one run only; "
        f"{counts.get('in one run only', 0)} claims are judged in one run only.\n"
    )
    lrs = compare_lrs(pd.read_csv(options.a / "runs.csv"), pd.read_csv(options.b / "runs.csv"))
    if lrs.empty:
        return
    print(lrs.to_markdown(index=False, floatfmt=".3g"))
    print(
        f"\nThe two searches' learning rates: median ratio {lrs['ratio'].median():.2f}; within 2× in "
        f"{int((lrs['ratio'] <= 2).sum())} of {len(lrs)} units, within 3× in {int((lrs['ratio'] <= 3).sum())}, "
        f"largest {lrs['ratio'].max():.1f}× ({lrs.loc[lrs['ratio'].idxmax(), 'unit']})."
    )


if __name__ == "__main__":
    main()
