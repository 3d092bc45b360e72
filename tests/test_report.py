"""The reporter on fabricated records (known numbers, broken and partial records) and on real ones."""
from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest

from rnnbench.errors import UserError
from rnnbench.record import FORMAT, METRICS, SUMMARY
from rnnbench.report import write_report
from rnnbench.report.collect import load_runs
from rnnbench.train import train
from tests.conftest import compose_config


def fake_run(root: Path, name: str, model: str, seed: int, mse: float, *, status="completed",
             seq_len=100, hidden=128, steps_to_target=None, reason=None, curve=(0.2, 0.1)) -> Path:
    run = root / name
    run.mkdir(parents=True)
    summary = {
        "format": FORMAT, "status": status, "reason": reason, "model": model, "dataset": "adding",
        "seed": seed, "params": 1000 + hidden, "core_params": 900 + hidden, "tokens_per_s": 5000.0 + seed,
        "wall_s": 10.0, "steps": 100, "final": {"mse": mse} if status == "completed" else {},
        "best": {"mse": mse}, "baseline": {"mse": 0.1667}, "baseline_val": {"mse": 0.1650},
        "baseline_name": "predict 1.0", "steps_to_target": steps_to_target,
        "task": {"primary_metric": "mse", "metrics": {"mse": "min"}, "solved_at": 0.01},
        "hparams": {"seed": seed, "dataset.seed": seed, "dataset.seq_len": seq_len,
                    "model.hidden_size": hidden, "model.name": model, "trainer.lr": 0.001,
                    "optimizer.lr": 0.001, "model.cell._target_": f"rnnbench.models.{model}.Cell"},
    }
    (run / SUMMARY).write_text(json.dumps(summary))
    (run / METRICS).write_text("".join(json.dumps({"step": 50 * (i + 1), "val_mse": v}) + "\n"
                                       for i, v in enumerate(curve)))
    return run


@pytest.fixture
def records(tmp_path) -> Path:
    root = tmp_path / "sweep"
    fake_run(root, "0", "gru", 0, 0.010, steps_to_target=400)
    fake_run(root, "1", "gru", 1, 0.030)
    fake_run(root, "2", "lstm", 0, 0.020, steps_to_target=600)
    fake_run(root, "3", "lstm", 1, 0.040, steps_to_target=800)
    fake_run(root, "4", "lstm", 2, math.nan, status="failed", reason="diverged: loss became nan at step 7")
    running = fake_run(root, "5", "rnn", 0, 0.1)
    (running / SUMMARY).write_text((running / SUMMARY).read_text().replace('"completed"', '"running"'))
    truncated = fake_run(root, "6", "rnn", 1, 0.1)
    (truncated / SUMMARY).write_text((truncated / SUMMARY).read_text()[:40])
    partial_metrics = fake_run(root, "7", "gru", 2, 0.020)
    with open(partial_metrics / METRICS, "a") as f:
        f.write('{"step": 150, "val_m')  # a line cut short
    (root / "not_a_run").mkdir()
    (root / "not_a_run" / "notes.txt").write_text("hello")
    return root


def test_tables_aggregate_over_seeds(records, tmp_path):
    markdown = write_report([records], tmp_path / "out")
    table = pd.read_csv(tmp_path / "out" / "report.csv").set_index("model")
    assert table.loc["gru", "n"] == 3 and table.loc["gru", "failed"] == 0
    assert table.loc["gru", "mse_mean"] == pytest.approx(0.02)
    assert table.loc["gru", "mse_std"] == pytest.approx(0.01)
    assert table.loc["lstm", "n"] == 2 and table.loc["lstm", "failed"] == 1
    assert table.loc["lstm", "mse_mean"] == pytest.approx(0.03)
    assert table.loc["lstm", "solved"] == 2 and table.loc["lstm", "steps_to_target"] == pytest.approx(700)
    assert table.loc["gru", "baseline_mse"] == pytest.approx(0.1667)
    assert "rnn" not in table.index, "the running and the unreadable record are skipped"
    assert "| gru " in markdown and "0.02 ± 0.01" in markdown and "0.1667" in markdown
    assert "6 runs (5 completed, 1 failed); 2 records skipped" in markdown
    assert "1 unreadable line(s) ignored" in markdown
    assert "diverged: loss became nan at step 7" in markdown
    assert "incomplete (status 'running'" in markdown and "unreadable" in markdown


def test_report_writes_every_format(records, tmp_path):
    out = tmp_path / "out"
    write_report([records], out)
    for name in ("report.md", "report.csv", "runs.csv", "report.html", "curves_adding.png"):
        assert (out / name).stat().st_size > 0, name
    assert (out / "curves_adding.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    page = (out / "report.html").read_text()
    assert "<table" in page and "data:image/png;base64," in page
    assert len(pd.read_csv(out / "runs.csv")) == 6  # the failed run too, with its reason


def test_varied_knobs_become_grouping_columns(tmp_path):
    root = tmp_path / "runs"
    for i, (T, hidden) in enumerate([(50, 64), (50, 64), (200, 64), (200, 128)]):
        fake_run(root, str(i), "gru", i, 0.01 * (i + 1), seq_len=T, hidden=hidden)
    write_report([root], tmp_path / "out")
    table = pd.read_csv(tmp_path / "out" / "report.csv")
    assert {"dataset.seq_len", "model.hidden_size"} <= set(table.columns)
    assert "trainer.lr" not in table.columns and "seed" not in table.columns
    assert len(table) == 3 and sorted(table["n"]) == [1, 1, 2]


def test_a_path_without_records_is_a_clear_error(tmp_path):
    with pytest.raises(UserError, match="no run records"):
        load_runs([tmp_path])
    with pytest.raises(UserError, match="does not exist"):
        load_runs([tmp_path / "nope"])


def test_report_over_real_runs(tmp_path):
    for model in ("rnn", "gru"):
        for seed in (0, 1):
            train(compose_config(f"model={model}", f"seed={seed}"), tmp_path / "runs" / f"{model}{seed}")
    markdown = write_report([tmp_path / "runs"], tmp_path / "out")
    table = pd.read_csv(tmp_path / "out" / "report.csv").set_index("model")
    assert list(table.index) == ["gru", "rnn"] and (table["n"] == 2).all()
    assert table.loc["gru", "params"] == 3 * 8 * (2 + 8) + 6 * 8 + 8 + 1  # core + head
    assert "## adding (T=12)" in markdown


def test_model_keys_split_runs_of_one_model_only(tmp_path):
    """Models differ in their own keys by definition: that is no reason for a column. The same
    model run at two sizes is."""
    root = tmp_path / "runs"
    fake_run(root, "0", "gru", 0, 0.01, hidden=64)
    fake_run(root, "1", "lstm", 0, 0.02, hidden=128)
    write_report([root], tmp_path / "a")
    assert "model.hidden_size" not in pd.read_csv(tmp_path / "a" / "report.csv").columns
    fake_run(root, "2", "lstm", 1, 0.03, hidden=32)
    write_report([root], tmp_path / "b")
    table = pd.read_csv(tmp_path / "b" / "report.csv")
    assert "model.hidden_size" in table.columns and len(table) == 3
