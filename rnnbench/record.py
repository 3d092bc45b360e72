"""The run record: one folder per run, readable without rnnbench.

    config.yaml     the resolved config (every default and override filled in)
    metrics.jsonl   one JSON object per evaluation: step, train loss, gradient norm, val_<metric>…
    summary.json    identity, sizes, speed, final/best metrics, baseline, status (`SUMMARY_KEYS`)
    checkpoint.pt   the resume point, rewritten at every evaluation; at the end, the final state (checkpoint.py)
    best.pt         model weights at the best validation value (trainer.keep_best=true)
    train.log       the log (written by Hydra's logging config)

Every file is written whole to a temporary file in the same folder, flushed, fsynced and renamed
over the target, so a reader (or a crash) never sees half a file. metrics.jsonl is rewritten whole
at each evaluation for the same reason; it has one line per evaluation, so this stays cheap.
"""
from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any, Callable

FORMAT = "rnnbench.run/1"
CONFIG, METRICS, SUMMARY, CHECKPOINT, BEST = "config.yaml", "metrics.jsonl", "summary.json", "checkpoint.pt", "best.pt"
# What summary.json always holds (the reporter relies on these).
SUMMARY_KEYS = ("format", "status", "reason", "model", "dataset", "seed", "params", "tokens_per_s",
                "wall_s", "final", "best", "baseline")


def atomic_write(path: Path, write: Callable[[Any], None], binary: bool = False) -> None:
    """Call write(file) on a temporary file beside `path`, then rename it over `path`."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb" if binary else "w", encoding=None if binary else "utf-8") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write(path, lambda f: f.write(text))


def to_json(obj: Any) -> str:
    """JSON with non-finite floats as null (JSON has no NaN), stable key order."""
    return json.dumps(_finite(obj), indent=2, sort_keys=True)


def _finite(obj: Any) -> Any:
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    return obj


def flatten(tree: dict, prefix: str = "") -> dict[str, Any]:
    """{"a": {"b": 1}} → {"a.b": 1}."""
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, name + "."))
        else:
            flat[name] = value
    return flat


class RunRecord:
    """Writer for one run folder."""

    def __init__(self, run_dir: Path):
        self.dir = Path(run_dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.rows: list[dict] = []

    def write_config(self, yaml_text: str) -> None:
        atomic_write_text(self.dir / CONFIG, yaml_text)

    def log_eval(self, row: dict) -> None:
        self.rows.append(row)
        text = "".join(json.dumps(_finite(r), sort_keys=True) + "\n" for r in self.rows)
        atomic_write_text(self.dir / METRICS, text)

    def write_summary(self, summary: dict) -> None:
        atomic_write_text(self.dir / SUMMARY, to_json({"format": FORMAT, **summary}) + "\n")

    def save_checkpoint(self, state: dict, name: str = CHECKPOINT) -> None:
        import torch

        atomic_write(self.dir / name, lambda f: torch.save(state, f), binary=True)
