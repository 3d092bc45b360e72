"""Compiled time loops of the built-in gated cells (recurrent_loop.cpp): `impl=compiled`.

A small recurrent run on a CPU spends its time dispatching operations, not computing: the reference
loop issues ~10 PyTorch operations per step and as many in the backward, each a few microseconds
of overhead around a few hundred FLOPs. recurrent_loop.cpp runs the whole sequence in one call —
per step one batched GEMM for W_hh h and one pass over the units computing every gate together —
and its backward likewise, for K members at once (each with its own weights; K = 1 for a single
run). The input projection W_ih x + b_ih is one GEMM over all steps before the loop (`Projection`);
autograd joins the two and everything around them.

The extension is compiled on first use with torch's C++ extension loader (g++ and ninja; cached
under TORCH_EXTENSIONS_DIR, ~40 s once per machine and torch version). Where it cannot be built,
`available()` is False, one log line says why, and `impl=auto` takes the next path.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import logging
from pathlib import Path
from typing import Any

import torch
from torch import Tensor
from torch.overrides import handle_torch_function, has_torch_function

log = logging.getLogger("rnnbench")
SOURCE = Path(__file__).with_name("recurrent_loop.cpp")


def vector_flags() -> tuple[str, list[str]]:
    """The build's SIMD level: AVX2 (8 floats per instruction, SLEEF's exp and tanh) where this
    CPU has it — as torch's own kernels pick theirs at run time — else ATen's portable vectors."""
    if torch.backends.cpu.get_cpu_capability() in ("AVX2", "AVX512"):
        return "avx2", ["-mavx2", "-mfma", "-DCPU_CAPABILITY=AVX2", "-DCPU_CAPABILITY_AVX2"]
    return "default", ["-DCPU_CAPABILITY=DEFAULT"]


@functools.cache
def extension() -> Any:
    """The compiled module, or None (after one warning naming the reason)."""
    try:
        from torch.utils.cpp_extension import load

        level, flags = vector_flags()
        return load(f"rnnbench_recurrent_loop_{level}", [str(SOURCE)], extra_cflags=["-O3", *flags], verbose=False)
    except Exception as exc:  # no compiler, no ninja, a failed build: the Python loop runs instead
        reason = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        log.warning("the compiled recurrent loop is unavailable (%s); the cells run their Python loop", reason[:200])
        return None


_ON_CPU = contextvars.ContextVar("on_cpu", default=True)


@contextlib.contextmanager
def off_cpu():
    """Models built inside run on another device: `impl=auto` passes the compiled loop (CPU code) by
    and takes torch.nn's kernel (cuDNN) where the cell has one."""
    token = _ON_CPU.set(False)
    try:
        yield
    finally:
        _ON_CPU.reset(token)


def available() -> bool:
    return _ON_CPU.get() and extension() is not None


def _members(*tensors: Tensor) -> list[Tensor]:
    return [t.contiguous() for t in tensors]


def kind_of(cell_class: type, options: dict) -> str | None:
    """ "rnn", "gru" or "lstm" for a built-in cell whose loop recurrent_loop.cpp computes, else None.
    The class must be the built-in one itself: a subclass may change its forward."""
    from rnnbench.models.gru import GRUCell
    from rnnbench.models.lstm import LSTMCell
    from rnnbench.models.lstm_variants import VariantLSTMCell
    from rnnbench.models.rnn import RNNCell

    if cell_class is VariantLSTMCell:
        return None if options.get("layer_norm") else "lstm"
    return {RNNCell: "rnn", GRUCell: "gru", LSTMCell: "lstm"}.get(cell_class)


def run(cell: torch.nn.Module, x: Tensor, state: Any = None) -> tuple[Tensor, Any]:
    """`Recurrent`'s runner for impl=compiled: (B, T, I) → (B, T, H), final state (the cell's own
    format: h, or (h, c) for the LSTM). The cell's `project_input` is W_ih x + b_ih (kind_of
    admits only such cells); `Projection` computes it with a backward suited to narrow inputs."""
    if state is None:
        state = cell.initial_state(x.shape[0], x)
    weights = (cell.weight_ih, cell.bias_ih, cell.weight_hh, cell.bias_hh)
    if isinstance(state, tuple):  # LSTM: (h, c)
        h0, c0 = state
        flags = {"cifg": getattr(cell, "cifg", False), "no_forget": getattr(cell, "no_forget", False)}
        hs, c = recurrent_loop("lstm", x, h0, c0, *weights, getattr(cell, "peephole", None), **flags)
        return hs, (hs[:, -1], c)
    kind = "rnn" if cell.num_gates == 1 else "gru"
    relu = getattr(cell, "nonlinearity", "tanh") == "relu"
    hs, _ = recurrent_loop(kind, x, state, None, *weights, None, relu=relu)
    return hs, hs[:, -1]


def recurrent_loop(
    kind: str,
    x: Tensor,
    h0: Tensor,
    c0: Tensor | None,
    w_ih: Tensor,
    b_ih: Tensor,
    w_hh: Tensor,
    b_hh: Tensor,
    peephole: Tensor | None,
    relu: bool = False,
    cifg: bool = False,
    no_forget: bool = False,
) -> tuple[Tensor, Tensor | None]:
    """One layer: x (B, T, I), h0 (and c0) (B, H) → every h_t (B, T, H) and the last c. Batched
    members (training/stacked.py) meet it with each weight stacked over K members and the members'
    batches folded into B: `members_loop` then runs all K in one call."""
    tensors = tuple(t for t in (x, h0, c0, w_ih, b_ih, w_hh, b_hh, peephole) if t is not None)
    flags = {"relu": relu, "cifg": cifg, "no_forget": no_forget}
    if has_torch_function(tensors):
        return handle_torch_function(
            recurrent_loop, tensors, kind, x, h0, c0, w_ih, b_ih, w_hh, b_hh, peephole, **flags
        )
    one = [None if t is None else t.unsqueeze(0) for t in (w_ih, b_ih, w_hh, b_hh, peephole)]
    return members_loop(kind, x, h0, c0, *one, **flags)


