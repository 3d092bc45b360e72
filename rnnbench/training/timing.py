"""Speed measured alone: the training step of finished runs, timed apart from their training.

    time_runs(run_dirs, rounds=3, min_time=0.05) → writes RUN_DIR/timing.json for each run
    rnnbench time PATH [--rounds R] [--min-time S]     the runs scored on test under PATH

A run's own `tokens_per_s` is what it got while training: with its neighbours on the machine
(joblib workers, another study), and as a batched member a share of K runs' steps. A claim about
speed needs each variant timed alone, on the same machine at the same time. So each run's model
is built again from its config (weights at its seed: speed does not depend on their values) with
its task, optimizer and batch size, and its training step — next batch, forward, loss, backward,
gradient clipping, optimizer step, as `trainer.Run.step` — is timed with
`torch.utils.benchmark` (blocks of calls, median over blocks), in `rounds` passes over all the
runs, alternating their order, so that a slow spell of a shared machine falls on all of them.

Twice: **as built** — the kernels a user gets (torch's fused RNN/LSTM/GRU where the cell has one:
oneDNN's LSTM on the CPU, ATen's GRU and RNN) — and, for a model with a recurrent core, **at equal
implementation**, every recurrence on its reference loop (impl=reference), so that a report can
separate "this cell does less work" from "this library has a faster kernel for it". The record
names the kernel of each (`kernel_of`).

timing.json: format, date, threads, rounds, min_time, batch, tokens per step, and per pass
("as_built", "reference") the kernel, tokens/s (median), ms per step (median, IQR). The report
reads it as the runs.csv columns timed.tokens_per_s, timed.kernel, timed_reference.*.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import torch
from omegaconf import OmegaConf

from rnnbench.errors import UserError
from rnnbench.training.build import build
from rnnbench.training.record import (
    AS_BUILT,
    CONFIG,
    REFERENCE,
    SUMMARY,
    TIMING,
    TIMING_FORMAT,
    RunRecord,
    read_summary,
)


def kernel_of(model: torch.nn.Module) -> str:
    """What runs the model's recurrences: "oneDNN LSTM" (torch's LSTM on the CPU), "ATen GRU",
    "ATen RNN" (torch's own CPU kernels), "cuDNN …", "compiled GRU" (rnnbench's C++ loop, models/
    compiled/), "parallel scan", "reference loop" (joined with " + " where they differ), or
    "torch ops" for a model without a recurrence (TCN, Transformer)."""
    from rnnbench.models import compiled
    from rnnbench.models.recurrent import Recurrent

    names = []
    for module in model.modules():
        if not isinstance(module, Recurrent):
            continue
        if module.impl == "fused":
            kind = type(module.fused).__name__  # RNN, LSTM, GRU
            if next(module.parameters()).is_cuda:
                names.append(f"cuDNN {kind}")
            else:  # CPU torch sends only the LSTM to oneDNN (aten::mkldnn_rnn_layer); GRU and RNN are ATen's
                names.append(
                    f"{'oneDNN' if kind == 'LSTM' and torch.backends.mkldnn.is_available() else 'ATen'} {kind}"
                )
        elif module.impl == "compiled":
            names.append(f"compiled {compiled.kind_of(type(module.layers[0]), {}).upper()}")
        else:
            names.append("parallel scan" if module.impl == "scan" else "reference loop")
    return " + ".join(dict.fromkeys(names)) or "torch ops"


class TimedStep:
    """One run's training step, ready to be called: built from the run's config (`impl` replaced
    where given), a batch of its training split at its batch size, its optimizer."""

    def __init__(self, run_dir: Path, impl: str | None = None):
        cfg = OmegaConf.load(run_dir / CONFIG)
        if impl is not None:
            OmegaConf.update(cfg, "model.impl", impl)
        OmegaConf.update(cfg, "logger", None, force_add=True)
        with torch.random.fork_rng(devices=[]):
            built = build(cfg)
        self.model, self.task, self.optimizer = built.model, built.task, built.optimizer
        self.clip = built.settings.grad_clip
        train = self.task.splits()["train"]
        generator = torch.Generator().manual_seed(0)
        index = torch.randperm(len(train), generator=generator)[: built.settings.batch_size]
        self.x, self.y = train.x[index], train.y[index]
        self.tokens = built.settings.batch_size * self.task.sample_len
        self.kernel = kernel_of(self.model)
        self.model.train()

    def __call__(self) -> None:
        pred, _ = self.model(self.x, None, target=self.y)
        loss = self.task.loss(pred, self.y)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if self.clip is not None:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.clip)
        self.optimizer.step()


def block_times(fn: Callable[[], None], min_time: float) -> list[float]:
    """Seconds per call of fn, one value per block of calls (torch.utils.benchmark chooses the
    block size; at least one block)."""
    from torch.utils.benchmark import Timer

    timer = Timer(stmt="fn()", globals={"fn": fn}, num_threads=torch.get_num_threads())
    return list(timer.blocked_autorange(min_run_time=min_time).times)


def passes_of(run_dir: Path) -> list[str]:
    """The passes a run gets: as built, and at equal implementation where its model has an impl."""
    cfg = OmegaConf.load(run_dir / CONFIG)
    return [AS_BUILT, REFERENCE] if "impl" in cfg.model else [AS_BUILT]


def tested_runs(path: Path) -> list[Path]:
    """The completed runs scored on test at or below `path` (tuning trials never are), sorted."""
    if not path.exists():
        raise UserError(f"no such folder: {path}")
    found = []
    for summary_path in sorted(path.rglob(SUMMARY)):
        summary = read_summary(summary_path.parent)
        if summary and summary.get("status") == "completed" and summary.get("final"):
            found.append(summary_path.parent)
    if not found:
        raise UserError(f"no completed run scored on test under {path}; train some with 'rnnbench train'")
    return found


def time_runs(run_dirs: list[Path], rounds: int = 3, min_time: float = 0.05) -> dict[Path, dict]:
    """Time the training step of each completed run of `run_dirs` alone (module docstring), write
    each run's timing.json and return them by folder. A folder without a completed run is refused
    in one line, before anything is timed."""
    for run_dir in run_dirs:
        summary = read_summary(run_dir)
        if summary is None or summary.get("status") != "completed" or not (run_dir / CONFIG).is_file():
            raise UserError(f"{run_dir} holds no completed run; only completed runs are timed")
    steps = {(d, p): TimedStep(d, None if p == AS_BUILT else REFERENCE) for d in run_dirs for p in passes_of(d)}
    for step in steps.values():
        step()  # warm-up: lazy initialisation, oneDNN primitives, the optimizer's state
    times: dict[tuple[Path, str], list[float]] = {key: [] for key in steps}
    order = list(steps)
    for round_ in range(rounds):
        for key in order if round_ % 2 == 0 else order[::-1]:
            times[key] += block_times(steps[key], min_time)
    date = datetime.now(UTC).isoformat(timespec="seconds")
    records: dict[Path, dict] = {}
    for run_dir in run_dirs:
        record = {
            "format": TIMING_FORMAT,
            "date": date,
            "threads": torch.get_num_threads(),
            "rounds": rounds,
            "min_time": min_time,
        }
        for pass_ in passes_of(run_dir):
            step, seconds = steps[(run_dir, pass_)], times[(run_dir, pass_)]
            q1, median, q3 = statistics.quantiles(seconds, n=4) if len(seconds) > 1 else [seconds[0]] * 3
            record.update({"batch": len(step.x), "tokens_per_step": step.tokens})
            record[pass_] = {
                "kernel": step.kernel,
                "tokens_per_s": step.tokens / median,
                "step_ms": median * 1e3,
                "step_iqr_ms": (q3 - q1) * 1e3,
                "blocks": len(seconds),
            }
        RunRecord(run_dir).write_json(TIMING, record)
        records[run_dir] = record
    return records
