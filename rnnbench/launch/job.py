"""Hydra's task function for `rnnbench train`: one job of a run or a sweep, around
training.trainer.train(), the function that trains one config and returns its summary.

It finds the run folder Hydra made, gives torch the job's share of the cores when a launcher runs
jobs side by side (sweep.job_threads; `trainer.threads` overrides), takes a cluster's stop signal
at a step's end so that a requeued job resumes where it stopped (training/preemption.py), keeps
a failing job from stopping a sweep, and returns what a value-reading sweeper (Hydra's optuna or nevergrad plugins)
minimises: the last validation value of the task's primary metric, or NaN for a run that did not
complete. rnnbench's tuner (tune.py) reads the record instead: best value, pruned or failed.

Hydra's own copy of the config (`.hydra/`: config.yaml, hydra.yaml, overrides.yaml, which
`rnnbench resume` reads) is written by the trainer with the record, once the folder is known to
take this run (conf/train.yaml sets `hydra.output_subdir: null`): a command refused for a folder
writes nothing in it. A refused folder (`record.FolderRefused`: another process writes there, it
holds a run of another config, its checkpoint cannot be read) stops a sweep too, in one line,
rather than being recorded as a failed run of this sweep.
"""

from __future__ import annotations

import contextlib
import logging
import math
from pathlib import Path

from omegaconf import DictConfig

from rnnbench.config import register_resolvers
from rnnbench.errors import UNWRITABLE, AbortJob, UserError, cannot_write
from rnnbench.launch.sweep import job_threads
from rnnbench.training import preemption
from rnnbench.training.record import HYDRA, SUMMARY, FolderRefused, RunRecord, Summary

log = logging.getLogger("rnnbench")
register_resolvers()  # a launcher's worker imports this module to unpickle run_job, then names the job's folder


def run_job(cfg: DictConfig) -> float:
    """A single run lets an error propagate (the CLI prints a `UserError` as one line). In a sweep,
    any error is recorded as a failed run (summary.json with its reason) and the sweep goes on.
    Torch is imported here, not with the module: `rnnbench train --cfg job` runs no job."""
    import torch
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    from rnnbench.training.trainer import train

    hydra_cfg = HydraConfig.get()
    run_dir = Path(hydra_cfg.runtime.output_dir)
    sweeping = hydra_cfg.mode == RunMode.MULTIRUN
    threads = job_threads(hydra_cfg.launcher) if cfg.trainer.get("threads") is None else None
    if threads is not None and sweeping:
        torch.set_num_threads(threads)
    try:
        with preemption.deferred(preemption.job_signals()):
            outcome = train(cfg, run_dir, hydra_files(cfg, hydra_cfg))
    except Exception as exc:
        outcome = exc
    return settle(outcome, cfg, run_dir, sweeping)


def settle(outcome: dict | Exception, cfg: DictConfig, run_dir: Path, sweeping: bool) -> float:
    """A job's value from its outcome (its summary, or the exception its training raised); also
    for the jobs of a batched run (launch/batched.py)."""
    from rnnbench.training.trainer import failure_reason

    if isinstance(outcome, Exception) and (not sweeping or isinstance(outcome, FolderRefused)):
        with contextlib.suppress(OSError):
            run_dir.rmdir()  # the folder Hydra made for a run refused before its record: only if empty
    if isinstance(outcome, FolderRefused):
        raise AbortJob(outcome) from None  # nothing was written there; the command stops here
    if isinstance(outcome, Exception):
        exc = outcome
        if not sweeping:
            if isinstance(exc, UserError):
                raise AbortJob(exc) from None  # the CLI prints it as one line
            if isinstance(exc, OSError) and exc.errno in UNWRITABLE and exc.filename:
                raise AbortJob(cannot_write(exc)) from None  # a full disk, a read-only folder
            raise exc  # a bug: Hydra shows the traceback
        reason = failure_reason(exc)
        if isinstance(exc, UserError):
            log.error("error: %s", reason)
        else:
            log.error("run failed: %s", reason, exc_info=exc)
        if not (run_dir / SUMMARY).exists():  # failed before train() started its record
            RunRecord(run_dir).write_summary(
                Summary(
                    status="failed",
                    reason=reason,
                    model=cfg.model.get("name"),
                    dataset=cfg.dataset.get("name"),
                    seed=cfg.get("seed"),
                )
            )
        return math.nan
    summary = outcome
    if summary["status"] != "completed":
        return math.nan
    return summary["final_val"].get(summary["task"]["primary_metric"], math.nan)


def hydra_files(cfg: DictConfig, hydra_cfg: DictConfig) -> dict[str, str]:
    """What Hydra writes into `.hydra/` of a job folder, as name → YAML text."""
    from omegaconf import OmegaConf

    return {
        f"{HYDRA}/config.yaml": OmegaConf.to_yaml(cfg),
        f"{HYDRA}/hydra.yaml": OmegaConf.to_yaml({"hydra": hydra_cfg}),
        f"{HYDRA}/overrides.yaml": OmegaConf.to_yaml(hydra_cfg.overrides.task),
    }
