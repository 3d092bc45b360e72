"""rnnbench from Python (a notebook, a script): `rnnbench.run`, `rnnbench.build`, `rnnbench.load_runs`.

    summary = rnnbench.run(model="gru", dataset="adding", overrides=["dataset.seq_len=200"])
    model, task = rnnbench.build(model="gru", dataset="adding")
    runs = rnnbench.load_runs("outputs/")          # pandas: one row per run, the columns of runs.csv

`run` is `rnnbench train` itself, in this process (the same Hydra app, launch/app.py, config,
folder naming and record, `.hydra/` included), so a run started here and one started from the
shell are the same run; bad input raises `UserError` with the CLI's one line. `build` is the
config → objects step of a run (training/build.py), for one's own loop: the model and the task
with its splits (`task.splits()`, `task.loss`, `task.metrics`, `task.baselines`), on the device of
`trainer.device`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rnnbench.config import quoted
from rnnbench.errors import AbortJob, UserError


def _overrides(model: str | None, dataset: str | None, overrides: Sequence[str]) -> list[str]:
    if isinstance(overrides, str):
        raise UserError(f"overrides must be a list of strings, e.g. [{overrides!r}]")
    return [*([f"model={model}"] if model else []), *([f"dataset={dataset}"] if dataset else []), *overrides]


def run(
    model: str | None = None,
    dataset: str | None = None,
    overrides: Sequence[str] = (),
    run_dir: str | Path | None = None,
) -> dict[str, Any]:
    """Train one run as `rnnbench train model=MODEL dataset=DATASET OVERRIDES` does, into `run_dir`
    (default: the CLI's, outputs/runs/<time>_<model>_<dataset>_s<seed>), and return its summary (as
    in summary.json; `status` says whether it completed; `dir` is added). A folder that holds this
    run already is resumed or, completed, returned as it is."""
    from rnnbench.launch import app

    args = _overrides(model, dataset, overrides)
    if any(a in ("-m", "--multirun") or a.startswith("hydra.mode") for a in args):
        raise UserError("rnnbench.run trains one run; for a sweep, call it in a loop or use `rnnbench train -m`")
    try:
        outcomes = app.launch([*args, *([f"hydra.run.dir={quoted(str(run_dir))}"] if run_dir is not None else [])])
    except AbortJob as exc:  # a job's error, which the CLI prints as its one line
        raise UserError(str(exc)) from None
    if not outcomes:  # the command ran no job
        raise UserError(f"no run was trained for {' '.join(args) or 'the default config'}")
    folder = Path(outcomes[-1]["dir"])
    return {**json.loads((folder / "summary.json").read_text(encoding="utf-8")), "dir": str(folder)}


def build(model: str | None = None, dataset: str | None = None, overrides: Sequence[str] = ()) -> tuple[Any, Any]:
    """(model, task) of the config `rnnbench train model=MODEL dataset=DATASET OVERRIDES` would
    train, built as a run builds them (the seed set, `model.param_budget` applied)."""
    from rnnbench.config import compose
    from rnnbench.training.build import build as build_parts

    built = build_parts(compose(*_overrides(model, dataset, overrides)))
    return built.model, built.task


def load_runs(path: str | Path, *more: str | Path):
    """The run records under `path` (and `more`) as a pandas DataFrame, one row per run, with the
    columns of a report's runs.csv: identity, sizes, speed, `final.<metric>`, `best.<metric>`,
    baselines, `hp.<config key>`. Unreadable records are left out (`rnnbench report` names them)."""
    from rnnbench.report.collect import load_runs as collect

    paths = [Path(p) for p in (path, *more)]
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        raise UserError(f"no such folder: {', '.join(missing)}")
    return collect(paths).runs
