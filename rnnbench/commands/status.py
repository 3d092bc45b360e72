"""`rnnbench status PATH`: where a run, a sweep or a study stands, read from the records on disk.

Counts by state — completed, pruned, failed, running, stopped — and, for each run still training,
its step of max_steps, its rate over its last evaluations and the time it needs at that rate; an
estimate for the whole folder; the failures with their reasons. A record that says "running" is
running if a process holds its folder's lock (record.RunRecord.lock: the trainer keeps an flock
on it, seen in /proc/locks of the machine it runs on), or — written on another machine (the
record's `host`), whose locks are not visible here, as for a cluster job on another node — if its
record was written in the last RECENT_S seconds (the trainer writes it at every evaluation; said
so in the line); else "stopped": killed, or its job requeued —
the same command resumes it. A sweep folder's multirun.yaml tells how many jobs the
sweep has (so jobs not started yet count too).
"""

from __future__ import annotations

import contextlib
import math
import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path

from rnnbench.errors import UserError
from rnnbench.training.record import METRICS, SUMMARY, UNREADABLE, parse_json, read_summary

STATES = ("completed", "pruned", "failed", "running", "stopped", "unreadable")
RECENT_S = 600  # a "running" record written this recently, its lock not visible here, counts as running


@dataclass
class RunState:
    dir: Path
    state: str
    reason: str | None = None
    step: int = 0
    max_steps: int | None = None
    steps_per_s: float | None = None  # over its last evaluations (wall clock)
    updated_s: float | None = None  # seconds since its record was last written
    lock_seen: bool = True  # its folder's lock is held on this machine (else: judged by updated_s)

    @property
    def remaining_s(self) -> float | None:
        if self.max_steps is None or not self.steps_per_s:
            return None
        return max(self.max_steps - self.step, 0) / self.steps_per_s


def held(folder: Path) -> bool | None:
    """Whether a process holds the folder's lock (a trainer writing there), read from /proc/locks
    (taking the lock to test it could refuse a trainer starting at that moment); None where that
    file is not there."""
    try:
        locks = Path("/proc/locks").read_text(encoding="ascii")
    except OSError:
        return None
    info = os.stat(folder)
    mine = f"{os.major(info.st_dev):02x}:{os.minor(info.st_dev):02x}:{info.st_ino}"
    return any(
        line.split()[1] == "FLOCK" and mine in line.split() for line in locks.splitlines() if len(line.split()) > 5
    )


def read_state(run_dir: Path) -> RunState:
    summary = read_summary(run_dir)
    status = summary.get("status") if summary else None
    hparams = summary.get("hparams") if summary else None
    steps, max_steps = (
        (summary or {}).get("steps") or 0,
        (hparams if isinstance(hparams, dict) else {}).get("trainer.max_steps"),
    )
    if status not in STATES or not isinstance(steps, int) or not isinstance(max_steps, int | None):
        return RunState(run_dir, "unreadable", f"{SUMMARY} cannot be read (a field of the wrong type, or no status)")
    updated_s = time.time() - (run_dir / SUMMARY).stat().st_mtime
    state = status
    lock = None
    if status == "running":
        lock = held(run_dir)
        here = summary.get("host") == socket.gethostname()  # its lock would be visible here
        state = "running" if lock or (not here and updated_s < RECENT_S) else "stopped"
    run = RunState(
        run_dir,
        state,
        summary.get("reason"),
        steps,
        max_steps,
        updated_s=updated_s,
        lock_seen=bool(status != "running" or lock),
    )
    if state == "stopped":
        run.reason = "its process is gone (killed, or its job requeued); the same command resumes it"
    if state == "running":
        run.steps_per_s = _rate(run_dir / METRICS)
    return run


def _rate(metrics: Path, window: int = 5) -> float | None:
    """Steps per wall second over the last `window` evaluations of metrics.jsonl."""
    with contextlib.suppress(*UNREADABLE, KeyError, TypeError):
        rows = [parse_json(line) for line in metrics.read_text(encoding="utf-8").splitlines()[-window - 1 :]]
        if len(rows) >= 2 and rows[-1]["wall_s"] > rows[0]["wall_s"]:
            return (rows[-1]["step"] - rows[0]["step"]) / (rows[-1]["wall_s"] - rows[0]["wall_s"])
        if rows and rows[-1]["wall_s"] > 0:
            return rows[-1]["step"] / rows[-1]["wall_s"]
    return None


