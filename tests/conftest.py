"""Shared fixtures: the real configs, composed as `rnnbench train` composes them, made tiny with
`debug=tiny` (conf/debug/tiny.yaml); tasks built once per test module; the CLI in-process.

The default `pytest` run is for edits (`-m "not slow"` in pyproject.toml); end-to-end runs through
subprocesses, launchers and the full model × dataset matrix are marked `slow` (`pytest -m slow`;
CI runs both). Tests run on every core (pytest-xdist, `-n auto`), one torch thread each: the
workers would otherwise fight over the cores (benchmarks/README.md, pitfall 2); `-n 0` runs them
in this process, for one test at a time.
"""

from __future__ import annotations

import os
import re

if os.environ.get("PYTEST_XDIST_WORKER"):  # before torch is imported, here and in the processes tests start
    os.environ.setdefault("OMP_NUM_THREADS", "1")

import copy  # noqa: E402
import functools  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402
from omegaconf import DictConfig  # noqa: E402

from rnnbench import cli  # noqa: E402
from rnnbench.config import compose  # noqa: E402
from rnnbench.training.build import build_task  # noqa: E402

TINY = ["debug=tiny"]


def pytest_configure(config):
    """Build the compiled recurrent loop (rnnbench/models/compiled/) before any test: once per
    machine, ~40–70 s on 2 cores; xdist's workers wait for the one that builds it, so no test (nor
    a subprocess one starts, with its timeout) pays for it midway."""
    from rnnbench.models import compiled

    compiled.available()


# The reason of a run that diverged for real: which non-finite value its loss or gradient norm
# reached first depends on the CPU's kernels (nan here, inf on AVX-512), so tests assert the kind.
DIVERGED = re.compile(r"diverged: (loss|gradient norm) became (nan|inf|-inf) at step \d+")


def compose_config(*overrides: str, tiny: bool = True) -> DictConfig:
    """The real config with `overrides`, after `debug=tiny` unless tiny=False. A dataset whose
    files would be downloaded (MNIST) reads its offline stand-in, the generated digits: tests
    never touch the network. Each composition is made once; callers get their own copy."""
    return copy.deepcopy(_composed((*(TINY if tiny else []), *overrides)))


@functools.cache
def _composed(overrides: tuple[str, ...]) -> DictConfig:
    cfg = compose(*overrides)
    if cfg.dataset.get("source") == "mnist":
        cfg = compose(*overrides, "dataset.source=digits")
    return cfg


@functools.cache
def _cached_task(dataset: str, overrides: tuple[str, ...]):
    return build_task(compose_config(f"dataset={dataset}", *overrides))


def cached_task(dataset: str, *overrides: str):
    """The task of `dataset=NAME` (after `overrides`), built once per process: for tests that
    read a task without changing it."""
    return _cached_task(dataset, overrides)


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


@pytest.fixture
def own_logging():
    """Hydra points the loggers at each job's train.log and closes it after; put back what the
    other tests log to."""
    import logging

    loggers = [logging.getLogger()] + [logging.getLogger(n) for n in list(logging.root.manager.loggerDict)]
    saved = [(lg, lg.handlers[:], lg.level, lg.propagate) for lg in loggers]
    yield
    for lg, handlers, level, propagate in saved:
        lg.handlers[:] = handlers
        lg.setLevel(level)
        lg.propagate = propagate


@pytest.fixture
def in_process(tmp_path, monkeypatch, capsys, own_logging):
    """`rnnbench ARGS` run by cli.main in this process, in tmp_path: (exit code, stdout, stderr).
    The same code path as the console script, without starting Python and torch again."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("RNNBENCH_OFFLINE", "1")  # no downloads from tests

    def run(*args: str) -> tuple[int, str, str]:
        try:
            code = cli.main(list(args))
        except SystemExit as exc:  # --help: Hydra and argparse exit, as in a real process
            code = exc.code or 0
        out, err = capsys.readouterr()
        return code, out, err

    return run


def run_cli(*args: str, cwd: Path, timeout: float = 300, **env_vars: str) -> subprocess.CompletedProcess:
    """`rnnbench ARGS` in a subprocess (the installed console script's module), as a user runs it."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "RNNBENCH_OFFLINE": "1", **env_vars}  # no downloads from tests
    return subprocess.run(
        [sys.executable, "-m", "rnnbench", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )
