"""Batched members (rnnbench/training/members.py, training/stacked.py, hydra/launcher=batched): each member
equals the single run of its seed and learning rate, a diverging member is isolated, a killed
batched run resumes, and the launcher groups only jobs that differ in seed or optimizer settings."""

from __future__ import annotations

import contextlib
import json
import logging
from pathlib import Path

import pytest
import torch

from rnnbench.config import group_options
from rnnbench.errors import UserError
from rnnbench.launch.batched import check_settings, group_jobs
from rnnbench.training import members
from rnnbench.training.build import kind_of_option
from rnnbench.training.members import Job, train_members
from rnnbench.training.stacked import NotMemberAware, Stacked, stacked
from rnnbench.training.trainer import Run, prepared, train
from tests.conftest import compose_config

SETTINGS = [(0, 0.01), (1, 0.003), (2, 0.01)]  # (seed, trainer.lr) of the three members


def configs(model: str, steps: int = 50, eval_every: int = 1, *extra: str):
    return [
        compose_config(
            f"model={model}",
            "dataset=adding",
            f"seed={seed}",
            f"trainer.lr={lr}",
            f"trainer.max_steps={steps}",
            f"trainer.eval_every={eval_every}",
            "trainer.progress=false",
            *extra,
        )
        for seed, lr in SETTINGS
    ]


