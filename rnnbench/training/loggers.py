"""Optional mirrors of the run record in experiment trackers (extras: rnnbench[tensorboard],
rnnbench[mlflow], or rnnbench[loggers] for both):

    logger=tensorboard            event files in <run folder>/tensorboard (tensorboard --logdir outputs)
    logger=mlflow                 an MLflow run in a local file store, <output_root>/mlruns
    logger=[tensorboard,mlflow]   both

The run folder stays the source of truth: a logger copies what the trainer records — the config,
each evaluation row of metrics.jsonl at its step, the final test metrics, the record's numbers
(the `Summary` fields the report tabulates: sizes, speeds, steps) and the status — and nothing is
read back from it. A logger that fails while the run goes on is switched
off with a warning and its error noted in summary.json under ``loggers``; the run does not fail
for it. Each logger's identity (TensorBoard's folder, MLflow's run id) is kept there too, so a
resumed run writes on into the same folder and the same MLflow run.

Each conf/logger/NAME.yaml holds a mapping {name: logger config} (as lightning-hydra-template's
do), so choosing several merges them. A logger is a class with `start`, `log_metrics` and
`finish` (see `Logger`); adding one is a class here, or anywhere importable, plus a YAML file.
"""

from __future__ import annotations

import importlib.util
import logging
import math
import os
import time
from pathlib import Path
from typing import Any

from rnnbench.errors import UserError
from rnnbench.training.record import FINISHED, SUMMARY, TENSORBOARD, Summary, flatten

log = logging.getLogger("rnnbench")


def _require(module: str, choice: str) -> None:
    """`module` importable, else one line naming the logger's extra (named as the module)."""
    if importlib.util.find_spec(module) is None:
        raise UserError(
            f"{choice} needs the {module} package, which is not installed; "
            f"pip install -c constraints.txt -e '.[{module}]'"
        )


def _numbers(values: dict[str, Any]) -> dict[str, float]:
    """The finite numbers of a flat dict (booleans and None left out)."""
    return {
        k: float(v)
        for k, v in values.items()
        if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
    }


def _outcome(summary: Summary) -> dict[str, float]:
    """What a finished run adds to its curves: test metrics (as test_<metric>) and the record's
    numbers (its report columns: sizes, speeds, steps, memory)."""
    return {**{f"test_{k}": v for k, v in _numbers(summary.final).items()}, **_numbers(summary.columns())}


class Logger:
    """The interface. `start` returns the logger's identity (JSON-able), which comes back as
    `previous` when the run resumes."""

    def start(self, run_dir: Path, summary: Summary, config: dict, previous: dict | None) -> dict:
        raise NotImplementedError

    def log_metrics(self, metrics: dict[str, float], step: int) -> None:
        raise NotImplementedError

    def finish(self, summary: Summary) -> None:
        raise NotImplementedError


class TensorBoardLogger(Logger):
    """Scalars under their metrics.jsonl names (train_loss, val_mse, …) at each evaluation step,
    the config as text, and at the end test_<metric> plus an hparams entry (scalar config values
    against the test metrics) for TensorBoard's HParams tab."""

    def __init__(self, log_dir: str | None = None):
        _require("tensorboard", "logger.tensorboard")
        self.log_dir = log_dir
        self.writer = None

    def start(self, run_dir, summary, config, previous):
        from torch.utils.tensorboard import SummaryWriter

        log_dir = Path(self.log_dir) if self.log_dir else Path(run_dir) / TENSORBOARD
        self.writer = SummaryWriter(log_dir=str(log_dir))
        if previous is None:
            import yaml

            self.writer.add_text("config", "```yaml\n" + yaml.safe_dump(config, sort_keys=False) + "```")
        self.hparams = {k: v for k, v in flatten(config).items() if isinstance(v, (int, float, str, bool))}
        return {"log_dir": str(log_dir)}

    def log_metrics(self, metrics, step):
        for name, value in _numbers(metrics).items():
            self.writer.add_scalar(name, value, step)
        self.writer.flush()

    def finish(self, summary):
        outcome = _outcome(summary)
        for name, value in outcome.items():
            self.writer.add_scalar(name, value, summary.steps or 0)
        tests = {f"hparam/{k}": v for k, v in outcome.items() if k.startswith("test_")}
        if tests:
            self.writer.add_hparams(self.hparams, tests, run_name=".")
        self.writer.close()


