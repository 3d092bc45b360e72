"""Speed measured alone (training/timing.py, `rnnbench time`): the kernel a model runs on is named,
each run's training step is timed on its kernels and on reference loops, and the report's speed
claims read those timings instead of the speeds the runs trained at."""

from __future__ import annotations

import json

import pytest
import torch

from rnnbench.training.build import build
from rnnbench.training.timing import kernel_of
from tests.conftest import TINY, compose_config


@pytest.mark.parametrize(
    "model, overrides, kernel",
    [
        ("lstm", [], "oneDNN LSTM" if torch.backends.mkldnn.is_available() else "ATen LSTM"),
        ("gru", [], "compiled GRU"),
        ("gru", ["model.impl=fused"], "ATen GRU"),
        ("lstm_peephole", [], "compiled LSTM"),
        ("rnn", [], "compiled RNN"),
        ("rnn", ["model.impl=fused"], "ATen RNN"),
        ("gru", ["model.impl=reference"], "reference loop"),
        ("mingru", [], "parallel scan"),
        ("lstm_ln", [], "reference loop"),
        ("tcn", [], "torch ops"),
    ],
)
def test_the_kernel_a_model_runs_on_is_named(model, overrides, kernel):
    built = build(compose_config(f"model={model}", "dataset=adding", *overrides))
    assert kernel_of(built.model) == kernel


@pytest.mark.slow
def test_runs_are_timed_alone_and_speed_claims_read_the_timings(in_process, tmp_path):
    code, _, err = in_process("train", "-m", "model=gru,lstm", "seed=0,1,2", "hydra.sweep.dir=sweep", *TINY)
    assert code == 0, err[-2000:]
    code, out, err = in_process("time", "sweep", "--rounds", "2", "--min-time", "0.01")
    assert code == 0, err
    assert out.count("tok/s (compiled GRU); ") == 3 and out.count("(reference loop)") == 6
    assert out.strip().endswith("6 runs timed alone; next: rnnbench report sweep")
    timings = [json.loads(p.read_text()) for p in (tmp_path / "sweep").rglob("timing.json")]
    assert len(timings) == 6
    for timing in timings:
        assert timing["format"] == "rnnbench.timing/1" and timing["rounds"] == 2
        for name in ("as_built", "reference"):
            assert timing[name]["tokens_per_s"] == pytest.approx(
                timing["tokens_per_step"] / (timing[name]["step_ms"] / 1e3)
            )
    code, out, err = in_process("report", "sweep")
    assert code == 0, err
    claims = (tmp_path / "sweep" / "report" / "claims.csv").read_text()
    assert "timed alone after training: compiled GRU vs oneDNN LSTM" in claims
    assert "GRU trains faster than LSTM at equal implementation" in claims
    runs = (tmp_path / "sweep" / "report" / "runs.csv").read_text().splitlines()[0].split(",")
    assert {"timed.tokens_per_s", "timed.kernel", "timed_reference.tokens_per_s"} <= set(runs)


def test_time_refuses_a_folder_without_tested_runs_in_one_line(in_process, tmp_path):
    (tmp_path / "empty").mkdir()
    code, _, err = in_process("time", "empty")
    assert code == 2 and err.strip() == (
        "rnnbench: error: no completed run scored on test under empty; train some with 'rnnbench train'"
    )
    code, _, err = in_process("time", "empty", "--rounds", "0")
    assert code == 2 and err.strip() == "rnnbench: error: --rounds must be between 1 and 100, got 0"
