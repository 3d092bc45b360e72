"""The compiled loop of the built-in cells (rnnbench/models/compiled/): equal to the cells' Python
loop in float64 — outputs, final states and every gradient, with and without a carried state, up
to T = 1,000 — for one run and for K members at once; and what happens where it cannot be built."""

from __future__ import annotations

import functools
import logging

import pytest
import torch

from rnnbench.errors import ConfigError
from rnnbench.models import Recurrent, compiled
from rnnbench.models.gru import GRUCell
from rnnbench.models.lstm import LSTMCell
from rnnbench.models.lstm_variants import VariantLSTMCell
from rnnbench.models.recurrent import run_cell
from rnnbench.models.rnn import RNNCell

pytestmark = pytest.mark.skipif(not compiled.available(), reason="no C++ compiler on this machine")

CELLS = {
    "rnn": RNNCell,
    "rnn_relu": functools.partial(RNNCell, nonlinearity="relu"),
    "gru": GRUCell,
    "lstm": LSTMCell,
    "peephole": functools.partial(VariantLSTMCell, peephole=True),
    "cifg": functools.partial(VariantLSTMCell, cifg=True),
    "no_forget": functools.partial(VariantLSTMCell, no_forget=True),
    "peephole_cifg": functools.partial(VariantLSTMCell, peephole=True, cifg=True),
    "peephole_no_forget": functools.partial(VariantLSTMCell, peephole=True, no_forget=True),
}


def twins(cell, bidirectional: bool = False):
    torch.manual_seed(0)
    loop = Recurrent(3, cell, 8, num_layers=2, impl="reference", bidirectional=bidirectional).double()
    fast = Recurrent(3, cell, 8, num_layers=2, impl="compiled", bidirectional=bidirectional).double()
    fast.load_state_dict(loop.state_dict())
    return loop, fast


def random_state(model: Recurrent, batch: int):
    """A non-zero initial state for every layer, requiring grad (its gradient is checked too)."""

    def one(cell):
        state = cell.initial_state(batch, torch.empty(1, dtype=torch.float64))
        if isinstance(state, tuple):
            return tuple(torch.randn_like(s).requires_grad_() for s in state)
        return torch.randn_like(state).requires_grad_()

    return [one(cell) for cell in model.layers]


def flat(state) -> list[torch.Tensor]:
    return [t for s in state for t in (s if isinstance(s, tuple) else (s,))]


@pytest.mark.parametrize("name", sorted(CELLS))
@pytest.mark.parametrize("T", [1, 17, pytest.param(1000, marks=pytest.mark.slow)])
@pytest.mark.parametrize("carried", [False, True])
def test_the_compiled_loop_equals_the_python_loop(name, T, carried):
    loop, fast = twins(CELLS[name])
    assert fast.impl == "compiled"
    x = torch.randn(4, T, 3, dtype=torch.float64, requires_grad=True)
    states = random_state(loop, 4) if carried else None
    outputs = []
    for model in (loop, fast):
        state = (
            [
                tuple(t.detach().clone().requires_grad_() for t in s)
                if isinstance(s, tuple)
                else s.detach().clone().requires_grad_()
                for s in states
            ]
            if carried
            else None
        )
        y, final = model(x, state)
        loss = (y**2).sum() + sum((s**3).sum() for s in flat(final))  # every output and the last state
        inputs = [x, *model.parameters(), *(flat(state) if carried else [])]
        outputs.append((y, flat(final), torch.autograd.grad(loss, inputs)))
    (y_loop, s_loop, g_loop), (y_fast, s_fast, g_fast) = outputs
    torch.testing.assert_close(y_fast, y_loop, rtol=1e-9, atol=1e-12)
    torch.testing.assert_close(s_fast, s_loop, rtol=1e-9, atol=1e-12)
    torch.testing.assert_close(g_fast, g_loop, rtol=1e-7, atol=1e-10)


