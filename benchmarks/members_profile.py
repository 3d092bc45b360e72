"""Where a batched members step spends its time: torch.profiler over 5 steps of 8 members of one
cell (H = 32, T = 100, batch 64 each, 2 threads), beside one member's step alone
(benchmarks/README.md, "The compiled loop").

    python benchmarks/members_profile.py [gru|lstm|...]
"""

from __future__ import annotations

import contextlib
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from members import configs  # noqa: E402  (benchmarks/members.py: the same runs)

from rnnbench.training.members import BatchedRun  # noqa: E402
from rnnbench.training.trainer import prepared  # noqa: E402


def ms_per_step(step, repeats: int = 10) -> float:
    for _ in range(3):  # warm-up
        step()
    started = time.perf_counter()
    for _ in range(repeats):
        step()
    return (time.perf_counter() - started) / repeats * 1000


def main(cell: str) -> None:
    torch.set_num_threads(2)
    with tempfile.TemporaryDirectory() as folder, contextlib.ExitStack() as stack:
        runs = {
            k: stack.enter_context(prepared(cfg, Path(folder) / f"member_{k}"))
            for k, cfg in enumerate(configs(cell, 32, 8))
        }
        batch = BatchedRun(runs, {})
        problem = batch.check()
        if problem:
            sys.exit(f"{cell}: not batchable ({problem})")
        members = list(runs)
        print(f"{cell}: one batched step of 8 members {ms_per_step(lambda: batch.step(members)):.1f} ms, ", end="")
        print(f"one member alone {ms_per_step(runs[0].step):.1f} ms")
        with torch.profiler.profile() as profile:
            for _ in range(5):
                batch.step(members)
        print(profile.key_averages().table(sort_by="self_cpu_time_total", row_limit=15))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "gru")
