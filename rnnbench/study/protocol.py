"""The study's loop (plan.py says what a study is): for each part and unit of the plan, the tuning
search, then the best configuration on fresh seeds, each one sweep of `rnnbench train`
(launch/app.py) into its folder; a unit whose search completed no trial gets no test runs. A sweep
that fails is said and the study goes on; the caller reports over the folder."""

from __future__ import annotations

import sys
from pathlib import Path

from rnnbench.config import fresh_dir
from rnnbench.errors import UserError
from rnnbench.launch import app
from rnnbench.launch.sweep import describe_failures
from rnnbench.study.plan import best_overrides, override_key, seeds_for, study_options, study_plan, tuner_overrides


def run_study(name: str, args: list[str], now: str) -> tuple[int, Path]:
    """conf/study/NAME.yaml with `args` (study.scale=…, study.seed_offset=…, study.dir=…, overrides),
    into <output_root>/studies/NAME/`now` unless study.dir says where; (1 if anything failed else 0,
    the study's folder)."""
    scale, folder, offset, overrides = study_options(args)
    plan = study_plan(name, scale)
    tuning_seed, fresh = seeds_for(offset, plan.seeds)
    root = next((o.split("=", 1)[1] for o in overrides if o.startswith("output_root=")), "outputs")
    folder = folder or Path(fresh_dir(str(Path(root) / "studies" / name / now)))
    if any(override_key(o) == "hydra/launcher" for o in overrides):  # the plan's launcher settings are its launcher's
        plan.launcher = []
    failed = 0
    for part, (tuned, units) in plan.parts.items():
        for unit in units:
            best: dict = {}
            if tuned:
                where = folder / part / "tuning" / unit.name
                failed += sweep(
                    f"{part}: tuning {unit.name} (seed {tuning_seed})",
                    where,
                    [
                        *tuner_overrides(plan.tune),
                        *unit.overrides,
                        *plan.launcher,
                        *overrides,
                        f"seed={tuning_seed}",
                        f"hydra.sweeper.seed={tuning_seed}",
                    ],
                )
                best = best_overrides(where / "best.yaml")
                if best is None:
                    print(
                        f"rnnbench study {name}: {part}/{unit.name}: no tuning trial completed; no test runs",
                        file=sys.stderr,
                    )
                    failed += 1
                    continue
            chosen = [f"{k}={v}" for k, v in best.items()] + ([f"tuned=[{','.join(sorted(best))}]"] if best else [])
            failed += sweep(
                f"{part}: {unit.name} on fresh seeds {fresh[0]}…{fresh[-1]}",
                folder / part / "test" / unit.name,
                [*unit.overrides, *chosen, *plan.launcher, *overrides, f"seed={','.join(map(str, fresh))}"],
            )
    return int(failed > 0), folder


def sweep(what: str, where: Path, overrides: list[str]) -> int:
    """One sweep of a study into `where` (a later override of a key replaces an earlier one); 1 if a
    run failed or the config does not compose (said, and the study goes on), else 0."""
    print(f"rnnbench study: {what} → {where}", file=sys.stderr)
    merged = {override_key(override): override for override in overrides}
    try:
        outcomes = app.launch(["-m", *merged.values(), f"hydra.sweep.dir={where}"])
    except UserError as exc:
        print(f"rnnbench: error: study step {what}: {exc}", file=sys.stderr)
        return 1
    failures = describe_failures(outcomes)
    if failures:
        print(failures, file=sys.stderr)
    return int(bool(failures))
