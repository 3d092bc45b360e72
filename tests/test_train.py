"""The trainer in-process: the record it leaves, repeatability, divergence, config errors."""

from __future__ import annotations

import json
import logging
from dataclasses import fields

import pytest
import torch
from hydra.utils import get_class

from rnnbench.config import group_options
from rnnbench.data.adding import AddingTask
from rnnbench.errors import UserError
from rnnbench.training.build import build_model, build_task
from rnnbench.training.record import CHECKPOINT, CONFIG, METRICS, SUMMARY, Summary
from rnnbench.training.trainer import evaluate, train
from tests.conftest import cached_task, compose_config


def test_train_writes_a_complete_record(tmp_path):
    cfg = compose_config("model=lstm", "dataset=copy", "dataset.seq_len=12")
    summary = train(cfg, tmp_path)
    for name in (CONFIG, METRICS, SUMMARY, CHECKPOINT):
        assert (tmp_path / name).is_file(), name
    on_disk = json.loads((tmp_path / SUMMARY).read_text())
    assert on_disk.keys() == {f.name for f in fields(Summary)} and Summary.from_json(on_disk).to_dict() == summary
    assert on_disk["status"] == "completed" and on_disk["reason"] is None
    assert (on_disk["model"], on_disk["dataset"], on_disk["seed"]) == ("lstm", "copy", 0)
    assert on_disk["params"] == summary["params"] > on_disk["core_params"] > 0
    assert on_disk["tokens_per_s"] > 0 and on_disk["wall_s"] > 0 and on_disk["steps"] == 6
    assert set(on_disk["final"]) == set(on_disk["best"]) == set(on_disk["baseline"]) == {"ce", "recall_acc"}
    assert on_disk["hparams"]["trainer.lr"] == 0.001 and on_disk["hparams"]["dataset.seq_len"] == 12
    rows = [json.loads(line) for line in (tmp_path / METRICS).read_text().splitlines()]
    assert [r["step"] for r in rows] == [3, 6]
    assert {"train_loss", "grad_norm", "val_ce", "val_recall_acc", "tokens_per_s", "wall_s"} <= rows[0].keys()
    checkpoint = torch.load(tmp_path / CHECKPOINT, weights_only=True)
    assert checkpoint["step"] == 6 and "model" in checkpoint and "optimizer" in checkpoint
    assert not list(tmp_path.glob(".*.tmp")), "no temporary files left behind"
    cpu = on_disk["cpu"]  # which kind of CPU: the math libraries' kernels, and so the last digits, follow it
    assert cpu["cpu_capability"] == torch.backends.cpu.get_cpu_capability() and isinstance(cpu["isa"], list)
    assert on_disk["host"] and "kind of CPU" in on_disk["determinism"]["note"]


@pytest.mark.parametrize(
    "model, dataset, extra",
    [
        ("seq2seq", "reverse", "examples.txt"),
        ("seq2seq", "text_correction", "examples.txt"),
        ("convgru", "moving_shapes", "frames.png"),
    ],
)
def test_encoder_decoder_and_video_runs_leave_complete_records(tmp_path, model, dataset, extra):
    summary = train(compose_config(f"model={model}", f"dataset={dataset}"), tmp_path)
    assert summary["status"] == "completed" and summary["task"]["kind"] in ("transduction", "frames")
    assert summary["flops_per_token"] > 0 and summary["tokens_per_s"] > 0
    assert set(summary["final"]) == set(summary["baseline"]) == set(summary["task"]["metrics"])
    assert (tmp_path / extra).stat().st_size > 0
    if extra == "examples.txt":
        assert summary["baseline_name"] == "identity" and len(summary["analysis"]["examples"]) == 5
    else:
        assert set(summary["baselines"]) == {"copy last frame", "mean frame"}
        assert len(summary["analysis"]["mse_by_frame"]) == 2


def test_same_seed_same_losses_bit_for_bit(tmp_path):
    runs = []
    for name in ("a", "b", "c"):
        seed = "seed=1" if name != "c" else "seed=2"
        train(compose_config("model=gru", seed), tmp_path / name)
        rows = [json.loads(line) for line in (tmp_path / name / METRICS).read_text().splitlines()]
        runs.append([(r["train_loss"], r["val_mse"]) for r in rows])
    assert runs[0] == runs[1]
    assert runs[0] != runs[2]


def test_the_model_learns_on_the_adding_task(tmp_path):
    """A small GRU beats the predict-1.0 baseline well within a few hundred steps."""
    cfg = compose_config(
        "model=gru",
        "dataset.seq_len=10",
        "dataset.n_train=4000",
        "model.hidden_size=32",
        "trainer.max_steps=400",
        "trainer.eval_every=100",
        "trainer.lr=0.01",
        "trainer.batch_size=64",
    )
    summary = train(cfg, tmp_path)
    assert summary["final"]["mse"] < 0.25 * summary["baseline"]["mse"]


