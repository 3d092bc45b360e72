"""Shared fixtures: the real configs, composed with Hydra and shrunk to run in seconds on a CPU."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig, OmegaConf

from rnnbench.config import config_dir

# Small enough that a full train() takes about a second.
TINY = ["dataset.seq_len=12", "dataset.n_train=128", "dataset.n_val=32", "dataset.n_test=32",
        "model.hidden_size=8", "model.embedding_dim=4", "trainer.max_steps=6", "trainer.eval_every=3",
        "trainer.batch_size=16", "trainer.progress=false", "trainer.device=cpu"]
TINY_MODEL = [o for o in TINY if not o.startswith("dataset.")]
SIZES = ["dataset.n_train=128", "dataset.n_val=32", "dataset.n_test=32"]
# The dataset part of TINY for each dataset (the MNIST configs are tested on generated digits
# here: tests never download; test_datasets.py covers the MNIST reader against a local server).
TINY_DATA = {
    "adding": TINY[:4], "copy": TINY[:4], "parity": TINY[:4],
    "selective_copy": [*TINY[:4], "dataset.n_tokens=3"],
    "mqar": [*TINY[:4], "dataset.n_pairs=2", "dataset.vocab_size=16"],
    "anbn": ["dataset.max_n=4", "dataset.test_max_n=8", "dataset.n_train=128"],
    "anbncn": ["dataset.max_n=4", "dataset.test_max_n=8", "dataset.n_train=128"],
    "text": ["dataset.seq_len=16", "dataset.eval_streams=4", "dataset.sample_tokens=20"],
    "stock": ["dataset.seq_len=5"],
    "seq_digits": [*SIZES, "dataset.order=row"],
    "seq_mnist": [*SIZES, "dataset.order=row", "dataset.source=digits"],
    "permuted_mnist": [*SIZES, "dataset.order=row", "dataset.source=digits"],
    "reverse": [*TINY[:4], "dataset.min_len=3", "dataset.vocab_size=4"],
    "text_correction": [*SIZES, "dataset.window=8"],
    "moving_shapes": [*SIZES, "dataset.size=8", "dataset.input_frames=3", "dataset.output_frames=2",
                      "dataset.min_size=2", "dataset.max_size=4"],
}


def tiny_overrides(dataset: str) -> list[str]:
    """TINY for any dataset: the model/trainer part and that dataset's own small sizes."""
    return [*TINY_MODEL, *TINY_DATA[dataset]]


def compose_config(*overrides: str, tiny: bool = True) -> DictConfig:
    """The real config with `overrides`; `tiny` first shrinks it (only the model keys the chosen
    model has: a convolutional model has no embedding_dim)."""
    dataset = next((o.split("=", 1)[1] for o in overrides if o.startswith("dataset=")), "adding")
    model = next((o.split("=", 1)[1] for o in overrides if o.startswith("model=")), "gru")
    keys = OmegaConf.load(config_dir() / "model" / f"{model}.yaml").keys()
    small = [o for o in tiny_overrides(dataset) if not o.startswith("model.") or o[6:].split("=")[0] in keys] if tiny else []
    with initialize_config_dir(str(config_dir()), version_base="1.3"):
        return compose("train", overrides=[*small, *overrides])


@pytest.fixture(autouse=True)
def no_internet(monkeypatch):
    """Tests never reach the internet: a connection to anything but this machine fails."""
    import socket

    real_connect = socket.socket.connect

    def connect(self, address):
        host = address[0] if isinstance(address, tuple) else address
        if isinstance(host, str) and host not in ("127.0.0.1", "localhost", "::1") and self.family != socket.AF_UNIX:
            raise OSError(f"tests must not use the network (tried {address})")
        return real_connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", connect)


@pytest.fixture
def cfg_factory():
    return compose_config


def run_cli(*args: str, cwd: Path, timeout: float = 300, **env_vars: str) -> subprocess.CompletedProcess:
    """`rnnbench ARGS` in a subprocess (the installed console script's module), as a user runs it."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "RNNBENCH_OFFLINE": "1", **env_vars}  # no downloads from tests
    return subprocess.run([sys.executable, "-m", "rnnbench", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)
