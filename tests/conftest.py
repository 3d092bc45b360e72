"""Shared fixtures: the real configs, composed with Hydra and shrunk to run in seconds on a CPU."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

from rnnbench.config import config_dir

# Small enough that a full train() takes about a second.
TINY = ["dataset.seq_len=12", "dataset.n_train=128", "dataset.n_val=32", "dataset.n_test=32",
        "model.hidden_size=8", "model.embedding_dim=4", "trainer.max_steps=6", "trainer.eval_every=3",
        "trainer.batch_size=16", "trainer.progress=false", "trainer.device=cpu"]


def compose_config(*overrides: str, tiny: bool = True) -> DictConfig:
    with initialize_config_dir(str(config_dir()), version_base="1.3"):
        return compose("train", overrides=[*(TINY if tiny else []), *overrides])


@pytest.fixture
def cfg_factory():
    return compose_config


def run_cli(*args: str, cwd: Path, timeout: float = 300, **env_vars: str) -> subprocess.CompletedProcess:
    """`rnnbench ARGS` in a subprocess (the installed console script's module), as a user runs it."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1", **env_vars}
    return subprocess.run([sys.executable, "-m", "rnnbench", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)
