"""`rnnbench eval RUN_DIR|FOLDER [OVERRIDES...]`: trained runs scored again on new data of their task.

Above all at other lengths: `dataset.seq_len=800` asks whether a model trained at T = 200 still
adds, copies or counts at four times the length — the real test of "handles longer dependencies".
The run's own config (from its final checkpoint) is taken with OVERRIDES applied; only the data
may change — `dataset.<key>` (not the dataset itself) and `trainer.eval_batch_size`/`device` — and
a change that gives the model other input or output sizes is refused in one line. The test split
of the new data is scored with the run's final weights (those its test numbers come from), beside
the task's baselines on that same data, and written to RUN_DIR/eval/<name>.json, where <name> is
the overrides (`dataset.seq_len=800`). `rnnbench report` shows these as "test at T′" columns and
plots the metric against the evaluation length.

A value list (`dataset.seq_len=200,400,800`) scores each value (each combination, for several
keys); a folder of runs (a sweep's, a study's) scores every completed run in it — the tuner's trials
excepted: they were run on validation only, and stay so (`eval_folder`).

The eval record: format, run, changed (key → new value), trained (key → the run's value), seq_len
(of the new data), samples, metrics, baseline_name, baseline, baselines, at.
"""

from __future__ import annotations

import itertools
import json
import logging
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from rnnbench.errors import UserError

log = logging.getLogger("rnnbench")

DATA_ONLY = ("trainer.eval_batch_size", "trainer.device")  # besides dataset.<key>


