"""Do a study's verdicts survive other seeds? Compare the claims.csv of two runs of one study.

    rnnbench study claims study.seed_offset=0      # → <folder A>/report/claims.csv
    rnnbench study claims study.seed_offset=1      # → <folder B>/report/claims.csv
    python benchmarks/stability.py <folder A>/report/claims.csv <folder B>/report/claims.csv

Prints every (claim, setting) with its verdict in each run, then the counts: verdicts that agree,
decisive verdicts (holds / does not hold) that the other run contradicts (a flip: a defect of
the protocol or the budget, to be found and fixed), and those that only lost or gained
decisiveness (holds ↔ inconclusive: a power question). A claim judged in one run only is listed
as such.
"""

from __future__ import annotations

import argparse

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("a")
    parser.add_argument("b")
    options = parser.parse_args()
    table = compare(pd.read_csv(options.a), pd.read_csv(options.b))
    print(table.to_markdown(index=False))
    counts = table["outcome"].value_counts()
    judged = int((table["outcome"] != "in one run only").sum())
    print(
        f"\n{counts.get('agree', 0)} of {judged} verdicts judged in both runs agree; "
        f"{counts.get('FLIP', 0)} flip between holds and does not hold; "
        f"{counts.get('decisive in one run', 0)} are decisive in one run only; "
        f"{counts.get('in one run only', 0)} claims are judged in one run only."
    )


if __name__ == "__main__":
    main()
