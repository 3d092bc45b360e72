"""rnnbench from Python (a notebook, a script): `run`, `build`, `load_runs`, `load_curves`, `load_model`.

    summary = rnnbench.run(model="gru", dataset="adding", overrides=["dataset.seq_len=200"])
    model, task = rnnbench.build(model="gru", dataset="adding")
    runs = rnnbench.load_runs("outputs/")          # pandas: one row per run, the columns of runs.csv
    curves = rnnbench.load_curves("outputs/")      # pandas: one row per evaluation of each run
    model, task = rnnbench.load_model(summary["dir"])  # the trained model, in eval mode, and its task

`run` is `rnnbench train` itself, in this process (the same Hydra app, launch/app.py, config,
folder naming and record, `.hydra/` included), so a run started here and one started from the
shell are the same run; bad input raises `UserError` with the CLI's one line. `build` is the
config → objects step of a run (training/build.py), for one's own loop: the model and the task
with its splits (`task.splits()`, `task.loss`, `task.metrics`, `task.baselines`), on the device of
`trainer.device`. `load_model` is that with a completed run's trained weights loaded, as
`rnnbench eval` and `rnnbench sample` load them.
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

    return collect(_existing(path, *more)).runs


def load_curves(path: str | Path, *more: str | Path):
    """The learning curves of the run records under `path` (and `more`) as a pandas DataFrame, one
    row per evaluation: `dir`, `model`, `dataset`, `seed`, then metrics.jsonl's columns (`step`,
    `train_loss`, `val_<metric>`, `tokens_per_s`, `wall_s`, …). Runs still training are included
    (their curves so far); the `dir` column joins a row to `load_runs`."""
    from rnnbench.report.collect import load_runs as collect

    records = collect(_existing(path, *more), include_running=True)
    if not len(records.curves):
        return records.curves
    curves = records.runs[["dir", "model", "dataset", "seed"]].merge(records.curves, on="dir", how="right")
    return curves[[*curves.columns[:4], "step", *(c for c in curves.columns[4:] if c != "step")]]


def load_model(run_dir: str | Path, best: bool = False, overrides: Sequence[str] = ()) -> tuple[Any, Any]:
    """(model, task) of a completed run: the model built from its config with its final weights —
    those its test numbers come from; with `best`, those at its best validation value (kept with
    trainer.keep_best=true) — in eval mode, and its task; `overrides` change the data as
    `rnnbench eval` takes them (["dataset.seq_len=400"])."""
    from rnnbench.commands.evaluate import load_trained, parse_overrides

    changes = parse_overrides(list(overrides)) if overrides else [{}]
    if len(changes) > 1:
        raise UserError("load_model builds one task: give one value per key")
    built, _ = load_trained(Path(run_dir), changes[0], best=best)
    return built.model, built.task


def _existing(*paths: str | Path) -> list[Path]:
    found = [Path(p) for p in paths]
    missing = [str(p) for p in found if not p.exists()]
    if missing:
        raise UserError(f"no such folder: {', '.join(missing)}")
    return found
