"""A non-editable install (a built wheel) finds its configs and trains from any folder."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import TINY

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_wheel_ships_the_configs(tmp_path):
    wheels, site, elsewhere = tmp_path / "wheels", tmp_path / "site", tmp_path / "elsewhere"
    elsewhere.mkdir()
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", wheels, REPO], check=True)
    (wheel,) = wheels.glob("rnnbench-*.whl")
    subprocess.run([*pip, "install", "--no-deps", "--target", site, wheel], check=True)
    assert (site / "rnnbench" / "conf" / "train.yaml").is_file()
    assert (site / "rnnbench" / "models" / "compiled" / "recurrent_loop.cpp").is_file()  # built on first use
    env = {**os.environ, "PYTHONPATH": str(site)}  # the wheel's copy shadows the editable checkout
    code = (
        "import rnnbench.config as c, sys; print(c.config_dir()); "
        "sys.exit(__import__('rnnbench.cli').cli.main(sys.argv[1:]))"
    )
    run = subprocess.run(
        [sys.executable, "-c", code, "train", "model=lstm", *TINY],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines()[0] == str(site / "rnnbench" / "conf")
    assert list((elsewhere / "outputs" / "runs").glob("*_lstm_adding_s0/summary.json"))
    # the tuner's and the batched and SLURM launchers' plugin modules ship too, where Hydra looks for plugins
    assert (site / "hydra_plugins" / "rnnbench_tuner" / "tuner.py").is_file()
    assert (site / "hydra_plugins" / "rnnbench_batched" / "launcher.py").is_file()
    assert (site / "hydra_plugins" / "rnnbench_slurm" / "launcher.py").is_file()
    assert (site / "rnnbench" / "conf" / "hydra" / "launcher" / "batched.yaml").is_file()
    tune = subprocess.run(
        [
            sys.executable,
            "-c",
            code,
            "train",
            "-m",
            "hydra/sweeper=tune",
            "trainer.lr=interval(0.001,0.01)",
            "hydra.sweeper.n_trials=1",
            "hydra.sweep.dir=search",
            *TINY,
        ],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert tune.returncode == 0, tune.stderr
    assert (elsewhere / "search" / "best.yaml").is_file()