def rows(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def weights(run_dir: Path) -> dict:
    return torch.load(run_dir / "checkpoint.pt", weights_only=True)["model"]


@pytest.fixture
def float64():
    before = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(before)


@pytest.fixture
def step_losses(monkeypatch) -> dict:
    """{seed: [the loss of each optimizer step]} of every run trained while the test runs."""
    losses: dict[int, list[float]] = {}
    update = Run.update

    def recording(self, loss_value, *args):
        losses.setdefault(self.built.seed, []).append(loss_value)
        return update(self, loss_value, *args)

    monkeypatch.setattr(Run, "update", recording)
    return losses


@pytest.mark.parametrize(
    "model",
    [
        "gru",
        *(
            pytest.param(m, marks=pytest.mark.slow)
            for m in ("rnn", "lstm", "mingru", "hybrid_stacked", "lstm_peephole", "tcn")
        ),
    ],
)
def test_members_equal_single_runs_in_float64(model, tmp_path, float64, step_losses):
    """The loss of each of the first 50 steps to 1e-9 and the final weights to 1e-7 relative (the
    issue's bar)."""
    cfgs = configs(model, 50, 50)
    singles = [train(cfg, tmp_path / f"single{k}") for k, cfg in enumerate(cfgs)]
    single_losses = {seed: list(losses) for seed, losses in step_losses.items()}
    step_losses.clear()
    batched = train_members([Job(cfg, tmp_path / f"member{k}") for k, cfg in enumerate(cfgs)], batching="always")
    for k, (single, member) in enumerate(zip(singles, batched)):
        seed = SETTINGS[k][0]
        assert member["status"] == "completed"
        assert member["members"] == 3 and member["member"] == k
        assert len(step_losses[seed]) == len(single_losses[seed]) == 50
        assert step_losses[seed] == pytest.approx(single_losses[seed], abs=1e-9, rel=0)
        for name, w in weights(tmp_path / f"single{k}").items():
            v = weights(tmp_path / f"member{k}")[name]
            assert (w - v).abs().max() <= 1e-7 * w.abs().max()
        assert member["final"]["mse"] == pytest.approx(single["final"]["mse"], rel=1e-9)
        assert member["hparams"] == single["hparams"]


@pytest.mark.slow
def test_a_member_is_the_single_run_in_float32_on_the_demo_task(tmp_path):
    """float32: the member's curve follows its single run (round-off differs: bmm against the
    fused kernel, and grows over 100 Adam steps by an amount that depends on the CPU's kernels) and
    ends on the same side of the baseline. Exactness is the float64 test's."""
    cfgs = configs("gru", 100, 50)
    singles = [train(cfg, tmp_path / f"single{k}") for k, cfg in enumerate(cfgs)]
    batched = train_members([Job(cfg, tmp_path / f"member{k}") for k, cfg in enumerate(cfgs)], batching="always")
    for single, member in zip(singles, batched):
        assert member["members"] == 3
        assert member["final"]["mse"] == pytest.approx(single["final"]["mse"], rel=0.1)
        assert (member["final"]["mse"] < member["baseline"]["mse"]) == (
            single["final"]["mse"] < single["baseline"]["mse"]
        )


def test_a_diverging_member_fails_alone(tmp_path, monkeypatch, float64):
    """Member 1's loss becomes NaN at its 6th step: it is recorded failed there and leaves the
    batch; members 0 and 2 go on and equal their single runs."""
    cfgs = configs("gru", 20, 5)
    singles = [train(cfg, tmp_path / f"single{k}") for k, cfg in enumerate(cfgs)]
    original = Run.next_batch

    def poisoned(self):
        x, y, fresh = original(self)
        if self.built.seed == 1 and self.loop.step == 5:
            x = x * float("nan")
        return x, y, fresh

    monkeypatch.setattr(Run, "next_batch", poisoned)
    batched = train_members([Job(cfg, tmp_path / f"member{k}") for k, cfg in enumerate(cfgs)], batching="always")
    assert batched[1]["status"] == "failed" and batched[1]["stop_reason"] == "diverged"
    assert "at step 6" in batched[1]["reason"] and batched[1]["steps"] == 5
    assert not (tmp_path / "member1" / "checkpoint.pt").exists()
    for k in (0, 2):
        assert batched[k]["status"] == "completed" and batched[k]["steps"] == 20
        assert batched[k]["final"]["mse"] == pytest.approx(singles[k]["final"]["mse"], rel=1e-9)


class Killed(BaseException):
    """Stands for kill -9: nothing after it runs, no failure is recorded."""


@pytest.mark.parametrize("kill_member", [0, pytest.param(2, marks=pytest.mark.slow)])
def test_a_killed_batched_run_resumes_every_member(tmp_path, monkeypatch, kill_member):
    """Killed in member `kill_member`'s validation at step 40 (after member 0's checkpoint of step
    40 when kill_member=2: the members resume from different steps); the same command ends
    bit for bit where the uninterrupted batched run does."""
    cfgs = configs("gru", 60, 20)
    whole = train_members([Job(cfg, tmp_path / f"whole{k}") for k, cfg in enumerate(cfgs)], batching="always")
    original = Run.validate

    def killing(self):
        if self.loop.step == 40 and self.built.seed == SETTINGS[kill_member][0]:
            raise Killed
        original(self)

    monkeypatch.setattr(Run, "validate", killing)
    jobs = [Job(cfg, tmp_path / f"member{k}") for k, cfg in enumerate(cfgs)]
    with pytest.raises(Killed):
        train_members(jobs, batching="always")
    steps = [torch.load(job.run_dir / "checkpoint.pt", weights_only=True)["step"] for job in jobs]
    assert steps == ([20, 20, 20] if kill_member == 0 else [40, 40, 20])
    monkeypatch.setattr(Run, "validate", original)
    resumed = train_members(jobs, batching="always")
    for k, (a, b) in enumerate(zip(whole, resumed)):
        assert b["status"] == "completed" and b["resumed"][0]["step"] == steps[k]
        assert b["final"] == a["final"] and b["best"] == a["best"]
        assert rows(tmp_path / f"member{k}")[-1]["train_loss"] == rows(tmp_path / f"whole{k}")[-1]["train_loss"]


def test_completed_members_are_left_alone_and_the_rest_batched(tmp_path):
    cfgs = configs("gru", 10, 5)
    first = train(cfgs[0], tmp_path / "member0")
    out = train_members([Job(cfg, tmp_path / f"member{k}") for k, cfg in enumerate(cfgs)], batching="always")
    assert out[0] == first and out[0]["members"] is None
    assert [o["members"] for o in out[1:]] == [2, 2]


@pytest.mark.parametrize(
    "model, overrides, batching, why",
    [
        ("gru", ["model.dropout=0.2", "model.num_layers=2"], "always", "dropout"),
        ("indrnn", [], "always", "clamp_"),
        ("transformer", [], "always", "cannot split by member"),
        ("tcn", ["model.dropout=0.1"], "always", "dropout"),
        ("lstm", [], "auto", "fused LSTM kernel on the CPU"),
        ("tcn", [], "auto", "without a recurrence"),
        ("gru", ["model.hidden_size=300"], "auto", "batch × width 4800 is above 4096"),
        # one run scans 100 × 100 steps; 3 members would be 30,000, past Mamba's 18,000: its loop
        ("mamba", ["dataset.seq_len=100", "trainer.batch_size=100"], "auto", "3 members of batch × steps 10000"),
    ],
)
def test_what_is_not_batched_says_why(model, overrides, batching, why, tmp_path):
    runs = []
    for k, cfg in enumerate(configs(model, 5, 5, *overrides)):
        from rnnbench.training.trainer import prepared

        ctx = prepared(cfg, tmp_path / f"m{k}")
        runs.append((ctx, ctx.__enter__()))
    try:
        reason = members.why_not_batched([r for _, r in runs], batching)
        if reason is None:
            reason = members.BatchedRun(dict(enumerate(r for _, r in runs)), {}).check()
        assert why in reason
    finally:
        for ctx, _ in runs:
            ctx.__exit__(None, None, None)


def test_members_that_differ_in_more_than_seed_or_lr_are_not_batched(tmp_path, caplog):
    cfgs = configs("gru", 5, 5)
    cfgs[1].model.hidden_size = 12
    with caplog.at_level("INFO", logger="rnnbench"):
        caplog.handler.setLevel("INFO")
        logging.getLogger("rnnbench").addHandler(caplog.handler)
        try:
            out = train_members([Job(cfg, tmp_path / f"m{k}") for k, cfg in enumerate(cfgs)], batching="always")
        finally:
            logging.getLogger("rnnbench").removeHandler(caplog.handler)
    assert all(o["members"] is None for o in out)
    assert "one after another, not batched: their configs differ in model.hidden_size" in caplog.text


def test_a_batch_too_big_for_memory_is_refused_in_one_line(tmp_path, monkeypatch):
    monkeypatch.setattr("rnnbench.training.memory.available_bytes", lambda device: 2**10)
    monkeypatch.setattr("rnnbench.training.trainer.check_fits", lambda *a, **k: 0)  # each single run would fit
    out = train_members([Job(cfg, tmp_path / f"m{k}") for k, cfg in enumerate(configs("gru", 5, 5))], batching="always")
    assert all(isinstance(o, UserError) for o in out)
    message = str(out[0])
    assert "3 batched members" in message and "hydra.launcher.max_members" in message and "\n" not in message


def test_operations_on_stacked_parameters_equal_torch_per_member():
    """Every operation stacked.py splits by member, against torch on each member's own tensors."""
    F = torch.nn.functional
    k, b = 3, 4
    x = torch.randn(k * b, 5, 6, dtype=torch.float64)
    w, bias = torch.randn(k, 7, 6, dtype=torch.float64), torch.randn(k, 7, dtype=torch.float64)
    p, q = torch.randn(k, 6, dtype=torch.float64), torch.randn(k, 6, dtype=torch.float64)
    m2 = torch.randn(k, 6, 3, dtype=torch.float64)
    ids, table = torch.randint(0, 9, (k * b, 5)), torch.randn(k, 9, 6, dtype=torch.float64)
    v, g = torch.randn(k, 7, 5, 2, dtype=torch.float64), torch.rand(k, 7, 1, 1, dtype=torch.float64)
    img, kernel = torch.randn(k * b, 2, 5, 5, dtype=torch.float64), torch.randn(k, 4, 2, 3, 3, dtype=torch.float64)
    S = {
        name: stacked(list(t))
        for name, t in dict(w=w, bias=bias, p=p, q=q, m2=m2, table=table, v=v, g=g, kernel=kernel).items()
    }

    def per_member(t):
        return {
            name: t[m]
            for name, t in dict(w=w, bias=bias, p=p, q=q, m2=m2, table=table, v=v, g=g, kernel=kernel).items()
        }

    def cases(P, X, IDS, IMG):  # the same code, on stacked or on one member's parameters
        return [
            F.linear(X, P["w"], P["bias"]),
            P["p"] * X,
            X + P["p"],
            X - P["p"],
            1 - P["p"] * X,
            X / P["p"].exp(),
            P["p"][2:4] * X[..., 2:4],
            torch.sigmoid(P["p"] + P["q"]) * X,
            X @ P["q"],
            X @ P["m2"],
            F.layer_norm(X, (6,), P["p"], P["q"], 1e-5),
            F.embedding(IDS, P["table"]),
            F.conv1d(X, P["v"], P["bias"], dilation=2),
            F.conv2d(IMG, P["kernel"], None, padding=1),
            F.conv1d(X, torch._weight_norm(P["v"], P["g"], 0)),
        ]

    outs = cases(S, x, ids, img)
    assert not any(isinstance(o, Stacked) for o in outs)
    for m in range(k):
        rows_ = slice(m * b, (m + 1) * b)
        for got, want in zip(outs, cases(per_member(m), x[rows_], ids[rows_], img[rows_])):
            torch.testing.assert_close(got[rows_], want, rtol=1e-12, atol=1e-12)


def test_an_operation_without_a_per_member_form_is_named():
    p = stacked([torch.ones(3), torch.ones(3)])
    with pytest.raises(NotMemberAware, match="cumsum"):
        torch.cumsum(p, 0)
    with pytest.raises(NotMemberAware, match="clamp_"):
        p.clamp_(0, 1)


def test_the_launcher_groups_only_jobs_that_differ_in_member_keys():
    jobs = [
        ["model=gru", "seed=0"],
        ["model=gru", "seed=1"],
        ["model=rnn", "seed=0"],
        ["seed=2", "model=gru"],
        ["model=gru", "seed=0", "trainer.lr=0.01"],
        ["model=gru", "seed=0", "trainer.batch_size=8"],
        ["model=gru", "seed=3", "+tuning.trial=4"],
    ]
    assert group_jobs(jobs, 16) == [[0, 1, 3, 4, 6], [2], [5]]
    assert group_jobs(jobs, 2) == [[0, 1], [3, 4], [6], [2], [5]]


@pytest.mark.parametrize(
    "batching, max_members, message",
    [
        ("sometimes", 4, "hydra.launcher.batching must be one of"),
        ("auto", 0, "hydra.launcher.max_members"),
    ],
)
def test_bad_launcher_settings_name_the_key(batching, max_members, message):
    with pytest.raises(UserError, match=message):
        check_settings(batching, max_members)


# The built-in models that batched members cannot split, and why (the rest must batch exactly).
NOT_BATCHED = {
    "indrnn": "clamp_",  # IndRNN projects u into [−u_max, u_max] in place at every forward
    "transformer": "Tensor.dtype",  # torch's attention layer inspects its weights itself
    "seq2seq": "draws random numbers",  # teacher forcing: one coin per batch, not per member
    "lru": "torch.complex",  # a complex recurrence: no per-member form of complex parameters
    "s4d": "torch.complex",
}
TASK_OF_KIND = {"sequence": "adding", "transduction": "reverse", "frames": "moving_shapes"}


@pytest.mark.parametrize("model", group_options("model"))
def test_every_built_in_model_meets_the_batching_contract_or_says_why(model, tmp_path):
    """models/cell.py's contract, over every conf/model option on a task of its kind: the stacked
    forward pass of three members equals each member's own (BatchedRun.check), or the reason is
    the one NOT_BATCHED expects."""
    dataset = TASK_OF_KIND[kind_of_option(model)]
    cfgs = [
        compose_config(f"model={model}", f"dataset={dataset}", f"seed={seed}", "trainer.progress=false")
        for seed in range(3)
    ]
    with contextlib.ExitStack() as stack:
        runs = {k: stack.enter_context(prepared(cfg, tmp_path / f"m{k}")) for k, cfg in enumerate(cfgs)}
        first = next(iter(runs.values()))
        if any(isinstance(m, torch.nn.Dropout) and m.p > 0 for m in first.model.modules()):
            pytest.skip("dropout in this config's defaults")
        reason = members.BatchedRun(runs, {}).check()
    if model in NOT_BATCHED:
        assert reason is not None and NOT_BATCHED[model] in reason
    else:
        assert reason is None


def test_a_members_log_lines_say_which_member_they_are(tmp_path, caplog):
    """Lines of K members interleave: each says what tells its member apart (seed, learning rate)."""
    cfgs = configs("gru", 4, 2)  # SETTINGS: (seed, trainer.lr) of the three members
    with caplog.at_level("INFO", logger="rnnbench"):
        train_members([Job(cfg, tmp_path / f"m{k}") for k, cfg in enumerate(cfgs)], batching="always")
    steps = [line for line in caplog.messages if "train loss" in line or line.startswith("[") and "test" in line]
    tags = [f"[seed={s} trainer.lr={lr}]" for s, lr in SETTINGS]
    assert len(steps) == 9 and all(any(line.startswith(t) for t in tags) for line in steps), steps
    assert [sum(line.startswith(t) for line in steps) for t in tags] == [3, 3, 3]