def test_early_stop_when_solved(tmp_path):
    cfg = compose_config("dataset.solved_at=10.0", "trainer.early_stop=true", "trainer.max_steps=50")
    summary = train(cfg, tmp_path)
    assert summary["steps"] == summary["steps_to_target"] == 3 and summary["status"] == "completed"


def test_plateau_stopping_on_a_fabricated_curve():
    """patience 3, min_delta 1%: the reference is the last value that beat the one before by 1%;
    three evaluations short of that in a row stop the run, and a big enough gain resets the count."""
    from types import SimpleNamespace

    from rnnbench.training.build import TrainerSettings
    from rnnbench.training.trainer import LoopState, Run

    def stops(curve: list[float], task: str = "adding", **settings) -> list[str | None]:
        run = SimpleNamespace(
            loop=LoopState(model=None, optimizer=None),
            task=cached_task(task),
            settings=TrainerSettings(device="cpu", **settings),
            built=SimpleNamespace(trial=None),
            log=logging.getLogger("rnnbench"),
        )
        reasons = []
        for step, value in enumerate(curve, 1):
            run.loop.step = step
            reasons.append(Run.stop(run, value, solved=False))
        return reasons

    # mse (lower is better): 0.5 → 0.499 is a 0.2% gain, not progress; 0.45 is 10%, progress.
    assert stops([1.0, 0.5, 0.499, 0.498, 0.45, 0.449, 0.6, 0.448], patience=3, min_delta=0.01) == [
        None,
        None,
        None,
        None,
        None,
        None,
        None,
        "plateau",
    ]
    assert stops([1.0, 0.5, 0.499, 0.498, 0.497], patience=3, min_delta=0.01)[-1] == "plateau"
    assert stops([1.0, 0.5, 0.499, 0.498, 0.497], patience=3, min_delta=0.0) == [None] * 5  # any gain is progress
    assert stops([1.0, 1.0, 1.0, 1.0, 1.0], patience=None) == [None] * 5  # no patience: never on a plateau
    assert stops([0.1, 0.5, 0.5, 0.5], task="parity", patience=2)[2] == "plateau"  # ce of parity: lower is better


def test_a_run_on_a_plateau_stops_and_says_why(tmp_path):
    cfg = compose_config(
        "trainer.lr=1e-9",
        "trainer.patience=2",
        "trainer.max_steps=60",
        "trainer.eval_every=3",
        "trainer.min_delta=0.01",
    )
    summary = train(cfg, tmp_path / "plateau")
    assert summary["status"] == "completed" and summary["stop_reason"] == "plateau"
    assert summary["steps"] == 9 and summary["final"]  # evaluations at 3 (reference), 6, 9: two without progress
    done = train(compose_config("trainer.max_steps=6", "trainer.eval_every=3"), tmp_path / "full")
    assert done["stop_reason"] == "max_steps"
    solved = train(compose_config("dataset.solved_at=10.0", "trainer.early_stop=true"), tmp_path / "solved")
    assert solved["stop_reason"] == "solved"


def test_a_diverging_run_is_recorded_as_failed(tmp_path, monkeypatch):
    calls = {"n": 0}
    loss = AddingTask.loss

    def exploding_loss(self, pred, y):
        calls["n"] += 1
        return loss(self, pred, y) * (float("nan") if calls["n"] >= 5 else 1.0)  # call 1: the memory probe

    monkeypatch.setattr(AddingTask, "loss", exploding_loss)
    summary = train(compose_config(), tmp_path)
    on_disk = json.loads((tmp_path / SUMMARY).read_text())
    assert on_disk["status"] == "failed" == summary["status"]
    assert on_disk["reason"] == "diverged: loss became nan at step 4"
    assert on_disk["final"] == {} and on_disk["steps"] == 3 and on_disk["stop_reason"] == "diverged"
    assert not (tmp_path / CHECKPOINT).exists()


