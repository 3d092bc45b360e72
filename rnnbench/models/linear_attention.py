"""The layer around a matrix-valued state (linear attention: GLA, DeltaNet). A cell here gives the
recurrence of its state; this file gives what such layers share (flash-linear-attention's layers):

    q_t, k_t, v_t = W_q x_t, W_k x_t, W_v x_t    split into n heads of d = H/n; q scaled by d^−½;
                                                 with conv_size = k > 0, each first SiLU(ShortConv(·))
                                                 over the last k steps, as fla's short convolutions
    S_t = f(S_{t−1}, q_t, k_t, v_t, …)          S (B, n, d, d) per head: the cell's recurrence
    o_t = S_tᵀ q_t                               (B, n, d)
    y_t = W_o (RMSNorm(o_t) ⊙ SiLU(W_g x_t))     per-head RMSNorm, then the output gate

The recurrence is written twice: `step` (one time step: the reference loop, the definition) and
`chunk` (C steps at once from the state before them: the chunkwise-parallel form, intra-chunk work
as dense products and the state passed between chunks). `forward_sequence` pads T to a multiple of C
with steps that leave the state unchanged (k = v = 0, no decay) and drops their outputs.
State: n·d² = H²/n real numbers, plus the convolution's last k − 1 inputs, 3(k − 1)H. Parameters:
4IH (q, k, v, gate) + H² (output) + d (norm) + 3kH (the convolution, no bias), plus the cell's own.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnbench.errors import ConfigError, check_int
from rnnbench.models.cell import Cell
from rnnbench.models.short_conv import ShortConv


class LinearAttentionCell(Cell):
    def __init__(self, input_size: int, hidden_size: int, num_heads: int = 2, chunk_size: int = 16, conv_size: int = 0):
        super().__init__(input_size, hidden_size)
        self.heads = check_int("num_heads", num_heads, 1)
        if hidden_size % self.heads:
            raise ConfigError("num_heads", f"must divide hidden_size={hidden_size} (heads of equal width)", num_heads)
        self.d = hidden_size // self.heads
        self.chunk_size = check_int("chunk_size", chunk_size, 1, 1024)
        self.qkv = nn.Linear(input_size, 3 * hidden_size, bias=False)
        conv_size = check_int("conv_size", conv_size, 0, 64)
        self.conv = ShortConv(3 * hidden_size, conv_size, bias=False) if conv_size else None
        self.gate = nn.Linear(input_size, hidden_size, bias=False)
        self.norm = nn.Parameter(torch.ones(self.d))
        self.out = nn.Linear(hidden_size, hidden_size, bias=False)

    def initial_state(self, batch_size: int, like: Tensor) -> Tensor | tuple[Tensor, Tensor]:
        S = like.new_zeros(batch_size, self.heads, self.d, self.d)  # (B, n, d, d)
        return S if self.conv is None else (S, self.conv.initial_window(batch_size, like))

    def heads_of(self, x: Tensor) -> Tensor:  # (B, T, n·d) -> (B, n, T, d)
        return x.unflatten(-1, (self.heads, self.d)).transpose(1, 2)

    def inputs(self, x: Tensor, window: Tensor | None = None) -> tuple[tuple[Tensor, ...], Tensor | None]:
        """(q, k, v, *the cell's own per-step inputs), each (B, n, T, ·); the convolution's window
        after x (None without one)."""
        qkv = self.qkv(x)
        if self.conv is not None:
            window = window if window is not None else self.conv.initial_window(x.shape[0], x)
            qkv, window = self.conv(qkv, window)
            qkv = F.silu(qkv)
        return self.prepare(x, *(self.heads_of(p) for p in qkv.chunk(3, dim=-1))), window

    def prepare(self, x: Tensor, q: Tensor, k: Tensor, v: Tensor) -> tuple[Tensor, ...]:
        """The cell's feature maps and own inputs, from x (B, T, I) and the heads' q, k, v."""
        return q * self.d**-0.5, k, v

    def step(self, S: Tensor, q: Tensor, k: Tensor, v: Tensor, *own: Tensor) -> tuple[Tensor, Tensor]:
        """One time step: S (B, n, d, d), the inputs at t (B, n, ·) → o_t (B, n, d), S_t."""
        raise NotImplementedError

    def chunk(self, S: Tensor, q: Tensor, k: Tensor, v: Tensor, *own: Tensor) -> tuple[Tensor, Tensor]:
        """C steps at once: the inputs (B, n, C, ·) → o (B, n, C, d), the state after the last."""
        raise NotImplementedError

    def read_out(self, o: Tensor, x: Tensor) -> Tensor:  # o (B, n, T, d), x (B, T, I) -> (B, T, H)
        o = o * torch.rsqrt(o.pow(2).mean(-1, keepdim=True) + 1e-6) * self.norm
        return self.out(o.transpose(1, 2).flatten(-2) * F.silu(self.gate(x)))

    def split(self, state: Any) -> tuple[Tensor, Tensor | None]:  # (S, window), a window only with a conv
        return (state, None) if self.conv is None else state

    def join(self, S: Tensor, window: Tensor | None) -> Any:
        return S if self.conv is None else (S, window)

    def forward(self, x_t: Tensor, state: Any) -> tuple[Tensor, Any]:  # the reference loop's step
        S, window = self.split(state)
        inputs, window = self.inputs(x_t.unsqueeze(1), window)
        o, S = self.step(S, *(p[:, :, 0] for p in inputs))
        return self.read_out(o.unsqueeze(2), x_t.unsqueeze(1))[:, 0], self.join(S, window)

    def forward_sequence(self, x: Tensor, state: Any = None) -> tuple[Tensor, Any]:
        S, window = self.split(state if state is not None else self.initial_state(x.shape[0], x))
        (inputs, window), T, C = self.inputs(x, window), x.shape[1], self.chunk_size
        pad = -T % C
        inputs = [F.pad(p, (0, 0, 0, pad)) for p in inputs]  # steps that leave S as it is
        outputs = []
        for start in range(0, T + pad, C):
            o, S = self.chunk(S, *(p[:, :, start : start + C] for p in inputs))
            outputs.append(o)
        return self.read_out(torch.cat(outputs, dim=2)[:, :, :T], x), self.join(S, window)
