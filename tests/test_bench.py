"""`rnnbench bench` is tested for what it computes — FLOPs against torch.utils.flop_counter, the
ratios, the files and columns it writes, the report that reads them — never for speed."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from rnnbench.cli import main
from rnnbench.commands import bench
from rnnbench.report import bench as report_bench
from rnnbench.report import write_report

H = 16
GATES = {"rnn": 1, "gru": 3, "lstm": 4}


def counted(fn) -> int:
    with FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops()


@pytest.mark.parametrize("model", ["rnn", "gru", "lstm"])
@pytest.mark.parametrize("impl", ["torch", "fused", "reference"])
def test_forward_flops_per_token_are_the_gate_matmuls(model, impl):
    """2·G·H·(I + H) per token (I = H); the reference cell's matmuls, counted by torch, agree."""
    core = bench.build_core(model, impl, H)
    case = bench.Case(model, impl, 7, 3, H)
    assert bench.forward_flops(core, case, "cpu") == 2 * GATES[model] * H * (H + H)
    if impl == "reference":
        x = torch.randn(1, 7, H)
        assert counted(lambda: core(x)) / 7 == 2 * GATES[model] * H * (H + H)


@pytest.mark.parametrize("model", ["mingru", "minlstm"])
def test_scan_cells_count_their_input_projection(model):
    core = bench.build_core(model, "scan", H)
    x = torch.randn(1, 5, H)
    gates = 2 if model == "mingru" else 3
    assert bench.forward_flops(core, bench.Case(model, "scan", 5, 1, H), "cpu") == 2 * gates * H * H
    assert counted(lambda: core(x)) / 5 == 2 * gates * H * H


@pytest.mark.parametrize("model", ["rnn", "gru", "lstm", "mingru"])
def test_a_train_step_is_three_forwards_when_the_input_gradient_is_counted(model):
    """The table's train FLOPs = 3 × forward (bench.py); torch's count of forward + backward agrees
    when the input needs its gradient too (matmuls only), but for ∂L/∂h_0: h_0 = 0 is a constant,
    which saves one W_hh product per sequence."""
    core = bench.build_core(model, "reference", H)
    x = torch.randn(2, 6, H, requires_grad=True)
    forward_only = counted(lambda: core(x))

    def step():
        y, _ = core(x)
        y.sum().backward()

    assert counted(step) == 3 * forward_only - 2 * GATES.get(model, 0) * H * H * 2


def test_every_cell_is_measured_against_onednns_lstm_flop_for_flop():
    """issue 36's target: a cell's train GFLOP/s at least 1/1.5 of the fused LSTM's, same case."""
    case = {"T": 100, "batch": 64, "hidden": 32, "fwd_tokens_per_s": 1.0, "train_tokens_per_s": 1.0}
    rows = [
        {"model": "lstm", "impl": "fused", "train_gflops": 30.0, "fwd_gflops": 20.0, **case},
        {"model": "gru", "impl": "compiled", "train_gflops": 21.0, "fwd_gflops": 20.0, **case},
        {"model": "gru", "impl": "fused", "train_gflops": 9.0, "fwd_gflops": 10.0, **case},
        {"model": "gru", "impl": "reference", "train_gflops": 8.0, "fwd_gflops": 8.0, **case},
    ]
    table = report_bench.ratios(pd.DataFrame(rows)).set_index(["ratio", "model"])
    assert table.loc[("compiled GFLOP/s / oneDNN LSTM's", "gru"), "train"] == pytest.approx(0.7)
    assert table.loc[("compiled GFLOP/s / oneDNN LSTM's", "gru"), "met"]  # 0.7 ≥ 1/1.5
    assert not table.loc[("fused GFLOP/s / oneDNN LSTM's", "gru"), "met"]  # ATen's GRU: 0.3
    assert ("fused GFLOP/s / oneDNN LSTM's", "lstm") not in table.index  # not against itself


def test_ratios_pair_implementations_and_apply_targets_where_they_belong():
    rows = []
    for T in (10, 1000):
        for impl, speed in (("torch", 100.0), ("fused", 95.0), ("reference", 50.0)):
            rows.append(
                {
                    "model": "lstm",
                    "impl": impl,
                    "T": T,
                    "batch": 64,
                    "hidden": 128,
                    "train_tokens_per_s": speed,
                    "fwd_tokens_per_s": 2 * speed,
                }
            )
        for impl, speed in (("scan", 600.0 if T == 1000 else 40.0), ("reference", 100.0)):
            rows.append(
                {
                    "model": "mingru",
                    "impl": impl,
                    "T": T,
                    "batch": 64,
                    "hidden": 128,
                    "train_tokens_per_s": speed,
                    "fwd_tokens_per_s": speed,
                }
            )
    table = report_bench.ratios(pd.DataFrame(rows)).set_index(["ratio", "model", "T"])
    assert table.loc[("fused / raw torch.nn", "lstm", 10), "train"] == pytest.approx(0.95)
    assert table.loc[("fused / raw torch.nn", "lstm", 10), "met"]
    assert table.loc[("reference / fused", "lstm", 1000), "train"] == pytest.approx(50 / 95)
    assert pd.isna(table.loc[("reference / fused", "lstm", 1000), "met"])
    assert (
        table.loc[("scan / own loop", "mingru", 1000), "met"]
        and table.loc[("scan / own loop", "mingru", 1000), "target"] == 5.0
    )
    assert pd.isna(table.loc[("scan / own loop", "mingru", 10), "target"])  # the target is at T = 1000


