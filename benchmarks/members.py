"""Batched members against runs one after another, measured in one process (benchmarks/README.md,
"Batched members").

    python benchmarks/members.py [--cells gru,lstm,...] [--members 1,4,8,16,32] [--widths 16,32,64,128]
                                 [--steps 10] [--threads 2] [--sweep]

For each cell, width H and member count K, on the adding problem (T = 100, batch 64, Adam): the
seconds of `--steps` training steps of one single run (rnnbench's Run.step, on the run's fastest
path: torch's fused kernel where the cell has one) times K, against the same number of steps of
one batched run of K members (training/members.py BatchedRun.step: stacked weights, one forward and backward,
each member's own clip and Adam step). Best of 3 repetitions each. Printed: the speed-up (K
sequential / batched), the activations one batched step saves over one single run's (memory
grows ~K×), and what hydra/launcher=batched with batching=auto does (members.slower_batched).
Then, per cell, the crossover: the largest width at which K = 8 still wins.

--sweep instead measures the end-to-end comparison: the same 8 jobs (GRU, H = 32, seeds 0–7, 300 steps) as a
sweep on the basic launcher, on joblib with 2 workers, and on the batched launcher with 1 and 2 workers
(wall seconds).
"""

from __future__ import annotations

import argparse
import contextlib
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from rnnbench.config import compose
from rnnbench.training.members import BatchedRun, slower_batched
from rnnbench.training.memory import SavedTensors
from rnnbench.training.trainer import prepared

CELLS = ("rnn", "lstm", "gru", "mingru", "lstm_peephole", "lstm_cifg", "lstm_ln")


def configs(cell: str, width: int, count: int):
    return [
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


def best_of(repeats: int, work) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return min(times)


def measure(cell: str, width: int, count: int, steps: int, folder: Path) -> dict:
    with contextlib.ExitStack() as stack:
        runs = {
            k: stack.enter_context(prepared(cfg, folder / f"{cell}_{width}_{count}_{k}"))
            for k, cfg in enumerate(configs(cell, width, count))
        }
        single = runs[0]
        single.model.train()

        def single_steps():
            for _ in range(steps):
                single.step()

        single_steps()  # warm-up
        one = best_of(3, single_steps)
        saved_single = SavedTensors(single.model.parameters())
        with saved_single.counting():
            x, y, _ = single.next_batch()
            single.task.loss(single.model(x)[0], y)
        batch = BatchedRun(runs, {})
        problem = batch.check()
        if problem:
            return {"cell": cell, "H": width, "K": count, "speed-up": float("nan"), "note": problem}
        active = list(runs)

        def batched_steps():
            for _ in range(steps):
                batch.step(active)

        batched_steps()
        together = best_of(3, batched_steps)
        saved = SavedTensors(p for w in batch.weights.values() for p in w.values())
        with saved.counting():
            batches = [runs[i].next_batch() for i in active]
            batch.forward(active, torch.cat([b[0] for b in batches]), torch.cat([b[1] for b in batches]))
        auto = "one after another" if slower_batched(single, count) else "batched"
        return {
            "cell": cell,
            "H": width,
            "K": count,
            "sequential s": count * one,
            "batched s": together,
            "speed-up": count * one / together,
            "activations ×": saved.bytes / saved_single.bytes,
            "auto": auto,
        }


def sweep_times(folder: Path) -> list[dict]:
    out = []
    common = [
        "train",
        "-m",
        "model=gru",
        "dataset=adding",
        "dataset.seq_len=100",
        "model.hidden_size=32",
        "seed=0,1,2,3,4,5,6,7",
        "trainer.max_steps=300",
        "trainer.eval_every=100",
        "trainer.progress=false",
    ]
    for i, (name, launcher) in enumerate(
        (
            ("basic", []),
            ("joblib ×2", ["hydra/launcher=joblib", "hydra.launcher.n_jobs=2"]),
            ("batched", ["hydra/launcher=batched"]),
            ("batched ×2", ["hydra/launcher=batched", "hydra.launcher.n_jobs=2"]),
        )
    ):
        started = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "rnnbench", *common, *launcher, f"hydra.sweep.dir={folder / str(i)}"],
            check=True,
            capture_output=True,
            text=True,
        )
        out.append({"launcher": name, "wall s": time.perf_counter() - started})
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", default=",".join(CELLS))
    parser.add_argument("--members", default="1,4,8,16,32")
    parser.add_argument("--widths", default="16,32,64,128")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--sweep", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    import pandas as pd

    with tempfile.TemporaryDirectory() as tmp:
        if args.sweep:
            print(pd.DataFrame(sweep_times(Path(tmp))).round(1).to_string(index=False))
            return
        rows = []
        for cell in args.cells.split(","):
            for width in map(int, args.widths.split(",")):
                for count in map(int, args.members.split(",")):
                    rows.append(measure(cell, width, count, args.steps, Path(tmp)))
                    print(rows[-1], file=sys.stderr, flush=True)
    table = pd.DataFrame(rows)
    pd.set_option("display.width", 200)
    print(table.pivot_table(index=["cell", "H"], columns="K", values="speed-up").round(2).to_string())
    print()
    print(table[table.K > 1].pivot_table(index=["cell", "H"], columns="K", values="activations ×").round(1).to_string())
    k8 = table[(table.K == 8) & (table["speed-up"] > 1)]
    print("\ncrossover (largest H where K=8 wins):", k8.groupby("cell").H.max().to_dict())
    grouped = table[table.K > 1]
    print("\nbatching=auto:")
    print(grouped.pivot_table(index="cell", columns="H", values="auto", aggfunc="first").to_string())
    lost = grouped[(grouped.auto == "batched") & (grouped["speed-up"] < 1)]
    print(
        "auto slower than one after another at:",
        lost[["cell", "H", "K", "speed-up"]].round(2).to_dict("records") or "nowhere",
    )


if __name__ == "__main__":
    main()
