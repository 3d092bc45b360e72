"""K copies of one model computed as one, applied from outside: the cells stay plain PyTorch.

Batched members (members.py) run a template of the model through `torch.func.functional_call`
with each parameter replaced by `Stacked`: the K members' copies, (K, *shape). Activations carry
the K members' batches folded into their batch dimension, member-major — rows k·B … (k+1)·B − 1
are member k's — so everything a cell does to activations alone runs unchanged. Only operations
that read a parameter meet a `Stacked`, and `__torch_function__` computes each per member:

    F.linear(x, W, b)          x (K·B, …, I), W (K, O, I), b (K, O)  → one baddbmm
    x ∘ p, p ∘ x               + − × ÷ of an activation and a parameter (or a row of one: p[i])
    p ∘ q, f(p)                parameters combined, or through an element-wise function: still Stacked
    p[i], p[a:b]               indexing a parameter's own dimensions: still Stacked
    x @ p                      p (K, D) or (K, D, O)  → one bmm
    F.layer_norm(x, s, w, b)   normalised, then each member's gain and bias
    F.embedding(ids, E)        member k's ids index its own table
    F.conv1d/conv2d(x, W, b)   one grouped convolution over the members' channels (K·groups groups)
    torch._weight_norm(v, g)   each member's own norms (torch's weight_norm parametrization)
    compiled.recurrent_loop    the compiled loop of a built-in cell, K members in one call

Any other operation on a parameter raises `NotMemberAware`, naming it: the batched run then checks
out (members.BatchedRun.check) and its members train one after another. The contract a cell meets
to be batched is in models/cell.py.

Why a member dimension and not `torch.func.vmap` over the stacked parameters: vmap was slower per
GRU step on this project's CPU, and a TorchFunctionMode (which sees every operation, not only those
on parameters) slower too (benchmarks/README.md, "Batched members").
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from rnnbench.models import compiled


class NotMemberAware(Exception):
    """A parameter met an operation that has no per-member form here. (Not a TypeError: torch turns
    those raised inside an operator such as `@` into NotImplemented, losing the message.)"""


class Stacked(Tensor):
    """K members' copies of one parameter, (K, *shape), standing in for it in a template's forward."""

    plain: Tensor  # the same values as a plain tensor: what the handlers compute with
    views: dict  # _view's

    @classmethod
    def __torch_function__(cls, func: Callable, types: Any, args: tuple = (), kwargs: dict | None = None) -> Any:
        handler = HANDLERS.get(func)
        if handler is not None:  # handlers compute on plain tensors only, so nothing dispatches back here
            return handler(*args, **(kwargs or {}))
        raise NotMemberAware(f"a parameter goes through {_name(func)}, which batched members cannot split by member")


def _name(func: Callable) -> str:
    descriptor = getattr(func, "__self__", None)
    if type(func).__name__ == "method-wrapper" and hasattr(descriptor, "__objclass__"):  # an attribute read
        return f"Tensor.{descriptor.__name__}"
    name = getattr(func, "__qualname__", None) or getattr(func, "__name__", repr(func))
    return name.replace("TensorBase.", "Tensor.").replace("_VariableFunctionsClass.", "torch.")


def stacked(tensors: list[Tensor]) -> Stacked:
    """The members' copies of one parameter, stacked (gradients flow back to each copy)."""
    return _wrap(torch.stack(tensors))


def _wrap(plain: Tensor) -> Stacked:
    wrapped = plain.as_subclass(Stacked)
    wrapped.plain, wrapped.views = plain, {}
    return wrapped


def _view(p: Stacked, key: Any, make: Callable[[Tensor], Tensor]) -> Tensor:
    """A view of a parameter that a forward pass asks for at every time step (a row, a transpose,
    a reshape), made once per forward: the step's dispatch is the cost, not its arithmetic."""
    if key not in p.views:
        p.views[key] = make(p.plain)
    return p.views[key]


def _plain(t: Any) -> Any:
    return t.plain if isinstance(t, Stacked) else t


def _members_first(x: Tensor, k: int) -> Tensor:
    return x.reshape(k, -1, *x.shape[1:])  # (K·B, …) → (K, B, …)


def _expand(p: Tensor, dims: int) -> Tensor:
    """p (K, *S) as (K, 1, …, 1, *S) with `dims` dimensions in all."""
    return p.reshape(p.shape[0], *[1] * (dims - p.dim()), *p.shape[1:])