@pytest.mark.parametrize(
    "override, message",
    [
        ("trainer.lr=0", "trainer.lr must be a number in (0.0, 1000.0], got 0"),
        ("trainer.lr=-1e-3", "trainer.lr must be a number in (0.0, 1000.0], got -0.001"),
        ("trainer.lr=1e30", "trainer.lr must be a number in (0.0, 1000.0], got 1e+30"),
        ("trainer.batch_size=0", "trainer.batch_size must be an integer ≥ 1, got 0"),
        ("trainer.batch_size=1000", "trainer.batch_size must not exceed the training set size (128 samples)"),
        ("trainer.max_steps=ten", "trainer.max_steps must be an integer ≥ 1, got 'ten'"),
        ("trainer.grad_clip=0", "trainer.grad_clip must be a number > 0.0, got 0"),
        ("trainer.device=tpu", "trainer.device must be auto, cpu, cuda or cuda:N, got 'tpu'"),
        ("dataset.seq_len=0", "dataset.seq_len must be an integer in [1, 100000], got 0"),
        ("dataset.seq_len=abc", "dataset.seq_len must be an integer in [1, 100000], got 'abc'"),
        ("model.hidden_size=0", "model.hidden_size must be an integer ≥ 1, got 0"),
        ("model.dropout=1.5", "model.dropout must be a number in [0.0, 1.0], got 1.5"),
        ("model.impl=cuda", "model.impl must be one of auto, fused, compiled, scan, reference, got 'cuda'"),
        ("model.readout=first", "model.readout must be one of auto, last, mean, attention, dot_attention, got 'first'"),
        ("model.cell.nonlinearity=sigmoid", "model.cell.nonlinearity must be one of tanh, relu, got 'sigmoid'"),
        ("seed=-1", "seed must be an integer in [0, 9223372036854775807], got -1"),
        ("trainer.patience=0", "trainer.patience must be an integer ≥ 1, got 0"),
        ("trainer.min_delta=-0.1", "trainer.min_delta must be a number in [0.0, 0.99], got -0.1"),
        ("model.param_budget=-5", "model.param_budget must be an integer ≥ 1, got -5"),
    ],
)
def test_bad_values_raise_a_user_error_naming_the_key(tmp_path, override, message):
    cfg = compose_config("model=rnn", override)
    with pytest.raises(UserError) as info:
        train(cfg, tmp_path)
    assert str(info.value).startswith(message)
    assert "\n" not in str(info.value)
    assert not (tmp_path / SUMMARY).exists(), "nothing a report could mistake for a result"


def test_an_error_during_training_is_recorded_then_raised(tmp_path, monkeypatch):
    calls = []

    def failing_loss(self, pred, y):
        calls.append(1)
        if len(calls) == 4:  # call 1 is the memory probe before training
            raise RuntimeError("boom at the third step")
        return torch.nn.functional.mse_loss(pred.squeeze(-1), y)

    monkeypatch.setattr(AddingTask, "loss", failing_loss)
    with pytest.raises(RuntimeError, match="boom"):
        train(compose_config("model=gru"), tmp_path)
    on_disk = json.loads((tmp_path / SUMMARY).read_text())
    assert on_disk["status"] == "failed" and on_disk["reason"] == "RuntimeError: boom at the third step"
    assert on_disk["steps"] == 2


def test_a_model_that_cannot_read_the_task_fails_before_anything_is_written(tmp_path):
    cfg = compose_config("model=transformer", "model.positions=learned", "model.max_len=8")  # T = 12
    with pytest.raises(UserError, match="max_len must be at least the sequence length 12"):
        train(cfg, tmp_path)
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("dataset", group_options("dataset"))
def test_tasks_and_models_make_their_tensors_on_the_device_of_their_inputs(tmp_path, dataset):
    """The splits live once, on the run's device; baselines, scores, a training step, evaluation
    and `examine` must make every tensor there too. No GPU here: with torch's default device set to
    "meta", a tensor made without a device lands on meta and fails against the CPU data — where,
    on a GPU run, it would land on the CPU and fail against the GPU data."""
    kind = get_class(compose_config(f"dataset={dataset}").dataset._target_).kind
    model = {"sequence": "gru", "transduction": "seq2seq", "frames": "convgru"}[kind]
    cfg = compose_config(f"dataset={dataset}", f"model={model}")
    task = build_task(cfg)
    task.splits()  # built on the CPU before the default device changes
    net = build_model(cfg.model, task)
    torch.set_default_device("meta")
    try:
        task.baselines("test")
        task.baseline("val")
        train_split = task.splits()["train"]
        pred, _ = net(train_split.x[:4], target=train_split.y[:4])
        task.loss(pred, train_split.y[:4]).backward()
        evaluate(net, task, task.splits()["val"], 16)
        net.eval()
        with torch.no_grad():
            task.examine(net, tmp_path)
    finally:
        torch.set_default_device("cpu")


def test_text_runs_log_training_and_validation_in_one_unit(tmp_path, caplog):
    """Char-level text: the training loss is logged in bits per character beside validation bpc
    (metrics.jsonl keeps train_loss in nats and adds train_bpc = train_loss / ln 2)."""
    import math

    with caplog.at_level("INFO", logger="rnnbench"):
        train(compose_config("dataset=text", "trainer.max_steps=4", "trainer.eval_every=2"), tmp_path)
    rows = [json.loads(line) for line in (tmp_path / METRICS).read_text().splitlines()]
    assert all(r["train_bpc"] == pytest.approx(r["train_loss"] / math.log(2)) for r in rows)
    steps = [m for m in caplog.messages if m.startswith("step")]
    assert len(steps) == 2 and all(f"train bpc {r['train_bpc']:.4f}  val bpc" in m for r, m in zip(rows, steps))