def parse_overrides(overrides: list[str]) -> list[dict[str, object]]:
    """The changes OVERRIDES ask for, one {key: value} per combination of their values (a list
    `dataset.seq_len=200,400` gives two), each key one that changes only the data (else a one-line
    UserError)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException

    try:
        parsed = OverridesParser.create().parse_overrides(overrides)
    except HydraException as exc:
        raise UserError(f"cannot read the overrides {' '.join(overrides)}: {str(exc).splitlines()[0]}") from None
    changed = {}
    for override in parsed:
        key = override.get_key_element()
        if (
            override.is_delete()
            or override.is_add()
            or override.is_sweep_override()
            and not override.is_discrete_sweep()
        ):
            raise UserError(
                f"{override.input_line}: eval takes key=value overrides, a value or a list of them "
                "(dataset.seq_len=400,800)"
            )
        if any(part.startswith("_") for part in key.split(".")):  # _target_, _partial_: what is built, not data
            raise UserError(f"{override.input_line}: eval changes the data's settings, not what builds it (_target_ …)")
        if key == "dataset" or not (key.startswith("dataset.") or key in DATA_ONLY):
            raise UserError(
                f"{override.input_line} would change more than the data; eval re-scores the trained "
                f"model on new data of its task: dataset.<key>=… (e.g. dataset.seq_len=800), "
                f"{', '.join(DATA_ONLY)}"
            )
        changed[key] = list(override.sweep_iterator()) if override.is_sweep_override() else [override.value()]
    if not changed:
        raise UserError("eval needs what to change, e.g. rnnbench eval RUN_DIR dataset.seq_len=800")
    return [dict(zip(changed, values)) for values in itertools.product(*changed.values())]


def eval_folder(path: Path, overrides: list[str]) -> Iterator[tuple[Path, dict | str]]:
    """(run folder, its eval record or why it was not scored) for each change OVERRIDES ask for
    and each run: the run at `path`, or every run below it. In a folder, a run that is not
    completed, a tuning trial, or one the change does not fit is skipped with its reason; a single
    run's refusal is the command's (UserError)."""
    from rnnbench.training.record import SUMMARY, read_summary

    changes = parse_overrides(overrides)
    if (path / SUMMARY).is_file() or not path.is_dir():
        for changed in changes:
            yield path, eval_run(path, changed)
        return
    runs = sorted(p.parent for p in path.rglob(SUMMARY))
    if not runs:
        raise UserError(f"{path} holds no run record ({SUMMARY}); give a trained run's folder or a folder of runs")
    for run_dir in runs:
        summary = read_summary(run_dir) or {}
        if summary.get("status") != "completed":
            yield run_dir, f"a {summary.get('status', 'unreadable')} run"
        elif (summary.get("hparams") or {}).get("trainer.test") is False:
            yield run_dir, "a tuning trial (run on validation only; it is not scored on test data)"
        else:
            for changed in changes:
                try:
                    yield run_dir, eval_run(run_dir, changed)
                except UserError as exc:
                    yield run_dir, str(exc).removeprefix(f"{run_dir} ")


def eval_run(run_dir: Path, changed: dict[str, object]) -> dict:
    """Score the run in `run_dir` on the data `changed` ({key: value}, `parse_overrides`)
    describes; write and return the eval record."""
    import torch

    from rnnbench.training.record import EVAL_DIR, EVAL_FORMAT, RunRecord, read_summary
    from rnnbench.training.trainer import evaluate

    if ((read_summary(run_dir) or {}).get("hparams") or {}).get("trainer.test") is False:
        raise UserError(f"{run_dir} is a tuning trial, run on validation only; it is not scored on test data")
    built, trained = load_trained(
        run_dir,
        changed,
        refusal=(
            f"{eval_name(changed)} gives the model other input or output sizes than it was trained with; "
            "eval can change only what the model does not depend on"
        ),
    )
    task, test = built.task, built.task.splits()["test"]
    with torch.no_grad():
        metrics = evaluate(built.model, task, test, built.settings.eval_batch_size)
    baselines = task.baselines("test")
    record = {
        "format": EVAL_FORMAT,
        "run": str(run_dir),
        "changed": changed,
        "trained": trained,
        "seq_len": task.seq_len,
        "samples": len(test),
        "metrics": metrics,
        "baseline_name": task.baseline_name,
        "baseline": baselines[task.baseline_name],
        "baselines": baselines,
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    RunRecord(run_dir).write_text(f"{EVAL_DIR}/{eval_name(changed)}.json", json.dumps(record, indent=1))
    return record


def load_trained(run_dir: Path, changed: dict | None = None, refusal: str | None = None, best: bool = False):
    """(the run's parts built from its config with `changed` applied and its final weights loaded
    — with `best`, those at its best validation value, best.pt — the run's values of the changed
    keys); a folder without a completed, checkpointed run is one line, and so are weights that do
    not fit (`refusal`)."""
    from omegaconf import OmegaConf

    from rnnbench.training.build import build
    from rnnbench.training.checkpoint import load_checkpoint, load_into
    from rnnbench.training.record import BEST, CHECKPOINT, read_summary

    changed = changed or {}
    summary = read_summary(run_dir)
    if summary is None:
        raise UserError(f"{run_dir} holds no run record (summary.json); give a trained run's folder")
    if summary.get("status") != "completed":
        raise UserError(f"{run_dir} holds a {summary.get('status')} run; give a completed one")
    if not (run_dir / CHECKPOINT).is_file():
        raise UserError(f"{run_dir} has no {CHECKPOINT} (trained with trainer.checkpoint=false); it kept no weights")
    if best and not (run_dir / BEST).is_file():
        raise UserError(f"{run_dir} has no {BEST}: its best weights are kept with trainer.keep_best=true")
    weights = run_dir / (BEST if best else CHECKPOINT)
    checkpoint = load_checkpoint(weights)
    cfg = OmegaConf.create(checkpoint["config"])
    trained = {key: OmegaConf.select(cfg, key) for key in changed}
    missing = [key for key, value in trained.items() if value is None and not key.startswith("trainer.")]
    if missing:
        raise UserError(
            f"{', '.join(missing)}: not a key of this run's dataset config "
            f"({cfg.dataset.name}: {', '.join(sorted(k for k in cfg.dataset if k != '_target_'))})"
        )
    for key, value in changed.items():
        OmegaConf.update(cfg, key, value, force_add=True)
    built = build(cfg)
    load_into(built.model, checkpoint["model"], "model", weights, refusal=refusal)
    built.model.eval()
    return built, trained


def eval_name(changed: dict) -> str:
    """A file name of the changes: dataset.seq_len=800,dataset.test_max_n=500."""
    text = ",".join(f"{key}={value}" for key, value in sorted(changed.items()))
    return re.sub(r"[^A-Za-z0-9_.=,+-]", "_", text)
