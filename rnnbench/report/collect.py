"""Find run records under some paths and load them into pandas: one row per run, one row per
evaluation. A record that cannot be trusted (unreadable, unknown format, still `running`, missing
keys) is skipped with a one-line reason; failed runs are kept, with their reasons."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from rnnbench.errors import UserError

REACH_FLOOR = 1e-3  # gradient_reach counts the steps whose gradient is at least this fraction of the last one's
GRADS = "grad_per_step.json"  # rnnbench.diagnostics.FILE (not imported: that module needs torch)
from rnnbench.record import FORMAT, METRICS, SUMMARY, SUMMARY_KEYS

HPARAM = "hp."  # prefix of the flattened config columns in the runs table
OTHER_BASELINE = "other_baseline."  # + name + "." + metric
ANALYSIS = "analysis."  # + key: numbers a task adds after training (e.g. max_n_generalised)


@dataclass
class Runs:
    runs: pd.DataFrame  # one row per run: identity, sizes, speed, final.*, best.*, baseline(_val).*, hp.*
    curves: pd.DataFrame  # one row per evaluation: dir, step, train_loss, val_<metric>, …
    grads: dict[str, list[dict]] = field(default_factory=dict)  # dir → grad_per_step.json rows (first and last)
    skipped: list[str] = field(default_factory=list)  # records not loaded: "<dir>: <reason>"
    warnings: list[str] = field(default_factory=list)  # records loaded with a defect


BENCH_CSV = "bench.csv"


def find_records(paths: list[Path]) -> list[Path]:
    """Folders that hold a summary.json, at or below each path."""
    for path in paths:
        if not path.exists():
            raise UserError(f"report path '{path}' does not exist")
    found = {summary.parent for path in paths for summary in path.rglob(SUMMARY)}
    if not found and not find_benches(paths):
        raise UserError(f"no run records ({SUMMARY}) or bench results ({BENCH_CSV}) under "
                        f"{', '.join(map(str, paths))}; make some with 'rnnbench train' or 'rnnbench bench'")
    return sorted(found)


def find_benches(paths: list[Path]) -> list[Path]:
    """Folders that hold the results of `rnnbench bench`, at or below each path."""
    return sorted({csv.parent for path in paths for csv in path.rglob(BENCH_CSV)})


def load_runs(paths: list[Path]) -> Runs:
    rows, curves, grads, skipped, warnings = [], [], {}, [], []
    for run_dir in find_records(paths):
        summary = _read_summary(run_dir)
        if isinstance(summary, str):
            skipped.append(f"{run_dir}: {summary}")
            continue
        rows.append(_run_row(run_dir, summary))
        evals, bad_lines = _read_metrics(run_dir)
        if bad_lines:
            warnings.append(f"{run_dir}/{METRICS}: {bad_lines} unreadable line(s) ignored")
        curves.extend({"dir": str(run_dir), **row} for row in evals)
        measured = _read_grads(run_dir)
        if measured:
            grads[str(run_dir)] = measured
            rows[-1]["grad_reach"] = gradient_reach(measured[-1]["norms"])
    return Runs(pd.DataFrame(rows), pd.DataFrame(curves), grads, skipped, warnings)


def filter_runs(runs: Runs, where: list[str]) -> Runs:
    """Keep the runs matching every `KEY=VALUE[,VALUE…]` of `where`; KEY is a record field (model,
    dataset, seed, status) or a config key (dataset.seq_len, trainer.lr)."""
    frame = runs.runs
    for condition in where:
        key, sep, values = condition.partition("=")
        column = key if key in frame.columns else HPARAM + key
        if not sep or not key or column not in frame.columns:
            known = sorted({"model", "dataset", "seed", "status"} | {c[len(HPARAM):] for c in frame.columns
                                                                       if c.startswith(HPARAM)})
            raise UserError(f"--where {condition!r}: expected KEY=VALUE with KEY one of: {', '.join(known)}")
        wanted = set(values.split(","))
        frame = frame[frame[column].map(lambda v: as_typed(v) in wanted)]
    if frame.empty:
        raise UserError(f"no runs match --where {' '.join(where)}")
    keep = set(frame["dir"])
    curves = runs.curves[runs.curves["dir"].isin(keep)] if len(runs.curves) else runs.curves
    return Runs(frame, curves, {d: g for d, g in runs.grads.items() if d in keep}, runs.skipped, runs.warnings)


def as_typed(value) -> str:
    """A value as typed on the command line: 100 for 100.0, true for True."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _read_summary(run_dir: Path) -> dict | str:
    """The summary, or why it is skipped."""
    try:
        summary = json.loads((run_dir / SUMMARY).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        return f"{SUMMARY} is unreadable ({type(exc).__name__}); skipped"
    if not isinstance(summary, dict) or summary.get("format") != FORMAT:
        return f"not an rnnbench run record (format {summary.get('format') if isinstance(summary, dict) else '?'!r}, expected {FORMAT!r}); skipped"
    status = summary.get("status")
    if status == "running":
        return "incomplete (status 'running': killed, or still training); skipped"
    if status == "failed":
        return summary if {"model", "dataset", "reason"} <= summary.keys() else "failed run without model/dataset/reason; skipped"
    if status != "completed":
        return f"unknown status {status!r}; skipped"
    missing = [k for k in SUMMARY_KEYS if k not in summary]
    if missing:
        return f"missing {', '.join(missing)}; skipped"
    return summary


def _run_row(run_dir: Path, s: dict) -> dict:
    task = s.get("task") or {}
    row = {"dir": str(run_dir), "status": s["status"], "reason": s.get("reason"),
           "dataset": s.get("dataset"), "model": s.get("model"), "seed": s.get("seed"),
           "params": s.get("params"), "core_params": s.get("core_params"), "flops_per_step": s.get("flops_per_step"),
           "tokens_per_s": s.get("tokens_per_s"), "infer_tokens_per_s": s.get("infer_tokens_per_s"),
           "step_mb": (s.get("memory") or {}).get("step_mb"),
           "grad_first_over_last": (s.get("grad_per_step") or {}).get("first_over_last"),
           "wall_s": s.get("wall_s"), "steps": s.get("steps"),
           "steps_to_target": s.get("steps_to_target"), "seconds_to_target": s.get("seconds_to_target"),
           "baseline_name": s.get("baseline_name"), "primary_metric": task.get("primary_metric"),
           "solved_at": task.get("solved_at"), "metric_directions": task.get("metrics"), "kind": task.get("kind")}
    for part in ("final", "best", "baseline", "baseline_val"):
        row.update({f"{part}.{k}": v for k, v in (s.get(part) or {}).items()})
    for name, scores in (s.get("baselines") or {}).items():  # further reference predictors (stock: linear AR)
        if name != s.get("baseline_name"):
            row.update({f"{OTHER_BASELINE}{name}.{k}": v for k, v in scores.items()})
    row.update({f"{ANALYSIS}{k}": v for k, v in (s.get("analysis") or {}).items()
                if isinstance(v, (int, float)) and not isinstance(v, bool)})
    row.update({HPARAM + k: v for k, v in (s.get("hparams") or {}).items()})
    return row


def gradient_reach(norms: list[float], floor: float = REACH_FLOOR) -> int:
    """How many steps back the gradient still counts: the number of t < T with
    ‖∂L/∂h_t‖ ≥ floor · ‖∂L/∂h_T‖. Unlike a ratio it stays finite when the gradient underflows to
    0 (a tanh RNN at T = 200 in float32)."""
    last = norms[-1] if norms else 0.0
    return int(sum(g >= floor * last for g in norms[:-1])) if last > 0 else 0


def _read_grads(run_dir: Path) -> list[dict]:
    """The first and the last measurement of grad_per_step.json (diagnostics.py), if any."""
    path = run_dir / GRADS
    if not path.is_file():
        return []
    try:
        rows = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return []
    rows = [r for r in rows if isinstance(r, dict) and isinstance(r.get("norms"), list)] if isinstance(rows, list) else []
    return [rows[0], rows[-1]] if len(rows) > 1 else rows


def _read_metrics(run_dir: Path) -> tuple[list[dict], int]:
    path = run_dir / METRICS
    if not path.is_file():
        return [], 0
    rows, bad = [], 0
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            bad += 1
            continue
        if isinstance(row, dict) and "step" in row:
            rows.append(row)
        else:
            bad += 1
    return rows, bad