def binary(op: Callable) -> Callable:
    """`op` of two operands, at least one of them Stacked: parameters with parameters (or numbers)
    stay Stacked; a parameter meets an activation member by member."""

    def apply(a: Any, b: Any, *rest: Any, **kwargs: Any) -> Any:
        pa, pb = isinstance(a, Stacked), isinstance(b, Stacked)
        stacked_one = a if pa else b
        a, b = _plain(a), _plain(b)
        if pa and pb:
            dims = max(a.dim(), b.dim())
            return _wrap(op(_expand(a, dims), _expand(b, dims), *rest, **kwargs))
        p, x = (a, b) if pa else (b, a)
        if not isinstance(x, Tensor) or x.dim() == 0:  # a number
            return _wrap(op(a, b, *rest, **kwargs))
        k = p.shape[0]
        xs = _members_first(x, k)
        if p.dim() > xs.dim():
            raise NotMemberAware(
                f"a parameter of shape {tuple(p.shape[1:])} meets an activation of shape "
                f"{tuple(x.shape)}: an activation must keep the batch as its first dimension"
            )
        dims = xs.dim()
        ps = _view(stacked_one, ("expand", dims), lambda q: _expand(q, dims))
        out = op(ps, xs, *rest, **kwargs) if pa else op(xs, ps, *rest, **kwargs)
        return out.reshape(-1, *out.shape[2:])

    return apply


_times, _plus = binary(operator.mul), binary(operator.add)


def elementwise(fn: Callable) -> Callable:
    """An element-wise function of a parameter: a parameter again."""

    def apply(p: Tensor, *args: Any, **kwargs: Any) -> Stacked:
        return _wrap(fn(_plain(p), *args, **kwargs))

    return apply


def getitem(p: Tensor, index: Any) -> Stacked:
    """p[index] over the parameter's own dimensions (ints and slices)."""
    index = index if isinstance(index, tuple) else (index,)
    if not all(isinstance(i, (int, slice)) for i in index):
        raise NotMemberAware("a parameter is indexed by something other than ints and slices")
    key = ("item", *((i.start, i.stop, i.step) if isinstance(i, slice) else i for i in index))
    return _view(p, key, lambda q: _wrap(q[(slice(None), *index)]))


