"""What rnnbench adds to Hydra's launchers and sweepers (no torch import here).

Outcomes. The CLI's exit code and its list of failed runs come from the run records on disk
(`outcome_of`), one for each job a launcher returned (app.py), so they are right whichever launcher
ran the jobs — in this process (basic), in worker processes (`hydra/launcher=joblib`), or in other
processes or machines (`submitit_local`, `submitit_slurm`, `slurm`).

Folders. A sweep folder holds one sweep: `SweepFolderCheck` refuses, before the launcher writes
anything, a sweep into a folder whose multirun.yaml has other task overrides (the keys that do not
define a run aside) — the same command again continues the sweep, as it should. Inside it each
job's folder is named by its config (conf/train.yaml: model, dataset, seed and a hash of the
overrides), so a job finds its own earlier run, never another config's.

Threads. Jobs that run side by side must share the cores, not each take all of them (two jobs
of 2 threads on 2 cores ran 3.8× slower than with 1 thread each: benchmarks/README.md, pitfall
2). When `trainer.threads` is null, a job gets ``cores // n_jobs`` torch threads under joblib and
the batched launcher's workers (loky also caps each worker's OpenMP pool so) and ``cpus_per_task`` under submitit and
`hydra/launcher=slurm` when that is set. The record's `threads` says what a run had.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from rnnbench.errors import AbortJob
from rnnbench.training.record import FINISHED, SUMMARY, FolderRefused, changes, nesting, read_summary


def outcome_of(run_dir: Path) -> dict:
    """{"dir", "status", "reason"} of the run record in `run_dir`; an unreadable or still-running
    record counts as incomplete. A tuning trial that diverged is a "diverged trial": the search
    learnt that its value is too large, and goes on."""
    summary = read_summary(run_dir)
    if summary is None:
        status, reason = "unreadable", f"{SUMMARY} cannot be read"
    else:
        status, reason = summary.get("status"), summary.get("reason")
        hparams = summary.get("hparams")
        if (
            status == "failed"
            and summary.get("stop_reason") == "diverged"
            and isinstance(hparams, dict)
            and hparams.get("tuning.trial") is not None
        ):
            status = "diverged trial"  # the tuner tried a learning rate too large: a result, not a failure
    if status == "running":
        reason = "incomplete: the job stopped without finishing its record (killed?); run the sweep again to resume it"
    return {"dir": str(run_dir), "status": status, "reason": reason}


class LostJob(float):
    """What a launcher returns for a job that ended without a result (a cluster job cancelled or
    killed: slurm.py): NaN to a sweeper, as for a failed run; its folder and why, for the list of
    failures (app.outcome). The folder's own record may not exist or may still say "running"."""

    folder: str
    reason: str

    def __new__(cls, folder: str, reason: str) -> LostJob:
        lost = super().__new__(cls, math.nan)
        lost.folder, lost.reason = folder, reason
        return lost


class SweepFolderCheck(Callback):
    """Raises AbortJob: Hydra turns an Exception of a callback into a warning and goes on."""

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        from omegaconf import OmegaConf

        from rnnbench.config import defining_overrides

        folder = Path(str(config.hydra.sweep.dir))
        refused = nesting(folder, sweep=True)
        if refused:
            raise AbortJob(FolderRefused(refused))
        earlier = folder / "multirun.yaml"
        if not earlier.is_file():
            return

        def values(overrides: Any) -> dict[str, str]:  # key → the value as typed
            return {key: line.split("=", 1)[-1] for key, line in defining_overrides(overrides).items()}

        changed = changes(values(OmegaConf.load(earlier).hydra.overrides.task), values(config.hydra.overrides.task))
        if changed:
            raise AbortJob(
                FolderRefused(
                    f"{folder} holds a sweep of other overrides ({changed}); sweep into a new "
                    "folder (leave hydra.sweep.dir out), or repeat its overrides"
                )
            )


def job_threads(launcher: DictConfig | dict, cores: int | None = None) -> int | None:
    """Torch threads for one job of a sweep run by `launcher` (hydra.launcher), or None to keep
    torch's default (jobs run one at a time)."""
    cores = cores or os.cpu_count() or 1
    target = str(launcher.get("_target_", "")).lower()
    if "joblib" in target or ("batched" in target and launcher.get("n_jobs", 1) > 1):
        n_jobs = launcher.get("n_jobs", -1)
        parallel = n_jobs if n_jobs > 0 else max(1, cores + 1 + n_jobs)  # joblib: -1 = all cores, -2 = all but one
        return max(1, cores // parallel)
    if ("submitit" in target or "slurm" in target) and launcher.get("cpus_per_task"):
        return int(launcher.get("cpus_per_task"))
    return None


def run_folder(ret: Any) -> Path:
    """The run folder of a launcher's JobReturn (a lost job's too)."""
    value = ret._return_value  # not .return_value, which re-raises a failed job's exception
    return Path(value.folder if isinstance(value, LostJob) else ret.hydra_cfg.hydra.runtime.output_dir)


def describe_failures(outcomes: list[dict]) -> str:
    """'rnnbench: N of M runs failed:' and a line per failed run (folder: reason); '' when none did."""
    bad = [o for o in outcomes if o["status"] not in (*FINISHED, "diverged trial")]  # a diverged trial is a result
    if not bad:
        return ""
    return "\n".join(
        [f"rnnbench: {len(bad)} of {len(outcomes)} runs failed:", *(f"  {o['dir']}: {o['reason']}" for o in bad)]
    )


def describe_end(outcomes: list[dict]) -> str:
    """Where the runs of a command are and the next command: 'rnnbench: 6 runs in DIR (5 completed,
    1 failed); next: rnnbench report DIR'; '' when it ran none (--cfg, --help)."""
    if not outcomes:
        return ""
    folder = os.path.commonpath([o["dir"] for o in outcomes])
    relative = os.path.relpath(folder)
    folder = folder if relative.startswith("..") else relative  # as typed, where it is below the working folder
    counts: dict[str, int] = {}
    for o in outcomes:
        counts[o["status"]] = counts.get(o["status"], 0) + 1
    states = ", ".join(f"{n} {status}" for status, n in counts.items())
    what = "1 run" if len(outcomes) == 1 else f"{len(outcomes)} runs"
    return f"rnnbench: {what} in {folder} ({states}); next: rnnbench report {folder}"
