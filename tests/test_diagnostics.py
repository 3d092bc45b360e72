"""What the trainer measures besides the metrics: ‖∂L/∂h_t‖ per time step, the memory of a
training step (and the refusal of one that cannot fit), inference speed, and what a rerun
reproduces."""

from __future__ import annotations

import json

import pytest
import torch

from rnnbench.errors import UserError
from rnnbench.training.build import build_model, build_task, twin
from rnnbench.training.diagnostics import GradPerTimeStep, reference_state_dict
from rnnbench.training.memory import SavedTensors, check_fits
from rnnbench.training.record import GRADS
from rnnbench.training.trainer import train


def built(cfg):
    task = build_task(cfg)
    torch.manual_seed(0)
    model = build_model(cfg.model, task)
    return task, model, lambda impl: twin(cfg.model, impl, task)


@pytest.mark.parametrize("name", ["lstm", "gru", "rnn"])
def test_grad_per_time_step_is_the_total_derivative_through_the_recurrence(cfg_factory, name):
    """g_t from the reference twin equals ∂L/∂h_t computed on the fused model by running the
    sequence up to t, then the rest of it from a state that requires grad."""
    cfg = cfg_factory(f"model={name}", "model.num_layers=1", "model.impl=fused")
    task, model, build = built(cfg)
    assert model.core.impl == "fused"
    val = task.splits()["val"]
    probe = GradPerTimeStep(model, build, task, batch_size=8)
    norms = probe.measure(model, 0)["norms"]
    x, y = val.x[:8], val.y[:8]
    fused = model.core.fused
    T = x.shape[1]
    assert len(norms) == T
    for t in (0, T // 2, T - 1):
        with torch.no_grad():
            _, state = fused(x[:, : t + 1])
        h0 = (state[0] if name == "lstm" else state).clone().requires_grad_()
        rest = (h0, state[1]) if name == "lstm" else h0
        last = fused(x[:, t + 1 :], rest)[0][:, -1] if t + 1 < T else h0[-1]
        task.loss(model.head(last), y).backward()
        expected = (h0.grad[-1] * 8).norm(dim=1).mean().item()
        assert norms[t] == pytest.approx(expected, rel=1e-4, abs=1e-9)


def test_plain_rnn_gradients_vanish_and_a_run_with_diagnostics_trains_the_same(cfg_factory, tmp_path):
    cfg = cfg_factory("model=rnn", "dataset.seq_len=40", "model.hidden_size=16")
    plain = train(cfg, tmp_path / "plain")
    cfg = cfg_factory("model=rnn", "dataset.seq_len=40", "model.hidden_size=16", "diagnostics.grad_per_time_step=true")
    probed = train(cfg, tmp_path / "probed")
    lines = lambda run: [
        {k: v for k, v in json.loads(line).items() if k not in ("tokens_per_s", "wall_s")}
        for line in (tmp_path / run / "metrics.jsonl").read_text().splitlines()
    ]
    assert lines("plain") == lines("probed") and plain["final"] == probed["final"]
    rows = json.loads((tmp_path / "probed" / GRADS).read_text())
    assert [r["step"] for r in rows] == [0, 3, 6] and all(len(r["norms"]) == 40 for r in rows)
    assert probed["grad_per_time_step"]["step"] == 6
    assert probed["grad_per_time_step"]["first_over_last"] < 1e-3  # 40 steps back through a tanh RNN


def test_reference_names_follow_torch_layouts():
    state = {"core.fused.weight_ih_l0": 1, "core.fused.bias_hh_l1_reverse": 2, "head.weight": 3}
    assert reference_state_dict(state) == {
        "core.layers.0.weight_ih": 1,
        "core.layers_reverse.1.bias_hh": 2,
        "head.weight": 3,
    }


@pytest.mark.parametrize(
    "overrides, message",
    [
        (["model=tcn"], "diagnostics.grad_per_time_step needs a recurrent model (one with an impl option); model=tcn"),
        (
            ["model=lstm", "model.bidirectional=true", "dataset=parity"],
            "diagnostics.grad_per_time_step needs a unidirectional core",
        ),
    ],
)
def test_diagnostics_refuse_models_without_one_recurrent_direction(cfg_factory, tmp_path, overrides, message):
    cfg = cfg_factory(*overrides, "diagnostics.grad_per_time_step=true")
    with pytest.raises(UserError, match=message.replace("(", r"\(").replace(")", r"\)")):
        train(cfg, tmp_path / "run")
    assert not (tmp_path / "run" / "summary.json").exists()


def test_memory_is_measured_and_grows_with_the_sequence(cfg_factory, tmp_path):
    short = train(cfg_factory("model=lstm", "dataset.seq_len=20"), tmp_path / "short")["memory"]
    long = train(cfg_factory("model=lstm", "dataset.seq_len=80"), tmp_path / "long")["memory"]
    assert short["params_mb"] == long["params_mb"] and short["optimizer_mb"] == pytest.approx(2 * short["params_mb"])
    assert 3 < long["activations_mb"] / short["activations_mb"] < 5
    assert long["step_mb"] == pytest.approx(2 * long["params_mb"] + long["optimizer_mb"] + long["activations_mb"])


def test_saved_tensors_counts_each_storage_once_and_no_weights():
    weight = torch.randn(10, 10, requires_grad=True)
    x = torch.randn(4, 10)
    counter = SavedTensors([weight])
    with counter.counting():
        h = torch.tanh(x @ weight)  # saves x (weight excluded), then tanh's output
        (h * h).sum()  # saves h twice: counted once
    assert counter.bytes == (4 * 10 + 4 * 10) * 4


def test_counting_saved_tensors_keeps_no_graph_alive():
    """Saved outputs (tanh, sigmoid save their result) handed back as themselves would be a
    reference cycle through autograd's graph that Python's collector cannot free: every counted
    forward pass without a backward would stay in memory (check_fits's probe at every run's start;
    24 GB over benchmarks/members.py's grid)."""
    import gc

    weight = torch.randn(16, 16, requires_grad=True)

    def tensors() -> int:
        gc.collect()
        return sum(issubclass(type(o), torch.Tensor) for o in gc.get_objects())  # type(): no deprecated __class__ read

    def count_one() -> None:
        with SavedTensors([weight]).counting():
            h = torch.zeros(4, 16)
            for _ in range(20):
                h = torch.tanh(h @ weight)  # no backward: check_fits's probe only counts

    count_one()
    before = tensors()
    for _ in range(3):
        count_one()
    assert tensors() == before


def test_a_step_too_big_for_memory_is_refused_with_an_estimate(cfg_factory, tmp_path):
    cfg = cfg_factory("model=lstm", "dataset.seq_len=50")
    task, model, _ = built(cfg)
    train_split = task.splits()["train"]
    loss = lambda n: task.loss(model(train_split.x[:n])[0], train_split.y[:n])
    estimate = check_fits(model, loss, 64, "cpu", "x")
    with pytest.raises(
        UserError,
        match=r"dataset.seq_len=50 needs about \d+ MiB for one training step .* "
        r"lower trainer.batch_size or dataset.seq_len",
    ):
        check_fits(model, loss, 64, "cpu", "dataset.seq_len=50", limit=estimate)
    assert check_fits(model, loss, 64, "cpu", "x", limit=2 * estimate) == estimate


def test_the_record_says_what_a_rerun_reproduces(cfg_factory, tmp_path):
    summary = train(cfg_factory("model=gru"), tmp_path / "run")
    assert summary["determinism"]["bit_for_bit"] is True and "tokens_per_s" in summary["determinism"]["varies"]
    assert summary["infer_tokens_per_s"] > 0