def planned_jobs(folder: Path) -> int | None:
    """How many jobs the sweep in `folder` has (its multirun.yaml's sweep overrides), or None."""
    from omegaconf import OmegaConf

    path = folder / "multirun.yaml"
    if not path.is_file():
        return None
    with contextlib.suppress(Exception):  # a file of another Hydra version, a sweeper of its own
        from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
        from hydra.core.override_parser.overrides_parser import OverridesParser

        config = OmegaConf.load(path)
        if "tune" in str(OmegaConf.select(config, "hydra.sweeper._target_") or ""):
            return int(OmegaConf.select(config, "hydra.sweeper.n_trials"))
        parsed = OverridesParser.create().parse_overrides([str(o) for o in config.hydra.overrides.task])
        return sum(len(batch) for batch in BasicSweeper.split_arguments(parsed, None))
    return None


def folder_status(path: Path) -> tuple[list[RunState], int]:
    """The runs at or under `path`, and the jobs planned by its sweeps that have no folder yet."""
    if not path.exists():
        raise UserError(f"status path '{path}' does not exist")
    runs = [read_state(p.parent) for p in sorted(path.rglob(SUMMARY)) if "report" not in p.relative_to(path).parts]
    not_started = 0
    for sweep in sorted({path, *(p.parent for p in path.rglob("multirun.yaml"))}):
        planned = planned_jobs(sweep)
        if planned is not None:
            started = sum(1 for r in runs if r.dir.parent == sweep)
            not_started += max(planned - started, 0)
    if not runs and not not_started:
        raise UserError(f"no run records ({SUMMARY}) under {path}")
    return runs, not_started


def describe(path: Path) -> str:
    """The status of `path` as text."""
    runs, not_started = folder_status(path)
    counts = {state: sum(r.state == state for r in runs) for state in STATES}
    parts = [f"{n} {state}" for state, n in counts.items() if n] + (
        [f"{not_started} not started"] if not_started else []
    )
    lines = [f"{path}: {len(runs) + not_started} runs — {', '.join(parts)}"]
    running = [r for r in runs if r.state == "running"]
    for r in running:
        rate = f"{r.steps_per_s:,.1f} steps/s" if r.steps_per_s else "rate not yet known"
        left = f", about {_duration(r.remaining_s)} left" if r.remaining_s is not None else ""
        of = f" of {r.max_steps:,}" if r.max_steps else ""
        where = (
            "" if r.lock_seen else f" (no process here; record written {_duration(r.updated_s)} ago: another machine?)"
        )
        lines.append(f"  running  {_short(r.dir, path)}: step {r.step:,}{of}, {rate}{left}{where}")
    for r in runs:
        if r.state in ("failed", "stopped", "unreadable"):
            lines.append(f"  {r.state:8} {_short(r.dir, path)}: {r.reason}")
    eta = _eta(runs, not_started)
    if eta is not None:
        lines.append(
            f"estimate: about {_duration(eta)} until every run has finished, at the running runs' rates "
            f"with {len(running)} at a time"
        )
    return "\n".join(lines) + "\n"


def _eta(runs: list[RunState], not_started: int) -> float | None:
    """The longest running run's time left, plus the runs not started (or stopped) taking, in
    waves of as many as run now, each as long as a running run takes in all."""
    running = [r for r in runs if r.state == "running" and r.remaining_s is not None]
    if not running:
        return None
    waiting = not_started + sum(r.state == "stopped" for r in runs)
    whole = [r.max_steps / r.steps_per_s for r in running if r.max_steps]
    per_run = sum(whole) / len(whole) if whole else 0.0
    return max(r.remaining_s for r in running) + math.ceil(waiting / len(running)) * per_run


def _short(folder: Path, root: Path) -> str:
    return str(folder.relative_to(root)) if folder != root and folder.is_relative_to(root) else str(folder)


def _duration(seconds: float) -> str:
    seconds = round(seconds)
    if seconds < 90:
        return f"{seconds} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
