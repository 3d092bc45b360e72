"""Which pruner for the tuner: the same learning-rate search run with each, compared in one run.

    python benchmarks/pruning.py [--models gru,lstm] [--trials 12] [--steps 1000]

For each model, the tuner (hydra/sweeper=tune) searches trainer.lr on a log scale over
[1e-4, 1] on the adding problem (T = 50, 4,000 parameters) with each pruner in turn. The sampler is
random with one seed, so every pruner sees the same sequence of learning rates; what differs is
only where trials stop. Printed per model and pruner: optimizer steps the trials took (and as a
fraction of trials × max_steps), trials pruned, the best learning rate found and its best
validation MSE, and the wall time of the search. No plateau stop here (trainer.patience unset),
so the steps saved are the pruner's alone. The table goes into benchmarks/README.md by hand.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from omegaconf import OmegaConf

PRUNERS = ("none", "median", "successive_halving", "hyperband")


def search(model: str, pruner: str, trials: int, steps: int, folder: Path) -> dict:
    started = time.perf_counter()
    command = [
        sys.executable,
        "-m",
        "rnnbench",
        "train",
        "-m",
        "hydra/sweeper=tune",
        f"model={model}",
        "dataset=adding",
        "dataset.seq_len=50",
        "model.param_budget=4000",
        f"trainer.max_steps={steps}",
        f"trainer.eval_every={steps // 10}",
        "trainer.lr=tag(log, interval(1e-4, 1.0))",
        "hydra.sweeper.sampler=random",
        "hydra.sweeper.seed=0",
        f"hydra.sweeper.n_trials={trials}",
        f"hydra.sweeper.pruner={pruner}",
        "trainer.threads=1",
        "trainer.progress=false",
        f"hydra.sweep.dir={folder}",
    ]
    subprocess.run(command, check=True, capture_output=True, text=True)
    best = OmegaConf.to_container(OmegaConf.load(folder / "best.yaml"))
    return {
        "model": model,
        "pruner": pruner,
        "steps": best["steps"]["taken"],
        "fraction": best["steps"]["fraction"],
        "pruned": best["trials"]["pruned"],
        "failed": best["trials"]["fail"],
        "best lr": best["best_params"]["trainer.lr"],
        "best val mse": best["best_value"],
        "wall s": time.perf_counter() - started,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="gru,lstm")
    parser.add_argument("--trials", type=int, default=12)
    parser.add_argument("--steps", type=int, default=1000)
    options = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for model in options.models.split(","):
            for pruner in PRUNERS:
                rows.append(search(model, pruner, options.trials, options.steps, Path(tmp) / f"{model}_{pruner}"))
                print(rows[-1], file=sys.stderr, flush=True)
    import pandas as pd

    table = pd.DataFrame(rows)
    print(table.to_markdown(index=False, floatfmt=".4g"))


if __name__ == "__main__":
    main()