class MLflowLogger(Logger):
    """One MLflow run per rnnbench run, in `experiment`: the flattened config as params, tags
    model/dataset/seed/status and the run folder, metrics at each evaluation step, and at the end
    test_<metric>, sizes, speeds and summary.json as an artifact; status FINISHED (completed, pruned) or FAILED.

    `tracking_uri` defaults to a local file store (``file:`` + a folder). MLflow 3 keeps that
    store in maintenance mode and refuses it unless MLFLOW_ALLOW_FILE_STORE is set; it is set
    here for file stores (unless you set it yourself), because a folder per run is what parallel
    jobs can write without a database server. Any other URI (sqlite:///…, http://…) is used as is.
    MLflow's usage telemetry (which would reach the network) is switched off unless you set
    MLFLOW_DISABLE_TELEMETRY yourself.
    """

    def __init__(self, tracking_uri: str = "file:outputs/mlruns", experiment: str = "rnnbench"):
        _require("mlflow", "logger.mlflow")
        if not isinstance(tracking_uri, str) or not tracking_uri:
            raise UserError(
                f"logger.mlflow.tracking_uri must be a URI such as file:outputs/mlruns, got {tracking_uri!r}"
            )
        if tracking_uri.startswith("file:"):  # absolute, so that runs started from any folder meet
            tracking_uri = Path(tracking_uri[len("file:") :].removeprefix("//")).resolve().as_uri()
        self.tracking_uri, self.experiment = tracking_uri, str(experiment)
        self.client = self.run_id = None

    def start(self, run_dir, summary, config, previous):
        os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")  # before mlflow is imported
        if self.tracking_uri.startswith("file:"):
            os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
        from mlflow.entities import Param
        from mlflow.tracking import MlflowClient

        self.client = MlflowClient(tracking_uri=self.tracking_uri)
        if previous and previous.get("run_id"):
            self.run_id = previous["run_id"]
            self.client.update_run(self.run_id, status="RUNNING")
            return previous
        experiment = self.client.get_experiment_by_name(self.experiment)
        if experiment is None:
            try:
                experiment_id = self.client.create_experiment(self.experiment)
            except Exception:  # another job of the sweep created it first
                experiment_id = self.client.get_experiment_by_name(self.experiment).experiment_id
        else:
            experiment_id = experiment.experiment_id
        tags = {
            "model": str(summary.model),
            "dataset": str(summary.dataset),
            "seed": str(summary.seed),
            "rnnbench.run_dir": str(Path(run_dir).resolve()),
        }
        self.run_id = self.client.create_run(experiment_id, run_name=Path(run_dir).name, tags=tags).info.run_id
        params = [Param(k, str(v)[:6000]) for k, v in flatten(config).items()]
        for start in range(0, len(params), 100):  # MLflow takes at most 100 params per call
            self.client.log_batch(self.run_id, params=params[start : start + 100])
        return {"run_id": self.run_id, "tracking_uri": self.tracking_uri, "experiment": self.experiment}

    def log_metrics(self, metrics, step):
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        self.client.log_batch(self.run_id, metrics=[Metric(k, v, now, step) for k, v in _numbers(metrics).items()])

    def finish(self, summary):
        self.log_metrics(_outcome(summary), summary.steps or 0)
        self.client.set_tag(self.run_id, "status", summary.status)
        if summary.reason:
            self.client.set_tag(self.run_id, "reason", str(summary.reason)[:5000])
        self.client.log_dict(self.run_id, summary.to_dict(), SUMMARY)
        self.client.set_terminated(self.run_id, "FINISHED" if summary.status in FINISHED else "FAILED")


def build_loggers(node: Any) -> Loggers:
    """The run's loggers from the ``logger`` config node: null, or {name: logger config}."""
    from omegaconf import DictConfig

    from rnnbench.config import instantiate

    if node is None:
        return Loggers({})
    if not isinstance(node, DictConfig) or not all(
        isinstance(v, DictConfig) and "_target_" in v for v in node.values()
    ):
        raise UserError(
            "logger must be null or a mapping of named loggers, each with a _target_ "
            "(choose logger=tensorboard, logger=mlflow or logger=[tensorboard,mlflow])"
        )
    return Loggers({name: instantiate(f"logger.{name}", sub) for name, sub in node.items()})


class Loggers:
    """The loggers of one run. Every call is guarded: a logger that raises is dropped with a
    warning, and its error is kept in summary.loggers[name]["error"]."""

    def __init__(self, loggers: dict[str, Logger]):
        self.loggers = dict(loggers)
        self.summary: Summary | None = None  # set by start

    def start(self, run_dir: Path, summary: Summary, config: dict) -> None:
        self.summary = summary
        for name, logger in list(self.loggers.items()):
            identity = self._guard(name, logger.start, run_dir, summary, config, summary.loggers.get(name))
            if name in self.loggers:
                summary.loggers[name] = identity

    def log_metrics(self, metrics: dict, step: int) -> None:
        for name, logger in list(self.loggers.items()):
            self._guard(name, logger.log_metrics, metrics, step)

    def finish(self) -> None:
        if self.summary is None:  # never started: the run failed before
            return
        for name, logger in list(self.loggers.items()):
            self._guard(name, logger.finish, self.summary)

    def _guard(self, name: str, call, *args) -> Any:
        try:
            return call(*args)
        except Exception as exc:
            log.warning(
                "logger %s failed and is switched off (the run record is unaffected): %s: %s",
                name,
                type(exc).__name__,
                exc,
            )
            entry = self.summary.loggers.get(name) or {}
            self.summary.loggers[name] = {**entry, "error": f"{type(exc).__name__}: {exc}"}
            del self.loggers[name]
            return None