def linear(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    if isinstance(x, Stacked) or not isinstance(weight, Stacked):
        raise NotMemberAware("F.linear of a parameter by a parameter, or with a weight shared by the members")
    w = _plain(weight)
    k = w.shape[0]
    xs = x.reshape(k, -1, x.shape[-1])  # (K, B·…, I)
    wt = _view(weight, "transposed", lambda q: q.transpose(1, 2))  # (K, I, O)
    if bias is None:
        out = torch.bmm(xs, wt)
    else:
        out = torch.baddbmm(_view(bias, "column", lambda q: q.unsqueeze(1)), xs, wt)
    return out.reshape(*x.shape[:-1], w.shape[1])


def matmul(x: Tensor, p: Tensor) -> Tensor:
    """x @ p for an activation x (K·B, …, D) and a parameter p (K, D) or (K, D, O)."""
    q = _plain(p)
    if isinstance(x, Stacked) or not isinstance(p, Stacked) or q.dim() not in (2, 3):
        raise NotMemberAware("@ other than activation @ parameter (a vector or a matrix)")
    k = q.shape[0]
    xs = x.reshape(k, -1, x.shape[-1])
    if q.dim() == 2:
        return torch.bmm(xs, q.unsqueeze(-1)).reshape(x.shape[:-1])
    return torch.bmm(xs, q).reshape(*x.shape[:-1], q.shape[-1])


def layer_norm(
    x: Tensor, shape: Any, weight: Tensor | None = None, bias: Tensor | None = None, eps: float = 1e-5
) -> Tensor:
    y = F.layer_norm(_plain(x), shape, None, None, eps)
    if weight is not None:
        y = _times(y, weight)
    if bias is not None:
        y = _plus(y, bias)
    return y


def embedding(
    ids: Tensor,
    weight: Tensor,
    padding_idx: int | None = None,
    max_norm: float | None = None,
    *args: Any,
    **kwargs: Any,
) -> Tensor:
    if max_norm is not None:
        raise NotMemberAware("F.embedding with max_norm (it renormalises the table in place)")
    w = _plain(weight)
    k, vocab = w.shape[0], w.shape[1]
    offsets = torch.arange(k, device=ids.device).reshape(k, *[1] * ids.dim()) * vocab
    flat = (_members_first(ids, k) + offsets).reshape(ids.shape)
    return F.embedding(flat, w.reshape(k * vocab, w.shape[-1]))


def convolution(conv: Callable) -> Callable:
    """F.conv1d / F.conv2d with each member's kernels: one grouped convolution over (B, K·C, …)."""

    def apply(
        x: Tensor,
        weight: Tensor,
        bias: Tensor | None = None,
        stride: Any = 1,
        padding: Any = 0,
        dilation: Any = 1,
        groups: int = 1,
    ) -> Tensor:
        if isinstance(x, Stacked) or not isinstance(weight, Stacked):
            raise NotMemberAware(f"{conv.__name__} of a parameter")
        w = _plain(weight)
        k, size = w.shape[0], w.shape[1]
        rows, channels, *space = x.shape
        grouped = x.reshape(k, -1, channels, *space).transpose(0, 1).reshape(-1, k * channels, *space)
        out = conv(
            grouped,
            w.flatten(0, 1),
            None if bias is None else _plain(bias).flatten(),
            stride,
            padding,
            dilation,
            k * groups,  # member m's group j is group m·groups + j
        )
        return out.reshape(-1, k, size, *out.shape[2:]).transpose(0, 1).reshape(rows, size, *out.shape[2:])

    return apply


def compiled_loop(kind: str, x: Tensor, h0: Tensor, c0: Tensor | None, *weights: Tensor | None, **flags: Any):
    """The compiled loop of a built-in cell (models/compiled/): all K members in one call, each its
    own weights (w_ih, b_ih, w_hh, b_hh, peephole)."""
    if any(isinstance(t, Stacked) for t in (x, h0, c0)) or not isinstance(weights[2], Stacked):
        raise NotMemberAware("the compiled loop with a state or input that is a parameter, or shared weights")
    return compiled.members_loop(kind, x, h0, c0, *map(_plain, weights), **flags)


def weight_norm(v: Tensor, g: Tensor, dim: int = 0) -> Stacked:
    """g ⊙ v / ‖v‖ (torch's weight_norm parametrization), each member's own norms."""
    if dim != 0:
        raise NotMemberAware("weight_norm over a dimension other than the first")
    v, g = _plain(v), _plain(g)
    return _wrap(torch._weight_norm(v.flatten(0, 1), g.flatten(0, 1), 0).reshape(v.shape))


# The functions __torch_function__ receives: `p * x` arrives as Tensor.mul(p, x), `2 - p` as
# Tensor.__rsub__(p, 2), `-p` as Tensor.neg(p).
_ARITHMETIC = {
    operator.add: (Tensor.add, torch.add),
    operator.sub: (Tensor.sub, torch.sub),
    operator.mul: (Tensor.mul, torch.mul),
    operator.truediv: (Tensor.div, torch.div),
    operator.pow: (Tensor.pow, Tensor.__pow__, torch.pow),
}
_REFLECTED = {
    Tensor.__rsub__: lambda a, b: b - a,
    Tensor.__rdiv__: lambda a, b: b / a,
    Tensor.__rpow__: lambda a, b: b**a,
}
_UNARY = ("exp", "log", "sigmoid", "tanh", "relu", "abs", "sqrt", "neg", "reciprocal", "square", "sin", "cos", "clamp")

HANDLERS: dict[Callable, Callable] = {
    **{fn: binary(op) for op, fns in _ARITHMETIC.items() for fn in fns},
    **{fn: binary(op) for fn, op in _REFLECTED.items()},
    **{fn: elementwise(fn) for name in _UNARY for fn in (getattr(torch, name), getattr(Tensor, name))},
    F.softplus: elementwise(F.softplus),
    Tensor.__getitem__: getitem,
    F.linear: linear,
    Tensor.matmul: matmul,
    torch.matmul: matmul,
    F.layer_norm: layer_norm,
    F.embedding: embedding,
    F.conv1d: convolution(F.conv1d),
    F.conv2d: convolution(F.conv2d),
    torch._weight_norm: weight_norm,
    compiled.recurrent_loop: compiled_loop,
}
