"""Measure the pitfalls rnnbench's code is written around, as ratios taken in one run:

 1 indexing     a Python loop over time that indexes x[:, t] of a tensor needing grad: its backward
                allocates a full-size zero gradient per step, O(T²) in total; `unbind` once is O(T)
                (models/recurrent.run_cell). Backward time of the indexing loop over the unbind
                loop, at two lengths: a ratio that grows with T is the quadratic term.
 2 threads      two training processes side by side on a 2-core machine, each with torch's
                default thread count (2) against each with 1 thread (sweep.job_threads): total
                seconds of both, same work.
 3 log-space    the minGRU paper's log-space scan (logcumsumexp) against the sequential loop of
                the same recurrence (models/scan.py keeps to real space), train step.

    python benchmarks/pitfalls.py        # prints a Markdown table; benchmarks/README.md quotes it

Nothing else should run on the machine meanwhile.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time

import torch
from torch.utils.benchmark import Timer


def median_seconds(fn, min_time: float = 1.0) -> float:
    return statistics.median(Timer(stmt="fn()", globals={"fn": fn}).blocked_autorange(min_run_time=min_time).times)


def loop_backward(T: int, index: bool, B: int = 16, H: int = 64) -> float:
    """Seconds of forward + backward through an h_t = tanh(x_t + W h_{t−1}) loop."""
    x = torch.randn(B, T, H, requires_grad=True)
    w = torch.randn(H, H) / H**0.5

    def step():
        h, outs = torch.zeros(B, H), []
        steps = (x[:, t] for t in range(T)) if index else x.unbind(1)
        for x_t in steps:
            h = torch.tanh(x_t + h @ w)
            outs.append(h)
        torch.stack(outs, 1).sum().backward()

    return median_seconds(step)


def indexing() -> list[dict]:
    rows = []
    for T in (100, 1000):
        indexed, unbound = loop_backward(T, True), loop_backward(T, False)
        rows.append(
            {
                "pitfall": f"1 index x[:, t] in the loop vs unbind once, T={T}",
                "ratio": indexed / unbound,
                "detail": f"forward + backward, B 16, H 64: {indexed * 1e3:.1f} vs {unbound * 1e3:.1f} ms",
            }
        )
    return rows


JOB = """
import sys, time, torch
torch.set_num_threads(int(sys.argv[1]))
torch.manual_seed(0)
model = torch.nn.GRU(32, 128, batch_first=True)
opt = torch.optim.Adam(model.parameters())
x = torch.randn(64, 100, 32)
for _ in range(30):
    opt.zero_grad()
    model(x)[0].sum().backward()
    opt.step()
"""


def threads() -> dict:
    """Two processes at once, each running 30 GRU training steps (H 128, T 100, batch 64)."""
    seconds = {}
    for per_job in (2, 1):
        start = time.perf_counter()
        jobs = [subprocess.Popen([sys.executable, "-c", JOB, str(per_job)]) for _ in range(2)]
        for job in jobs:
            job.wait()
        seconds[per_job] = time.perf_counter() - start
    return {
        "pitfall": "2 two jobs side by side: 2 threads each vs 1 thread each",
        "ratio": seconds[2] / seconds[1],
        "detail": f"both jobs' wall time, 30 GRU train steps each (H 128, T 100, B 64): "
        f"{seconds[2]:.1f} vs {seconds[1]:.1f} s (includes starting Python and torch)",
    }


def log_space(B: int = 64, T: int = 1000, H: int = 128) -> dict:
    """h_t = a_t h_{t−1} + b_t with a = σ(−k), b = σ(k)·g: log-space scan vs the loop."""
    k, g = torch.randn(B, T, H, requires_grad=True), torch.rand(B, T, H, requires_grad=True) + 0.1

    def logspace():
        log_a, log_b = -torch.nn.functional.softplus(k), -torch.nn.functional.softplus(-k) + torch.log(g)
        a_star = torch.cumsum(log_a, dim=1)
        h = torch.exp(a_star + torch.logcumsumexp(log_b - a_star, dim=1))
        h.sum().backward()

    def loop():
        a, b = torch.sigmoid(-k), torch.sigmoid(k) * g
        h, outs = torch.zeros(B, H), []
        for a_t, b_t in zip(a.unbind(1), b.unbind(1)):
            h = a_t * h + b_t
            outs.append(h)
        torch.stack(outs, 1).sum().backward()

    scan, sequential = median_seconds(logspace), median_seconds(loop)
    return {
        "pitfall": f"3 log-space scan (logcumsumexp) vs its sequential loop, T={T}",
        "ratio": scan / sequential,
        "detail": f"forward + backward, B {B}, H {H}: {scan * 1e3:.0f} vs {sequential * 1e3:.0f} ms",
    }


def main() -> None:
    import pandas as pd

    rows = [*indexing(), threads(), log_space()]
    info = f"{torch.__version__}, {torch.get_num_threads()} threads, {time.strftime('%Y-%m-%d')}"
    print(f"torch {info}\n")
    print(pd.DataFrame(rows).to_markdown(index=False, floatfmt=".2f"))


if __name__ == "__main__":
    main()
