"""The batched training step in ms (BatchedRun.step: forward, backward, each member's update), for
comparing two versions of the batched path (benchmarks/README.md, "Batching applied from outside").

    python benchmarks/members_step.py > after.json
    git worktree add /tmp/before REV && (cd /tmp && PYTHONPATH=/tmp/before python $PWD/benchmarks/members_step.py)

Run the two alternately, a few times each, and compare the best time of each point: on a shared
machine one run's times spread by up to 2×. Adding problem, T = 100, batch 64, 2 threads; best
of 5 × 5 steps after 3 warm-up steps. Prints {point: ms} as JSON.
"""

from __future__ import annotations

import contextlib
import json
import tempfile
import time
from pathlib import Path

import torch

from rnnbench.config import compose

try:
    from rnnbench.training.members import BatchedRun
    from rnnbench.training.trainer import prepared
except ImportError:  # the package layout before 2026-12-06, to measure a commit from then
    from rnnbench.members import BatchedRun
    from rnnbench.train import prepared

POINTS = [(cell, 32, 8) for cell in ("rnn", "gru", "mingru", "lstm_peephole", "lstm_cifg", "lstm_ln")] + [
    ("gru", 16, 8),
    ("gru", 64, 8),
    ("gru", 128, 8),
    ("gru", 32, 4),
    ("gru", 32, 16),
    ("gru", 32, 32),
]


def step_ms(cell: str, width: int, count: int, folder: Path) -> float:
    cfgs = [
        compose(
            f"model={cell}",
            "dataset=adding",
            "dataset.seq_len=100",
            f"model.hidden_size={width}",
            "trainer.batch_size=64",
            "trainer.progress=false",
            f"seed={seed}",
        )
        for seed in range(count)
    ]
    with contextlib.ExitStack() as stack:
        runs = {
            k: stack.enter_context(prepared(cfg, folder / f"{cell}{width}_{count}_{k}")) for k, cfg in enumerate(cfgs)
        }
        batch = BatchedRun(runs, {})
        reason = batch.check()
        if reason:
            raise SystemExit(f"{cell}: not batched: {reason}")
        active = list(runs)
        for _ in range(3):
            batch.step(active)
        best = float("inf")
        for _ in range(5):
            started = time.perf_counter()
            for _ in range(5):
                batch.step(active)
            best = min(best, (time.perf_counter() - started) / 5)
        return 1e3 * best


def main() -> None:
    torch.set_num_threads(2)
    with tempfile.TemporaryDirectory() as tmp:
        times = {f"{c} H={w} K={k}": step_ms(c, w, k, Path(tmp)) for c, w, k in POINTS}
    print(json.dumps(times))


if __name__ == "__main__":
    main()
