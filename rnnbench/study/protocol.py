"""The study's loop (plan.py says what a study is): for each part and unit of the plan, the tuning
search (continued past an edge of its range), then the best configuration on fresh seeds, each one
sweep of `rnnbench train` (launch/app.py) into its folder; a unit whose search completed no trial
gets no test runs; then the timing pass of the parts that ask for one. A sweep that fails is said
and the study goes on; the caller reports over the folder."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import yaml

from rnnbench.config import fresh_dir
from rnnbench.errors import UserError
from rnnbench.launch import app
from rnnbench.launch.sweep import describe_failures
from rnnbench.report.published import PUBLISHED_FILE
from rnnbench.study.plan import (
    MAX_EXTENSIONS,
    Plan,
    Unit,
    better,
    extended_space,
    override_key,
    read_best,
    seeds_for,
    study_options,
    study_plan,
    tuner_overrides,
)
from rnnbench.training.record import atomic_write_text

CLAIMS_FILE = "claims.yaml"  # a study file's claims, kept in its study folder for the report


def run_study(name: str, args: list[str], now: str) -> tuple[int, Path]:
    """conf/study/NAME.yaml or a study file (NAME.yaml) with `args` (study.scale=…,
    study.seed_offset=…, study.dir=…, overrides), into <output_root>/studies/NAME/`now` unless
    study.dir says where; (1 if anything failed else 0, the study's folder). A study file's claims
    are written to <folder>/claims.yaml, which `rnnbench report <folder>` decides, and its published
    numbers to <folder>/published.yaml, which the report sets beside the runs."""
    scale, folder, offset, overrides = study_options(args)
    plan = study_plan(name, scale)
    tuning_seed, fresh = seeds_for(offset, plan.seeds)
    root = next((o.split("=", 1)[1] for o in overrides if o.startswith("output_root=")), "outputs")
    folder = folder or Path(fresh_dir(str(Path(root) / "studies" / plan.name / now)))
    overrides = [*plan.overrides(), *overrides]
    for code in reversed(plan.pythonpath):  # a study file's cells and tasks, here and in worker processes
        sys.path.insert(0, str(code))
        os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(code), os.environ.get("PYTHONPATH")]))
    if plan.pythonpath:  # workers loky keeps from earlier work in this process were spawned without it
        from joblib.externals.loky import get_reusable_executor

        get_reusable_executor().shutdown(wait=True)
    if plan.claims is not None:
        folder.mkdir(parents=True, exist_ok=True)
        atomic_write_text(folder / CLAIMS_FILE, yaml.safe_dump({"claims": plan.claims}, sort_keys=False))
    if plan.published is not None:
        folder.mkdir(parents=True, exist_ok=True)
        atomic_write_text(folder / PUBLISHED_FILE, yaml.safe_dump({"published": plan.published}, sort_keys=False))
    if any(override_key(o) == "hydra/launcher" for o in overrides):  # the plan's launcher settings are its launcher's
        plan.launcher = []
    failed = 0
    for part, spec in plan.parts.items():
        for unit in spec.units:
            best: dict = {}
            if spec.tuned:
                chosen_search, searches_failed = tune(
                    plan, unit, folder / part / "tuning" / unit.name, tuning_seed, overrides
                )
                failed += searches_failed
                if chosen_search is None:
                    print(
                        f"rnnbench study {name}: {part}/{unit.name}: no tuning trial completed; no test runs",
                        file=sys.stderr,
                    )
                    failed += 1
                    continue
                best = chosen_search["best_params"]
            chosen = [f"{k}={v}" for k, v in best.items()] + ([f"tuned=[{','.join(sorted(best))}]"] if best else [])
            failed += sweep(
                f"{part}: {unit.name} on fresh seeds {fresh[0]}…{fresh[-1]}",
                folder / part / "test" / unit.name,
                [*unit.overrides, *chosen, *plan.launcher, *overrides, f"seed={','.join(map(str, fresh))}"],
            )
    for part, spec in plan.parts.items():
        if spec.timed:
            failed += time_part(part, folder / part / "test", [u.name for u in spec.units], plan.timing)
    return int(failed > 0), folder


def tune(plan: Plan, unit: Unit, where: Path, seed: int, overrides: list[str]) -> tuple[dict | None, int]:
    """The unit's search into `where`, continued on a shifted range while its best value lies at an
    edge and beat the task's trivial baseline (plan.extended_space; <where>/extended_k/, at most
    MAX_EXTENSIONS); (the best.yaml of the best of these searches or None, the number of searches
    that failed)."""
    space, best, failed = dict(plan.tune.get("params") or {}), None, 0
    for extension in range(MAX_EXTENSIONS + 1):
        folder = where if extension == 0 else where / f"extended_{extension}"
        what = f"{unit.part}: tuning {unit.name} (seed {seed})" + (
            f", range extended past its edge: {', '.join(f'{k}={v}' for k, v in space.items())}" if extension else ""
        )
        failed += sweep(
            what,
            folder,
            [
                *tuner_overrides({**plan.tune, "params": space}),
                *unit.overrides,
                *plan.launcher,
                *overrides,
                f"seed={seed}",
                f"hydra.sweeper.seed={seed}",
            ],
        )
        found = read_best(folder / "best.yaml")
        best = better(best, found)
        # a search that learned nothing has no edge: its best ties with or is noise among runs at the
        # baseline (chomsky: every Transformer and TCN trial on parity at the majority-class accuracy)
        space = extended_space(space, found) if found and found.get("beats_baseline") is not False else None
        if space is None:
            break
    return best, failed


def time_part(part: str, tests: Path, units: list[str], settings: dict) -> int:
    """The timing pass of a part (training/timing.py): up to settings['runs'] completed fresh-seed
    runs of each unit, all timed in one interleaved pass; 1 if it could not run (said), else 0."""
    from rnnbench.training.record import read_summary
    from rnnbench.training.timing import time_runs

    runs = []
    for unit in units:
        done = [
            p.parent
            for p in sorted((tests / unit).glob("*/summary.json"))
            if (read_summary(p.parent) or {}).get("status") == "completed"
        ]
        runs += done[: settings["runs"]]
    print(f"rnnbench study: {part}: timing {len(runs)} runs alone (training/timing.py)", file=sys.stderr)
    try:
        time_runs(runs, settings["rounds"], settings["min_time"])
    except UserError as exc:
        print(f"rnnbench: error: study step {part}: timing: {exc}", file=sys.stderr)
        return 1
    return 0


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