@pytest.mark.parametrize("name", ["gru", "lstm", "peephole"])
def test_bidirectional_stacks_run_compiled_and_equal(name):
    loop, fast = twins(CELLS[name], bidirectional=True)
    x = torch.randn(3, 11, 3, dtype=torch.float64)
    torch.testing.assert_close(fast(x)[0], loop(x)[0], rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("T", [13, pytest.param(1000, marks=pytest.mark.slow)])
@pytest.mark.parametrize("kind, cell", [("gru", GRUCell), ("lstm", CELLS["peephole_cifg"]), ("rnn", RNNCell)])
def test_members_in_one_call_equal_each_members_python_loop(kind, cell, T):
    """K = 3 members, each its own weights, batch and initial state, in one call of the kernel,
    against each member's own Python loop: outputs, last states and the gradients of every
    member's weights (the trainer's batched members: tests/test_members.py)."""
    torch.manual_seed(0)
    cells = [cell(3, 6).double() for _ in range(3)]
    xs = [torch.randn(4, T, 3, dtype=torch.float64) for _ in cells]
    states = [c.initial_state(4, xs[0]) for c in cells]
    states = [tuple(map(torch.randn_like, s)) if isinstance(s, tuple) else torch.randn_like(s) for s in states]
    lstm = kind == "lstm"

    def loss(hs, c_last):
        return (hs**2).sum() + ((c_last**3).sum() if lstm else 0)

    looped = [run_cell(c, x, s) for c, x, s in zip(cells, xs, states)]
    hs_loop = torch.cat([h for h, _ in looped])
    c_loop = torch.cat([s[1] for _, s in looped]) if lstm else None
    params = [p for c in cells for p in c.parameters()]
    grads_loop = torch.autograd.grad(loss(hs_loop, c_loop), params)

    def stack(name):
        return None if getattr(cells[0], name, None) is None else torch.stack([getattr(c, name) for c in cells])

    h0 = torch.cat([s[0] if lstm else s for s in states])
    c0 = torch.cat([s[1] for s in states]) if lstm else None
    weights = [stack(name) for name in ("weight_ih", "bias_ih", "weight_hh", "bias_hh", "peephole")]
    hs, c_last = compiled.members_loop(kind, torch.cat(xs), h0, c0, *weights, **({"cifg": True} if lstm else {}))
    torch.testing.assert_close(hs, hs_loop, rtol=1e-10, atol=1e-12)
    if lstm:
        torch.testing.assert_close(c_last, c_loop, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(torch.autograd.grad(loss(hs, c_last), params), grads_loop, rtol=1e-7, atol=1e-10)


def test_auto_takes_the_compiled_loop_only_where_it_is_the_fastest():
    impl = lambda cell: Recurrent(3, cell, 8, impl="auto").impl
    assert impl(GRUCell) == "compiled" and impl(RNNCell) == "compiled"  # ATen's are slower (benchmarks/README.md)
    assert impl(CELLS["peephole"]) == "compiled"  # no torch.nn kernel at all
    assert impl(LSTMCell) == "fused"  # oneDNN's LSTM: faster
    assert impl(functools.partial(VariantLSTMCell, layer_norm=True)) == "reference"  # no compiled loop


def test_without_a_compiler_auto_falls_back_and_compiled_is_refused(monkeypatch, caplog):
    compiled.extension.cache_clear()
    monkeypatch.setattr("torch.utils.cpp_extension.load", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("no g++")))
    try:
        with caplog.at_level(logging.WARNING, logger="rnnbench"):
            assert Recurrent(3, GRUCell, 8).impl == "fused"
            assert Recurrent(3, CELLS["peephole"], 8).impl == "reference"
        assert [r.message for r in caplog.records] == [
            "the compiled recurrent loop is unavailable (no g++); the cells run their Python loop"
        ]  # said once
        with pytest.raises(ConfigError, match="impl is 'compiled' but the compiled loop is unavailable here"):
            Recurrent(3, GRUCell, 8, impl="compiled")
    finally:
        compiled.extension.cache_clear()


def test_a_model_built_for_a_gpu_takes_torchs_kernel_not_the_compiled_loop():
    with compiled.off_cpu():
        assert Recurrent(3, GRUCell, 8).impl == "fused"  # cuDNN's GRU
        assert Recurrent(3, CELLS["peephole"], 8).impl == "reference"
    assert Recurrent(3, GRUCell, 8).impl == "compiled"


def test_a_cell_without_a_compiled_loop_says_so():
    with pytest.raises(ConfigError, match="impl is 'compiled' but VariantLSTMCell has no compiled loop"):
        Recurrent(3, functools.partial(VariantLSTMCell, layer_norm=True), 8, impl="compiled")

    class MyGRU(GRUCell):  # a subclass may change the forward: it keeps its own loop
        pass

    with pytest.raises(ConfigError, match="MyGRU has no compiled loop"):
        Recurrent(3, MyGRU, 8, impl="compiled")


@pytest.mark.parametrize("kind, cell", [("gru", GRUCell), ("lstm", CELLS["peephole"]), ("rnn", RNNCell)])
def test_a_member_computes_bit_for_bit_alike_with_or_without_the_others(kind, cell):
    """A killed batched run resumes its members from different steps, some of them alone: a
    member's outputs and gradients must not depend on how many others share its call (float32,
    the trainer's precision; reductions are per member, never across the member dimension)."""
    torch.manual_seed(0)
    cells = [cell(2, 16) for _ in range(3)]
    x, lstm = torch.randn(3 * 8, 30, 2, requires_grad=True), kind == "lstm"
    h0 = torch.zeros(3 * 8, 16)
    names = ("weight_ih", "bias_ih", "weight_hh", "bias_hh", "peephole")

    def run(members: list):
        weights = [
            None if getattr(cells[0], n, None) is None else torch.stack([getattr(cells[k], n) for k in members])
            for n in names
        ]
        rows = torch.cat([torch.arange(8) + 8 * k for k in members])
        hs, c = compiled.members_loop(kind, x[rows], h0[rows], h0[rows] if lstm else None, *weights)
        params = [x, *(p for k in members for p in cells[k].parameters())]  # x: a lower layer's gradient too
        grads = torch.autograd.grad((hs**2).sum() + ((c**2).sum() if lstm else 0), params)
        return hs, [grads[0][rows], *grads[1:]]

    hs_all, grads_all = run([0, 1, 2])
    hs_one, grads_one = run([2])
    assert torch.equal(hs_all[16:], hs_one)
    assert torch.equal(grads_all[0][16:], grads_one[0])  # ∂L/∂x of member 2's samples
    last = len(grads_one) - 1
    assert all(torch.equal(a, b) for a, b in zip(grads_all[-last:], grads_one[1:]))
