"""Member-aware operations: K models of one architecture computed as one (batched members,
rnnbench/training/batched.py).

Inside ``stacked(K)`` every parameter carries a leading member dimension, (K, *shape), and every
activation has the K members' batches folded into its batch dimension, member-major: rows
k·B … (k+1)·B − 1 are member k's. Element-wise operations and everything done per sample then
need no change. An operation that reads a parameter goes through one of the functions below: the
plain torch call outside ``stacked`` (a single run computes exactly what it did before), and its
per-member form inside:

    linear(x, W, b)    x (K·B, …, I), W (K, O, I), b (K, O)  → (K·B, …, O): one baddbmm
    scale(p, x)        p ⊙ x with p (K, *S) and x (K·B, …, *S)
    shift(x, b)        x + b, the same shapes
    row(p, i)          p[i] of a parameter: p[:, i] when stacked
    matvec(x, q)       x @ q with q (K, D)
    layer_norm(…)      normalise, then the gain and bias per member
    embedding(ids, E)  rows of E (K, V, D): member k's ids index its own table
    conv1d(x, W, b)    x (K·B, C, T), W (K, O, C, k): one grouped convolution over (B, K·C, T)
    weight_norm(v, g)  g ⊙ v / ‖v‖ with each member's own norms

`Linear`, `LayerNorm`, `Embedding`, `Conv1d` and the `WeightNorm` parametrization are torch.nn's
(same parameters, same initialisation) with these in their forward; the models use them instead of torch.nn's.

Why an explicit member dimension rather than ``torch.func.vmap`` over stacked parameters: on this
project's CPU (2 threads, K = 8, B = 64, H = 32) ``vmap(F.linear)`` took 229 µs where the
baddbmm above takes 30 µs, and a (B, T, 2) input projection under vmap 16 ms; a whole GRU run
under vmap was 1.5–1.7× slower than the member dimension (benchmarks/README.md, "Batched members").
"""
from __future__ import annotations

import contextlib
from contextvars import ContextVar
from typing import Iterator

import torch
import torch.nn.functional as F
from torch import Tensor, nn

_members: ContextVar[int | None] = ContextVar("rnnbench_members", default=None)


@contextlib.contextmanager
def stacked(count: int) -> Iterator[None]:
    """Parameters carry a member dimension of `count` while the context is open."""
    token = _members.set(count)
    try:
        yield
    finally:
        _members.reset(token)


def linear(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    k = _members.get()
    if k is None:
        return F.linear(x, weight, bias)
    xs = x.reshape(k, -1, x.shape[-1])  # (K, B·…, I)
    w = weight.transpose(1, 2)  # (K, I, O)
    out = torch.bmm(xs, w) if bias is None else torch.baddbmm(bias.unsqueeze(1), xs, w)
    return out.reshape(*x.shape[:-1], weight.shape[1])


def _members_first(x: Tensor, k: int) -> Tensor:
    return x.reshape(k, -1, *x.shape[1:])  # (K·B, …) → (K, B, …)


def scale(p: Tensor, x: Tensor) -> Tensor:
    k = _members.get()
    if k is None:
        return p * x
    xs = _members_first(x, k)
    ps = p.reshape(k, *[1] * (xs.dim() - p.dim()), *p.shape[1:])
    return (ps * xs).reshape(x.shape)


def row(p: Tensor, i: int) -> Tensor:
    return p[i] if _members.get() is None else p[:, i]


def matvec(x: Tensor, q: Tensor) -> Tensor:
    k = _members.get()
    if k is None:
        return x @ q
    xs = x.reshape(k, -1, x.shape[-1])
    return torch.bmm(xs, q.unsqueeze(-1)).reshape(x.shape[:-1])


def layer_norm(x: Tensor, shape: tuple[int, ...], weight: Tensor | None, bias: Tensor | None, eps: float) -> Tensor:
    if _members.get() is None:
        return F.layer_norm(x, shape, weight, bias, eps)
    y = F.layer_norm(x, shape, None, None, eps)
    if weight is not None:
        y = scale(weight, y)
    if bias is not None:
        y = shift(y, bias)
    return y


def shift(x: Tensor, b: Tensor) -> Tensor:
    """x + b for a parameter b (K, *S) and x (K·B, …, *S)."""
    k = _members.get()
    if k is None:
        return x + b
    xs = _members_first(x, k)
    return (xs + b.reshape(k, *[1] * (xs.dim() - b.dim()), *b.shape[1:])).reshape(x.shape)


def embedding(ids: Tensor, weight: Tensor) -> Tensor:
    k = _members.get()
    if k is None:
        return F.embedding(ids, weight)
    vocab = weight.shape[1]
    offsets = torch.arange(k, device=ids.device).reshape(k, *[1] * ids.dim()) * vocab
    flat = (_members_first(ids, k) + offsets).reshape(ids.shape)
    return F.embedding(flat, weight.reshape(k * vocab, weight.shape[-1]))


def conv1d(x: Tensor, weight: Tensor, bias: Tensor | None, dilation: int = 1) -> Tensor:
    """x (N, C, T) with W (O, C, k): F.conv1d; stacked, x (K·B, C, T) and W (K, O, C, k) as one
    grouped convolution over (B, K·C, T)."""
    k = _members.get()
    if k is None:
        return F.conv1d(x, weight, bias, dilation=dilation)
    rows, channels, steps = x.shape
    grouped = x.reshape(k, -1, channels, steps).transpose(0, 1).reshape(-1, k * channels, steps)
    out = F.conv1d(grouped, weight.flatten(0, 1), None if bias is None else bias.flatten(), dilation=dilation, groups=k)
    size = weight.shape[1]
    return out.reshape(-1, k, size, out.shape[-1]).transpose(0, 1).reshape(rows, size, out.shape[-1])


def weight_norm(v: Tensor, g: Tensor) -> Tensor:
    """W = g ⊙ v / ‖v‖, the norm over every dim of v but its first (the output channel): each
    member's own rows when stacked."""
    if _members.get() is None:
        return torch._weight_norm(v, g, 0)
    return torch._weight_norm(v.flatten(0, 1), g.flatten(0, 1), 0).reshape(v.shape)


class Linear(nn.Linear):
    def forward(self, x: Tensor) -> Tensor:
        return linear(x, self.weight, self.bias)


class LayerNorm(nn.LayerNorm):
    def forward(self, x: Tensor) -> Tensor:
        return layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)


class Embedding(nn.Embedding):
    def forward(self, ids: Tensor) -> Tensor:
        return embedding(ids, self.weight)


class Conv1d(nn.Conv1d):
    """nn.Conv1d with stride 1, no padding and one group (what tcn.py uses)."""

    def forward(self, x: Tensor) -> Tensor:
        return conv1d(x, self.weight, self.bias, self.dilation[0])


class WeightNorm(nn.Module):
    """The parametrization of torch.nn.utils.parametrizations.weight_norm (dim 0; the same
    parameter names, original0 = g and original1 = v), member-aware. Register it with
    ``torch.nn.utils.parametrize.register_parametrization(module, "weight", WeightNorm(), unsafe=True)``."""

    def forward(self, weight_g: Tensor, weight_v: Tensor) -> Tensor:
        return weight_norm(weight_v, weight_g)

    def right_inverse(self, weight: Tensor) -> tuple[Tensor, Tensor]:
        return torch.norm_except_dim(weight, 2, 0), weight
