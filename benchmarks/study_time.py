"""How long a study will take at another scale, extrapolated from a finished one on this machine.

    python benchmarks/study_time.py <folder of a finished quick study> [--study claims] [--scale full]

Per part, the wall time the quick study took (first run started → last run finished, from the
records) is scaled by the ratio of the work the two scales ask for:

    work = Σ over units  (tuning trials + fresh seeds) × trainer.max_steps × dataset.seq_len

with both scales read from conf/study/NAME.yaml. The assumptions, stated: a run's steps are a
similar fraction of max_steps at both scales (pruning and plateau stops), and the time of a step
grows with T but not with the width — true of these small models on a CPU, where a step costs
kernel dispatch more than arithmetic (benchmarks/README.md) — so the estimate is a lower bound
where the larger scale also widens the models. It is an extrapolation, printed as such.
"""

from __future__ import annotations

import argparse
import json
from datetime import datetime
from pathlib import Path

from rnnbench.config import compose
from rnnbench.study.plan import study_plan


def part_minutes(folder: Path) -> float:
    """Wall minutes from the first run's start to the last run's finish under `folder`."""
    times = []
    for path in folder.rglob("summary.json"):
        summary = json.loads(path.read_text())
        if summary.get("started_at") and summary.get("finished_at"):
            times += [datetime.fromisoformat(summary["started_at"]), datetime.fromisoformat(summary["finished_at"])]
    return (max(times) - min(times)).total_seconds() / 60 if times else 0.0


def work(plan, part: str) -> float:
    runs = plan.seeds + (int(plan.tune.get("n_trials", 0)) if plan.parts[part].tuned else 0)
    total = 0.0
    for unit in plan.parts[part].units:
        cfg = compose(*unit.overrides)
        total += runs * cfg.trainer.max_steps * cfg.dataset.get("seq_len", 1)
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--study", default="claims")
    parser.add_argument("--scale", default="full")
    options = parser.parse_args()
    quick, other = study_plan(options.study, "quick"), study_plan(options.study, options.scale)
    total_quick = total_other = 0.0
    print(f"| part | quick: measured min | work ratio | {options.scale}: extrapolated min |\n|---|---:|---:|---:|")
    for part in quick.parts:
        minutes = part_minutes(options.folder / part)
        ratio = work(other, part) / work(quick, part)
        total_quick, total_other = total_quick + minutes, total_other + minutes * ratio
        print(f"| {part} | {minutes:.1f} | {ratio:.1f} | {minutes * ratio:.0f} |")
    print(f"| all | {total_quick:.1f} | {total_other / total_quick:.1f} | {total_other:.0f} |")
    print(f"\nextrapolated, not measured: {options.scale} ≈ {total_other / 60:.1f} h on this machine")


if __name__ == "__main__":
    main()
