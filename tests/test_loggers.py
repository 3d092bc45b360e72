"""The optional loggers mirror the run record: what TensorBoard and MLflow hold is read back and
compared with metrics.jsonl and summary.json; a resumed run continues its MLflow run; a failing
logger never fails the run."""

from __future__ import annotations

import json

import pytest
from omegaconf import OmegaConf

from rnnbench.errors import UserError
from rnnbench.training import loggers
from rnnbench.training.record import METRICS
from rnnbench.training.trainer import train
from tests.conftest import compose_config
from tests.test_resume import Killed, kill_after_checkpoint

pytest.importorskip("tensorboard")
pytest.importorskip("mlflow")


def rows(run_dir):
    return [json.loads(line) for line in (run_dir / METRICS).read_text().splitlines()]


def mlflow_cfg(tmp_path, *overrides):
    return compose_config("logger=mlflow", f"logger.mlflow.tracking_uri=file:{tmp_path / 'mlruns'}", *overrides)


def mlflow_run(summary):
    from mlflow.tracking import MlflowClient

    identity = summary["loggers"]["mlflow"]
    client = MlflowClient(tracking_uri=identity["tracking_uri"])
    return client, client.get_run(identity["run_id"])


def test_tensorboard_holds_the_recorded_curves_and_test_metrics(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    summary = train(compose_config("logger=tensorboard"), tmp_path / "run")
    log_dir = summary["loggers"]["tensorboard"]["log_dir"]
    assert log_dir == str(tmp_path / "run" / "tensorboard")
    events = EventAccumulator(log_dir).Reload()
    recorded = rows(tmp_path / "run")
    for key in ("train_loss", "grad_norm", "val_mse"):
        logged = [(e.step, e.value) for e in events.Scalars(key)]
        assert logged == [(r["step"], pytest.approx(r[key], rel=1e-6)) for r in recorded]
    assert events.Scalars("test_mse")[-1].value == pytest.approx(summary["final"]["mse"], rel=1e-6)
    assert events.Scalars("params")[-1].value == summary["params"]
    assert "config/text_summary" in events.Tags()["tensors"]


def test_mlflow_holds_params_curves_outcome_and_the_summary(tmp_path):
    summary = train(mlflow_cfg(tmp_path), tmp_path / "run")
    client, run = mlflow_run(summary)
    assert run.info.status == "FINISHED"
    assert run.data.params["model.hidden_size"] == "8" and run.data.params["trainer.lr"] == "0.001"
    assert run.data.tags["model"] == "gru" and run.data.tags["status"] == "completed"
    history = client.get_metric_history(run.info.run_id, "val_mse")
    assert [(m.step, m.value) for m in history] == [
        (r["step"], pytest.approx(r["val_mse"])) for r in rows(tmp_path / "run")
    ]
    assert run.data.metrics["test_mse"] == pytest.approx(summary["final"]["mse"])
    artifact = client.download_artifacts(run.info.run_id, "summary.json", str(tmp_path))
    assert json.loads(open(artifact).read())["final"] == pytest.approx(summary["final"])


def test_a_resumed_run_continues_its_mlflow_run(tmp_path, monkeypatch):
    cfg = mlflow_cfg(tmp_path, "trainer.max_steps=9", "trainer.eval_every=3")
    with monkeypatch.context() as m:
        kill_after_checkpoint(m, at_step=3)
        with pytest.raises(Killed):
            train(cfg, tmp_path / "run")
    summary = train(cfg, tmp_path / "run")
    client, run = mlflow_run(summary)
    assert run.info.status == "FINISHED"
    assert [m.step for m in client.get_metric_history(run.info.run_id, "val_mse")] == [3, 6, 9]
    assert len(client.search_runs([run.info.experiment_id])) == 1


def test_a_pruned_trial_is_finished_in_mlflow(tmp_path, monkeypatch):
    """A tuning trial the pruner stopped ended as it should: FINISHED, its status tag says pruned."""
    from rnnbench.training.trainer import Run

    monkeypatch.setattr(Run, "stop", lambda self, value, solved: "pruned")
    summary = train(mlflow_cfg(tmp_path), tmp_path / "run")
    assert summary["status"] == "pruned"
    _, run = mlflow_run(summary)
    assert run.info.status == "FINISHED" and run.data.tags["status"] == "pruned"


def test_a_diverged_run_is_failed_in_mlflow(tmp_path):
    summary = train(
        mlflow_cfg(tmp_path, "model=rnn", "model.cell.nonlinearity=relu", "trainer.lr=1000", "trainer.grad_clip=null"),
        tmp_path / "run",
    )
    assert summary["status"] == "failed"
    _, run = mlflow_run(summary)
    assert run.info.status == "FAILED" and run.data.tags["reason"].startswith("diverged")


def test_a_failing_logger_is_switched_off_and_the_run_completes(tmp_path, monkeypatch):
    def broken(self, metrics, step):
        raise OSError("disk full")

    monkeypatch.setattr(loggers.TensorBoardLogger, "log_metrics", broken)
    summary = train(
        compose_config("logger=[tensorboard,mlflow]", f"logger.mlflow.tracking_uri=file:{tmp_path / 'm'}"),
        tmp_path / "run",
    )
    assert summary["status"] == "completed"
    assert summary["loggers"]["tensorboard"]["error"] == "OSError: disk full"
    assert "error" not in summary["loggers"]["mlflow"]
    assert len(rows(tmp_path / "run")) == 2


def test_a_missing_package_or_a_bad_logger_node_is_one_line(tmp_path, monkeypatch):
    monkeypatch.setattr(loggers.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(
        UserError,
        match=r"^logger.mlflow needs the mlflow package, which is not installed; "
        r"pip install -c constraints.txt -e .\.\[mlflow\].",
    ):
        train(mlflow_cfg(tmp_path), tmp_path / "run")
    assert not (tmp_path / "run").exists()
    with pytest.raises(UserError, match="^logger must be null or a mapping of named loggers"):
        loggers.build_loggers(OmegaConf.create({"tensorboard": 3}))