def members_loop(kind, x, h0, c0, w_ih, b_ih, w_hh, b_hh, peephole, relu=False, cifg=False, no_forget=False):
    """K members at once: x (K·B, T, I), h0, c0 (K·B, H), member-major; weights stacked over K
    (w_ih (K, G·H, I), …, peephole (K, P, H)) → h_t (K·B, T, H), last c (K·B, H) or None."""
    K, (_, T, I), H = w_hh.shape[0], x.shape, w_hh.shape[-1]
    xp = Projection.apply(x.reshape(K, -1, I), w_ih, b_ih)  # (K, B·T, G·H)
    steps = xp.reshape(K, -1, T, xp.shape[-1]).permute(2, 0, 1, 3)  # (T, K, B, G·H)
    h0 = h0.reshape(K, -1, H)
    if kind == "lstm":
        no_peephole = xp.new_zeros(0)
        hs, c = LSTMLoop.apply(
            steps, h0, c0.reshape(K, -1, H), w_hh, b_hh, no_peephole if peephole is None else peephole, cifg, no_forget
        )
        c = c.reshape(-1, H)
    elif kind == "gru":
        hs, c = GRULoop.apply(steps, h0, w_hh, b_hh), None
    else:
        hs, c = RNNLoop.apply(steps, h0, w_hh, b_hh, relu), None
    return hs[1:].permute(1, 2, 0, 3).reshape(-1, T, H), c  # (K·B, T, H)


class Projection(torch.autograd.Function):
    """W_ih x + b_ih for K members: x (K, N, I), w (K, G·H, I), b (K, G·H) → (K, N, G·H). Its
    backward orders each GEMM with the narrow dimension first: BLAS computes xᵀ g (I × G·H, inner
    N) ten times faster than gᵀ x (G·H × I) at I = 2, N = 6,400 on this CPU (2.1 ms against 0.18);
    and computes member by member (batched BLAS may block differently for another K)."""

    @staticmethod
    def forward(ctx, x: Tensor, w: Tensor, b: Tensor) -> Tensor:
        ctx.save_for_backward(x, w)
        return torch.baddbmm(b.unsqueeze(1), x, w.transpose(1, 2))

    @staticmethod
    def backward(ctx, g: Tensor):
        x, w = ctx.saved_tensors
        g = g.contiguous()  # member by member: a member's bits do not depend on how many share the call
        dx = torch.stack([(w[k].T @ g[k].T).T for k in range(len(g))]) if ctx.needs_input_grad[0] else None
        dw = torch.stack([(x[k].T @ g[k]).T for k in range(len(g))])
        return dx, dw, g.sum(1)


class RNNLoop(torch.autograd.Function):
    @staticmethod
    def forward(ctx, xp: Tensor, h0: Tensor, w_hh: Tensor, b_hh: Tensor, relu: bool) -> Tensor:
        (hs,) = extension().rnn_forward(*_members(xp, h0, w_hh, b_hh), relu)
        ctx.save_for_backward(hs, w_hh)
        ctx.relu = relu
        return hs

    @staticmethod
    def backward(ctx, dhs: Tensor):
        hs, w_hh = ctx.saved_tensors
        dxp, dh0, dw, db = extension().rnn_backward(
            dhs[1:].contiguous(), dhs[0].new_zeros(dhs.shape[1:]), hs, w_hh, ctx.relu
        )
        return dxp, dh0 + dhs[0], dw, db, None


class GRULoop(torch.autograd.Function):
    @staticmethod
    def forward(ctx, xp: Tensor, h0: Tensor, w_hh: Tensor, b_hh: Tensor) -> Tensor:
        hs, saved = extension().gru_forward(*_members(xp, h0, w_hh, b_hh))
        ctx.save_for_backward(hs, saved, w_hh)
        return hs

    @staticmethod
    def backward(ctx, dhs: Tensor):
        hs, saved, w_hh = ctx.saved_tensors
        dxp, dh0, dw, db = extension().gru_backward(
            dhs[1:].contiguous(), dhs[0].new_zeros(dhs.shape[1:]), hs, saved, w_hh
        )
        return dxp, dh0 + dhs[0], dw, db


class LSTMLoop(torch.autograd.Function):
    @staticmethod
    def forward(ctx, xp, h0, c0, w_hh, b_hh, peephole, cifg: bool, no_forget: bool):
        hs, cs, saved = extension().lstm_forward(*_members(xp, h0, c0, w_hh, b_hh, peephole), cifg, no_forget)
        ctx.save_for_backward(hs, cs, saved, w_hh, peephole)
        ctx.flags = (cifg, no_forget)
        return hs, cs[-1].clone()  # every h_t (h_0 first), and the last c

    @staticmethod
    def backward(ctx, dhs: Tensor, dc_last: Tensor):
        hs, cs, saved, w_hh, peephole = ctx.saved_tensors
        dxp, dh0, dc0, dw, db, dpeep = extension().lstm_backward(
            dhs[1:].contiguous(),
            dhs[0].new_zeros(dhs.shape[1:]),
            dc_last.contiguous(),
            hs,
            cs,
            saved,
            w_hh,
            peephole,
            *ctx.flags,
        )
        return dxp, dh0 + dhs[0], dc0, dw, db, dpeep if peephole.numel() else None, None, None
