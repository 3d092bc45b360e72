"""`rnnbench eval RUN_DIR [OVERRIDES...]`: a trained run scored again on new data of its task.

Above all at other lengths: `dataset.seq_len=800` asks whether a model trained at T = 200 still
adds, copies or counts at four times the length — the real test of "handles longer dependencies".
The run's own config (from its final checkpoint) is taken with OVERRIDES applied; only the data
may change — `dataset.<key>` (not the dataset itself) and `trainer.eval_batch_size`/`device` — and
a change that gives the model other input or output sizes is refused in one line. The test split
of the new data is scored with the run's final weights (those its test numbers come from), beside
the task's baselines on that same data, and written to RUN_DIR/eval/<name>.json, where <name> is
the overrides (`dataset.seq_len=800`). `rnnbench report` shows these as "test at T′" columns and
plots the metric against the evaluation length.

The eval record: format, run, changed (key → new value), trained (key → the run's value), seq_len
(of the new data), samples, metrics, baseline_name, baseline, baselines, at.
"""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime
from pathlib import Path

from rnnbench.errors import UserError

log = logging.getLogger("rnnbench")

DATA_ONLY = ("trainer.eval_batch_size", "trainer.device")  # besides dataset.<key>


def parse_overrides(overrides: list[str]) -> dict[str, object]:
    """key → value of OVERRIDES, each one that changes only the data (else a one-line UserError)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException

    try:
        parsed = OverridesParser.create().parse_overrides(overrides)
    except HydraException as exc:
        raise UserError(f"cannot read the overrides {' '.join(overrides)}: {str(exc).splitlines()[0]}") from None
    changed = {}
    for override in parsed:
        key = override.get_key_element()
        if override.is_sweep_override() or override.is_delete() or override.is_add():
            raise UserError(f"{override.input_line}: eval takes plain key=value overrides (one value each)")
        if any(part.startswith("_") for part in key.split(".")):  # _target_, _partial_: what is built, not data
            raise UserError(f"{override.input_line}: eval changes the data's settings, not what builds it (_target_ …)")
        if key == "dataset" or not (key.startswith("dataset.") or key in DATA_ONLY):
            raise UserError(
                f"{override.input_line} would change more than the data; eval re-scores the trained "
                f"model on new data of its task: dataset.<key>=… (e.g. dataset.seq_len=800), "
                f"{', '.join(DATA_ONLY)}"
            )
        changed[key] = override.value()
    if not changed:
        raise UserError("eval needs what to change, e.g. rnnbench eval RUN_DIR dataset.seq_len=800")
    return changed


def eval_run(run_dir: Path, overrides: list[str]) -> dict:
    """Score the run in `run_dir` on the data OVERRIDES describe; write and return the eval record."""
    import torch

    from rnnbench.training.record import EVAL_DIR, EVAL_FORMAT, RunRecord
    from rnnbench.training.trainer import evaluate

    changed = parse_overrides(overrides)
    built, trained = load_trained(
        run_dir,
        changed,
        refusal=(
            f"{' '.join(overrides)} gives the model other input or output sizes than it was trained with; "
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


def load_trained(run_dir: Path, changed: dict | None = None, refusal: str | None = None):
    """(the run's parts built from its config with `changed` applied and its final weights loaded,
    the run's values of the changed keys); a folder without a completed, checkpointed run is one
    line, and so are weights that do not fit (`refusal`)."""
    from omegaconf import OmegaConf

    from rnnbench.training.build import build
    from rnnbench.training.checkpoint import load_checkpoint, load_into
    from rnnbench.training.record import CHECKPOINT, read_summary

    changed = changed or {}
    summary = read_summary(run_dir)
    if summary is None:
        raise UserError(f"{run_dir} holds no run record (summary.json); give a trained run's folder")
    if summary.get("status") != "completed":
        raise UserError(f"{run_dir} holds a {summary.get('status')} run; give a completed one")
    if not (run_dir / CHECKPOINT).is_file():
        raise UserError(f"{run_dir} has no {CHECKPOINT} (trained with trainer.checkpoint=false); it kept no weights")
    checkpoint = load_checkpoint(run_dir / CHECKPOINT)
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
    load_into(built.model, checkpoint["model"], "model", run_dir / CHECKPOINT, refusal=refusal)
    built.model.eval()
    return built, trained


def eval_name(changed: dict) -> str:
    """A file name of the changes: dataset.seq_len=800,dataset.test_max_n=500."""
    text = ",".join(f"{key}={value}" for key, value in sorted(changed.items()))
    return re.sub(r"[^A-Za-z0-9_.=,+-]", "_", text)