def test_growth_is_the_log_log_slope_of_time_against_T():
    rows = [
        {"model": "lstm", "impl": "reference", "T": T, "batch": 64, "hidden": 128, "train_ms": 0.5 * T}
        for T in (10, 100, 1000)
    ]
    rows += [
        {"model": "mingru", "impl": "scan", "T": T, "batch": 1, "hidden": 128, "train_ms": 3.0 * T**0.25}
        for T in (10, 100, 1000)
    ]
    slopes = report_bench.growth(pd.DataFrame(rows)).set_index("model")
    assert slopes.loc["lstm", "slope"] == pytest.approx(1.0)
    assert slopes.loc["mingru", "slope"] == pytest.approx(0.25)
    assert slopes.loc["lstm", "train ms at longest T"] == 500.0


def test_step_memory_counts_weights_gradients_and_what_autograd_saves():
    core = bench.build_core("gru", "reference", H)
    weights = sum(p.numel() * 4 for p in core.parameters())
    short, long = (bench.step_memory_mb(core, torch.randn(4, t, H)) for t in (10, 40))
    assert short * 2**20 > 2 * weights
    assert (long * 2**20 - 2 * weights) == pytest.approx(4 * (short * 2**20 - 2 * weights), rel=0.05)


@pytest.mark.slow
def test_bench_writes_its_table_and_the_report_reads_it(tmp_path, capsys):
    out = tmp_path / "bench"
    code = main(
        [
            "bench",
            "--models",
            "lstm,mingru",
            "--seq-lens",
            "3,4",
            "--batch",
            "2",
            "--hidden",
            "4",
            "--min-time",
            "0.01",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert "matmul peak" in printed and "scan / own loop" in printed and "fused / raw torch.nn" in printed
    table = pd.read_csv(out / report_bench.CSV)
    assert {
        "model",
        "impl",
        "T",
        "batch",
        "hidden",
        "params",
        "flops_per_token",
        "fwd_ms",
        "fwd_iqr_ms",
        "fwd_tokens_per_s",
        "fwd_gflops",
        "fwd_peak_frac",
        "train_ms",
        "train_iqr_ms",
        "train_tokens_per_s",
        "train_gflops",
        "train_peak_frac",
        "train_mb",
    } <= set(table.columns)
    assert sorted(set(zip(table.model, table.impl))) == [
        ("lstm", "compiled"),
        ("lstm", "fused"),
        ("lstm", "reference"),
        ("lstm", "torch"),
        ("mingru", "reference"),
        ("mingru", "scan"),
    ]
    assert len(table) == 12 and (table.train_tokens_per_s > 0).all() and (table.train_peak_frac > 0).all()
    expected = table["T"] * table.batch / (table.train_ms / 1e3)  # train_ms is rounded in the CSV
    assert ((table.train_tokens_per_s - expected).abs() <= 1e-6 * expected).all()
    meta = json.loads((out / report_bench.META).read_text())
    assert meta["matmul_peak_gflops"] > 0 and meta["threads"] == torch.get_num_threads() and meta["cases"] == 12
    assert (out / bench.PLOT).stat().st_size > 0

    markdown = write_report([tmp_path], tmp_path / "report")
    assert f"## bench {out} — " in markdown and "| scan / own loop" in markdown
    assert f"## bench {out}: growth of train-step time with T" in markdown
    assert (tmp_path / "report" / "bench_0.png").stat().st_size > 0
    assert "data:image/png;base64" in (tmp_path / "report" / "report.html").read_text()


@pytest.mark.parametrize(
    "args, message",
    [
        (["--models", "convlstm"], "model convlstm is not a sequence model"),
        (["--models", "nope"], "unknown model 'nope'; choose from: "),
        (
            ["--models", "lstm", "--impls", "scan"],
            "model lstm has none of the impls scan; it has: torch, fused, compiled, reference",
        ),
        (["--impls", "fast"], "unknown impl fast; choose from: torch, fused, compiled, scan, reference, auto"),
        (["--min-time", "0"], "--min-time must be in (0, 60] seconds, got 0.0"),
        (["--threads", "0"], "--threads must be between 1 and 1024, got 0"),
        (["--device", "tpu"], "--device tpu is not available here; use cpu or cuda[:N]"),
    ],
)
def test_bad_bench_arguments_are_one_line(args, message, tmp_path, capsys):
    assert main(["bench", *args, "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("rnnbench: error: ") and message in err and err.count("\n") == 1
