"""The modern recurrences (LRU, RG-LRU, Mamba, S4D, GLA, DeltaNet, sLSTM, mLSTM): parallel form
against the loop, against the authors' reference functions (transcribed here, with their source),
parameter formulas, state sizes of every model, and sizing by state (`model.state_budget`)."""

from __future__ import annotations

import functools
import math

import pytest
import torch
import torch.nn.functional as F

from rnnbench.errors import ConfigError, UserError
from rnnbench.models import Recurrent
from rnnbench.models.deltanet import DeltaNetCell
from rnnbench.models.gla import GLACell
from rnnbench.models.lru import LRUCell
from rnnbench.models.mamba import MambaCell
from rnnbench.models.mlstm import MLSTMCell
from rnnbench.models.rglru import RGLRUCell
from rnnbench.models.s4d import S4DCell
from rnnbench.models.slstm import SLSTMCell
from rnnbench.training.build import build_model
from tests.conftest import cached_task, compose_config

NEGATIVE_DELTANET = functools.partial(DeltaNetCell, negative_eigenvalues=True)
GATED_DELTANET = functools.partial(DeltaNetCell, gated=True, negative_eigenvalues=True, chunk_size=5)
CELLS = [
    LRUCell,
    RGLRUCell,
    MambaCell,
    S4DCell,
    GLACell,
    functools.partial(GLACell, conv_size=3, chunk_size=5),
    DeltaNetCell,
    functools.partial(DeltaNetCell, conv_size=0),
    NEGATIVE_DELTANET,
    GATED_DELTANET,
    MLSTMCell,
    functools.partial(MLSTMCell, num_heads=4, chunk_size=5),
]


def n_params(module) -> int:
    return sum(p.numel() for p in module.parameters())


def twins(cell, inputs: int = 3, hidden: int = 8):
    """The same weights as the parallel form and as the reference loop, in float64."""
    torch.manual_seed(0)
    parallel = Recurrent(inputs, cell, hidden, num_layers=2, impl="scan").double()
    loop = Recurrent(inputs, cell, hidden, num_layers=2, impl="reference").double()
    loop.load_state_dict(parallel.state_dict())
    return parallel, loop


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("T", [pytest.param(1000, marks=pytest.mark.slow), 37, 2, 1])
def test_the_parallel_form_equals_the_loop_in_outputs_and_gradients(cell, T):
    parallel, loop = twins(cell)
    assert parallel.impl == "scan" and loop.impl == "reference"
    x = torch.randn(2, T, 3, dtype=torch.float64)
    y_parallel, state_parallel = parallel(x)
    y_loop, state_loop = loop(x)
    torch.testing.assert_close(y_parallel, y_loop, rtol=1e-5, atol=1e-9)
    torch.testing.assert_close(state_parallel, state_loop, rtol=1e-5, atol=1e-9)
    weights = torch.randn_like(y_parallel)
    (y_parallel * weights).sum().backward()
    (y_loop * weights).sum().backward()
    for (name, p), q in zip(parallel.named_parameters(), loop.parameters()):
        grads = [r.grad if r.grad is not None else torch.zeros_like(r) for r in (p, q)]  # T = 1 never reads λ
        torch.testing.assert_close(*grads, rtol=1e-5, atol=1e-9, msg=name)


@pytest.mark.parametrize("cell", CELLS)
def test_a_carried_state_continues_the_sequence_exactly(cell):
    """Truncated BPTT and `rnnbench sample` feed a sequence in pieces: the convolution windows and
    the recurrent states carry over."""
    parallel, loop = twins(cell)
    x = torch.randn(2, 19, 3, dtype=torch.float64)
    whole, _ = parallel(x)
    first, state = parallel(x[:, :7])
    second, state = parallel(x[:, 7:18], state)
    last, _ = loop(x[:, 18:], state)  # one step on the loop, from the parallel form's state
    torch.testing.assert_close(torch.cat([first, second, last], 1), whole)


@pytest.mark.slow
@pytest.mark.parametrize("cell", CELLS)
def test_float32_stays_finite_and_close_at_long_T(cell):
    torch.manual_seed(0)
    parallel = Recurrent(3, cell, 16, impl="scan")
    loop = Recurrent(3, cell, 16, impl="reference")
    loop.load_state_dict(parallel.state_dict())
    x = torch.randn(2, 3000, 3) * 3
    y = parallel(x)[0]
    assert torch.isfinite(y).all()
    torch.testing.assert_close(y, loop(x)[0], rtol=1e-3, atol=1e-4)


# --- against the authors' reference functions ------------------------------------------------------


def selective_scan_ref(u, delta, A, B, C, D, z, delta_bias):
    """mamba_ssm/ops/selective_scan_interface.py `selective_scan_ref` (state-spaces/mamba), its
    real-A, input-dependent B and C path (B, C (batch, N, L)), delta_softplus=True; kept in the
    input's dtype (the original computes in float32)."""
    delta = F.softplus(delta + delta_bias[..., None])
    x = A.new_zeros((u.shape[0], A.shape[0], A.shape[1]))
    deltaA = torch.exp(torch.einsum("bdl,dn->bdln", delta, A))
    deltaB_u = torch.einsum("bdl,bnl,bdl->bdln", delta, B, u)
    ys = []
    for i in range(u.shape[2]):
        x = deltaA[:, :, i] * x + deltaB_u[:, :, i]
        ys.append(torch.einsum("bdn,bn->bd", x, C[:, :, i]))
    y = torch.stack(ys, dim=2)
    return (y + u * D[:, None]) * F.silu(z)


def mamba_reference(block: MambaCell, hidden_states):
    """mamba_ssm/modules/mamba_simple.py `Mamba.forward`, its path without the fused kernels
    (causal_conv1d_fn absent: nn.Conv1d padded by d_conv − 1, cut to L), on `block`'s weights."""
    L = hidden_states.shape[1]
    xz = (hidden_states @ block.in_proj.weight.T).transpose(1, 2)  # (b, 2E, l)
    A = -torch.exp(block.A_log)
    x, z = xz.chunk(2, dim=1)
    conv = block.conv.conv
    x = F.silu(F.conv1d(x, conv.weight, conv.bias, padding=conv.kernel_size[0] - 1, groups=x.shape[1])[..., :L])
    x_dbl = F.linear(x.transpose(1, 2).reshape(-1, x.shape[1]), block.x_proj.weight)  # ((b l), R + 2N)
    dt, B, C = torch.split(x_dbl, [block.dt_rank, block.state_dim, block.state_dim], dim=-1)
    dt = (block.dt_proj.weight @ dt.t()).reshape(-1, x.shape[0], L).transpose(0, 1)  # (b, E, l)
    B = B.reshape(x.shape[0], L, -1).transpose(1, 2)  # (b, N, l)
    C = C.reshape(x.shape[0], L, -1).transpose(1, 2)
    y = selective_scan_ref(x, dt, A, B, C, block.D, z, block.dt_proj.bias)
    return F.linear(y.transpose(1, 2), block.out_proj.weight)


def test_mamba_is_the_authors_block_and_selective_scan():
    torch.manual_seed(0)
    block = MambaCell(5, 8, state_dim=4, dt_rank=3).double()
    x = torch.randn(2, 30, 5, dtype=torch.float64)
    torch.testing.assert_close(block.forward_sequence(x)[0], mamba_reference(block, x), rtol=1e-10, atol=1e-12)


def rg_lru_reference(block: RGLRUCell, x):
    """recurrentgemma/torch/modules.py `RecurrentBlock.forward` with layers.py `Conv1D`, `RGLRU`,
    `BlockDiagonalLinear` and `rnn_scan` (google-deepmind/recurrentgemma), on `block`'s weights;
    segment_pos from 1, so no document starts inside the sequence (rnnbench has none)."""
    y = F.gelu(block.gate_branch(x), approximate="tanh")
    u = block.input_branch(x)
    w = block.conv.conv.weight[:, 0].T  # Conv1D.w (temporal_width, width): w[k − 1 − shift] ⊙ x_{t − shift}
    u = (
        sum(F.pad(u, (0, 0, shift, 0))[:, : u.shape[1]] * w[w.shape[0] - shift - 1] for shift in range(w.shape[0]))
        + block.conv.conv.bias
    )

    def block_diagonal(layer, v):  # einsum("... h i, h i j -> ... h j", x, w) + b, with w (h, i, j)
        blocks = v.unflatten(-1, (layer.heads, -1))
        return (torch.einsum("...hi,hij->...hj", blocks, layer.weight.transpose(1, 2)) + layer.bias).flatten(-2)

    gate_x = torch.sigmoid(block_diagonal(block.input_gate, u))
    gate_a = torch.sigmoid(block_diagonal(block.recurrence_gate, u))
    log_a = -8.0 * gate_a * F.softplus(block.a_param)
    a, a_square = torch.exp(log_a), torch.exp(2 * log_a)
    normalized_x = u * gate_x * torch.sqrt(1 - a_square)
    h, hs = torch.zeros_like(u[:, 0]), []
    for t in range(u.shape[1]):
        h = a[:, t] * h + normalized_x[:, t]
        hs.append(h)
    return block.out(torch.stack(hs, 1) * y)


def test_rg_lru_is_recurrentgemma_recurrent_block():
    torch.manual_seed(0)
    block = RGLRUCell(5, 8, num_heads=2).double()
    x = torch.randn(2, 30, 5, dtype=torch.float64)
    torch.testing.assert_close(block.forward_sequence(x)[0], rg_lru_reference(block, x), rtol=1e-10, atol=1e-12)


def test_lru_is_the_papers_forward_pass():
    """Orvieto et al. 2023, Appendix A: Λ = exp(−exp(ν) + i·exp(θ)), B_norm = (B_re + i·B_im)·γ,
    hidden states by the associative scan, y = Re(C x) + D ⊙ u — here the sequential loop."""
    torch.manual_seed(0)
    block = LRUCell(8, 8, state_dim=5).double()
    u = torch.randn(2, 30, 8, dtype=torch.float64)
    Lambda = torch.exp(-torch.exp(block.nu_log) + 1j * torch.exp(block.theta_log))
    B_norm = (block.B_re + 1j * block.B_im) * torch.exp(block.gamma_log).unsqueeze(-1)
    C = block.C_re + 1j * block.C_im
    x, ys = torch.zeros(2, 5, dtype=torch.complex128), []
    for t in range(30):
        x = Lambda * x + u[:, t].to(torch.complex128) @ B_norm.T
        ys.append((x @ C.T).real + block.D * u[:, t])
    expected = F.glu(block.out(F.gelu(torch.stack(ys, 1))), dim=-1)
    torch.testing.assert_close(block.forward_sequence(u)[0], expected, rtol=1e-10, atol=1e-12)
    assert (Lambda.abs() > 0.9 - 1e-9).all() and (Lambda.abs() < 0.999).all()  # the ring it starts on


def test_s4d_is_the_authors_kernel_and_convolution():
    """models/s4/s4d.py (state-spaces/s4): S4DKernel.forward, then S4D.forward's FFT convolution,
    D skip, GELU and the GLU output, on the cell's weights — against its recurrence, one step at a time."""
    torch.manual_seed(0)
    cell = S4DCell(8, 8, state_dim=6).double()
    u = torch.randn(2, 40, 8, dtype=torch.float64)
    L = u.shape[1]
    dt = torch.exp(cell.dt_log)
    C = torch.view_as_complex(cell.C)
    A = -torch.exp(cell.A_log) + 1j * cell.A_im
    dtA = A * dt.unsqueeze(-1)
    K = dtA.unsqueeze(-1) * torch.arange(L)
    C = C * (torch.exp(dtA) - 1.0) / A
    k = 2 * torch.einsum("hn, hnl -> hl", C, torch.exp(K)).real
    y = torch.fft.irfft(torch.fft.rfft(u.transpose(1, 2), n=2 * L) * torch.fft.rfft(k, n=2 * L), n=2 * L)[..., :L]
    y = y + u.transpose(1, 2) * cell.D.unsqueeze(-1)
    expected = F.glu(cell.out(F.gelu(y).transpose(1, 2)), dim=-1)
    state, stepped = cell.initial_state(2, u), []
    for u_t in u.unbind(1):
        out, state = cell(u_t, state)
        stepped.append(out)
    torch.testing.assert_close(torch.stack(stepped, 1), expected, rtol=1e-9, atol=1e-12)
    torch.testing.assert_close(cell.forward_sequence(u)[0], expected, rtol=1e-9, atol=1e-12)


def naive_recurrent_gla(q, k, v, gk):
    """fla/ops/gla/naive.py `naive_recurrent_gla` (fla-org/flash-linear-attention): q, k, v, gk
    (B, T, H, K); o_t = (q_t K^−½) · S_t, S_t = S_{t−1} ⊙ exp(gk_t) + k_t v_tᵀ."""
    q, k, v, gk = (x.transpose(1, 2) for x in (q, k, v, gk))
    o, h = torch.zeros_like(v), q.new_zeros(*q.shape[:2], q.shape[-1], v.shape[-1])
    for i in range(q.shape[2]):
        h = h * gk[:, :, i].exp()[..., None] + k[:, :, i][..., None] * v[:, :, i][..., None, :]
        o[:, :, i] = (q[:, :, i][..., None] * q.shape[-1] ** -0.5 * h).sum(-2)
    return o.transpose(1, 2)


def delta_rule_recurrence(q, k, v, beta):
    """fla/ops/delta_rule/naive.py `delta_rule_recurrence` (fla-org/flash-linear-attention): q, k,
    v (b, h, l, d), beta (b, h, l)."""
    o, S, q = torch.zeros_like(v), v.new_zeros(*q.shape[:2], q.shape[-1], v.shape[-1]), q * q.shape[-1] ** -0.5
    for i in range(q.shape[2]):
        _k, _v = k[:, :, i], v[:, :, i]
        _v = (_v - (S * _k[..., None]).sum(-2)) * beta[:, :, i, None]
        S = S + _k.unsqueeze(-1) * _v.unsqueeze(-2)
        o[:, :, i] = torch.einsum("bhd,bhdm->bhm", q[:, :, i], S)
    return o


def test_gla_is_flas_naive_recurrence():
    torch.manual_seed(0)
    cell = GLACell(5, 8, num_heads=2, chunk_size=4).double()
    x = torch.randn(2, 30, 5, dtype=torch.float64)
    (q, k, v, log_alpha), _ = cell.inputs(x)  # (B, n, T, d); q already scaled by d^−½
    o = naive_recurrent_gla(*(p.transpose(1, 2) for p in (q * cell.d**0.5, k, v, log_alpha)))
    expected = cell.read_out(o.transpose(1, 2), x)
    torch.testing.assert_close(cell.forward_sequence(x)[0], expected, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("negative", [False, True])
def test_deltanet_is_flas_delta_rule_recurrence(negative):
    torch.manual_seed(0)
    cell = DeltaNetCell(5, 8, num_heads=2, chunk_size=4, negative_eigenvalues=negative).double()
    x = torch.randn(2, 30, 5, dtype=torch.float64)
    (q, k, v, beta), _ = cell.inputs(x)
    assert (beta > 1).any() == negative and (beta < 2).all()  # transitions' eigenvalue 1 − β ∈ (−1, 1)
    o = delta_rule_recurrence(q * cell.d**0.5, k, v, beta.squeeze(-1))
    torch.testing.assert_close(cell.forward_sequence(x)[0], cell.read_out(o, x), rtol=1e-10, atol=1e-12)


def naive_recurrent_gated_delta_rule(q, k, v, beta, g):
    """fla/ops/gated_delta_rule/naive.py `naive_recurrent_gated_delta_rule` (fla-org/flash-linear-attention),
    without its float32 cast: q, k, v (B, T, H, K), beta, g (B, T, H)."""
    q, k, v, beta, g = (x.transpose(1, 2) for x in (q, k, v, beta, g))
    o, h, q = torch.zeros_like(v), v.new_zeros(*q.shape[:2], q.shape[-1], v.shape[-1]), q * q.shape[-1] ** -0.5
    for i in range(q.shape[2]):
        h = h * g[:, :, i].exp()[..., None, None]
        b_v = (v[:, :, i] - (h * k[:, :, i][..., None]).sum(-2)) * beta[:, :, i][..., None]
        h = h + k[:, :, i].unsqueeze(-1) * b_v.unsqueeze(-2)
        o[:, :, i] = torch.einsum("bhd,bhdm->bhm", q[:, :, i], h)
    return o.transpose(1, 2)


def test_gated_deltanet_is_flas_gated_delta_rule_recurrence():
    torch.manual_seed(0)
    cell = DeltaNetCell(5, 8, num_heads=2, chunk_size=4, gated=True).double()
    x = torch.randn(2, 30, 5, dtype=torch.float64)
    (q, k, v, beta, log_alpha), _ = cell.inputs(x)
    assert (log_alpha < 0).all()  # α ∈ (0, 1)
    o = naive_recurrent_gated_delta_rule(
        *(p.transpose(1, 2) for p in (q * cell.d**0.5, k, v)),
        *(p.squeeze(-1).transpose(1, 2) for p in (beta, log_alpha)),
    )
    torch.testing.assert_close(cell.forward_sequence(x)[0], cell.read_out(o.transpose(1, 2), x), rtol=1e-10, atol=1e-12)


def slstm_forward_pointwise(Wx, Ry, b, states):
    """xlstm/blocks/slstm/src/vanilla/slstm.py (NX-AI/xlstm), the sLSTM step: states (4, B, H) =
    y, c, n, m; gates i, f, z, o, each H wide."""
    raw = Wx + Ry + b
    y, c, n, m = torch.unbind(states.view(4, states.shape[1], -1), dim=0)
    iraw, fraw, zraw, oraw = torch.unbind(raw.view(raw.shape[0], 4, -1), dim=1)
    logfplusm = m + F.logsigmoid(fraw)
    mnew = iraw if torch.all(n == 0.0) else torch.max(iraw, logfplusm)
    ogate, igate, fgate = torch.sigmoid(oraw), torch.exp(iraw - mnew), torch.exp(logfplusm - mnew)
    cnew = fgate * c + igate * torch.tanh(zraw)
    nnew = fgate * n + igate
    return torch.stack((ogate * cnew / nnew, cnew, nnew, mnew), dim=0)


def slstm_forward(x, states, R, b):
    """xlstm/blocks/slstm/src/vanilla/__init__.py `slstm_forward`: x (S, B, 4H), R (K, 4d, d) for K
    heads of d units; then the layer's MultiHeadLayerNorm (group norm over heads, weight 1)."""
    num_heads, head_dim = R.shape[0], R.shape[2]
    ys = []
    for Wx_t in x.unbind(0):
        Ry = (
            states[0]
            .reshape(x.shape[1], num_heads, 1, -1)
            .matmul(R.transpose(1, 2).reshape(1, num_heads, head_dim, 4 * head_dim))
            .reshape(x.shape[1], num_heads, 4, -1)
            .transpose(1, 2)
            .reshape(x.shape[1], -1)
        )
        states = slstm_forward_pointwise(Wx_t, Ry, b, states)
        ys.append(F.group_norm(states[0], num_heads, eps=1e-5))
    return torch.stack(ys, 1), states


def test_slstm_is_the_xlstm_packages_vanilla_backend():
    torch.manual_seed(0)
    cell = SLSTMCell(5, 8, num_heads=2).double()
    with torch.no_grad():
        cell.weight_hh.normal_()  # the package starts R at 0: test the memory mixing too
    x = torch.randn(3, 25, 5, dtype=torch.float64)
    core = Recurrent(5, functools.partial(SLSTMCell, num_heads=2), 8).double()
    core.layers[0].load_state_dict(cell.state_dict())
    expected, states = slstm_forward(
        F.linear(x, cell.weight_ih).transpose(0, 1), x.new_zeros(4, 3, 8), cell.weight_hh, cell.bias
    )
    y, ((h, c, n, m),) = core(x)
    torch.testing.assert_close(y, expected, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(torch.stack([h, c, n, m]), states, rtol=1e-10, atol=1e-12)
    assert core.impl == "reference" and (n >= 1).all()  # no parallel form; n ≥ 1 after the first step


def parallel_stabilized_simple(queries, keys, values, igate_preact, fgate_preact, eps=1e-6):
    """xlstm/blocks/mlstm/backends.py (NX-AI/xlstm): the mLSTM cell in parallel form, (B, NH, S, DH)
    and gates (B, NH, S, 1); its stabiliser is the row's maximum, not the recurrent m."""
    B, NH, S, DH = queries.shape
    log_fgates = F.logsigmoid(fgate_preact)
    ltr = torch.tril(torch.ones((S, S), dtype=torch.bool))
    log_fgates_cumsum = torch.cat([queries.new_zeros(B, NH, 1, 1), torch.cumsum(log_fgates, dim=-2)], dim=-2)
    rep = log_fgates_cumsum.repeat(1, 1, 1, S + 1)
    log_fg_matrix = torch.where(ltr, (rep - rep.transpose(-2, -1))[:, :, 1:, 1:], -float("inf"))
    log_D_matrix = log_fg_matrix + igate_preact.transpose(-2, -1)
    max_log_D, _ = torch.max(log_D_matrix, dim=-1, keepdim=True)
    D_matrix = torch.exp(log_D_matrix - max_log_D)
    C_matrix = (queries @ (keys / math.sqrt(DH)).transpose(-2, -1)) * D_matrix
    normalizer = torch.maximum(C_matrix.sum(dim=-1, keepdim=True).abs(), torch.exp(-max_log_D))
    return (C_matrix / (normalizer + eps)) @ values


def recurrent_step_stabilized_simple(c_state, n_state, m_state, q, k, v, igate_preact, fgate_preact, eps=1e-6):
    """xlstm/blocks/mlstm/backends.py (NX-AI/xlstm): one mLSTM step; q, k, v (B, NH, 1, DH)."""
    DH = q.shape[-1]
    q, k, v = q.squeeze(2).unsqueeze(-1), k.squeeze(2).unsqueeze(-1), v.squeeze(2).unsqueeze(-1)
    log_fg_act = F.logsigmoid(fgate_preact)
    m_state_new = torch.max(log_fg_act + m_state, igate_preact)
    fg_act, ig_act = torch.exp(log_fg_act + m_state - m_state_new), torch.exp(igate_preact - m_state_new)
    k_scaled = k / math.sqrt(DH)
    c_state_new = fg_act * c_state + ig_act * (k_scaled @ v.transpose(-1, -2))
    n_state_new = fg_act * n_state + ig_act * k_scaled
    h_num = q.transpose(-1, -2) @ c_state_new
    h_denom = torch.maximum((q.transpose(-1, -2) @ n_state_new).abs(), torch.exp(-m_state_new)) + eps
    return h_num / h_denom, (c_state_new, n_state_new, m_state_new)


def mlstm_layer_reference(layer: MLSTMCell, x, backend):
    """xlstm/blocks/mlstm/layer.py `mLSTMLayer.forward` and cell.py `mLSTMCell.forward` (NX-AI/xlstm),
    with the layer's weights: headwise q, k, v as its LinearHeadwiseExpand, the causal convolution,
    MultiHeadLayerNorm as its group norm. `backend(q, k, v, i, f)` is the cell: (B, NH, S, ·)."""
    B, S, _ = x.shape
    x_mlstm, z = layer.up(x).chunk(2, dim=-1)
    conv = F.conv1d(
        F.pad(x_mlstm.transpose(1, 2), (layer.conv.kernel_size - 1, 0)),
        layer.conv.conv.weight,
        layer.conv.conv.bias,
        groups=layer.inner,
    ).transpose(1, 2)
    x_conv_act = F.silu(conv)

    def headwise(module, t):
        return torch.einsum("...hd,hod->...ho", t.unflatten(-1, (-1, module.block)), module.weight).flatten(-2)

    q, k, v = headwise(layer.q, x_conv_act), headwise(layer.k, x_conv_act), headwise(layer.v, x_mlstm)
    if_in = torch.cat([q, k, v], dim=-1)
    NH = layer.heads
    q, k, v = (t.view(B, S, NH, -1).transpose(1, 2) for t in (q, k, v))
    i_pre, f_pre = (g(if_in).transpose(-1, -2).unsqueeze(-1) for g in (layer.igate, layer.fgate))
    h = backend(q, k, v, i_pre, f_pre)  # (B, NH, S, DH)
    h = F.group_norm(h.transpose(1, 2).reshape(B * S, -1), NH, weight=layer.norm, eps=1e-5).view(B, S, -1)
    return layer.down((h + layer.skip * x_conv_act) * F.silu(z))


def stepwise(q, k, v, i_pre, f_pre):
    B, NH, S, DH = q.shape
    state = (q.new_zeros(B, NH, DH, DH), q.new_zeros(B, NH, DH, 1), q.new_zeros(B, NH, 1, 1))
    hs = []
    for t in range(S):
        h, state = recurrent_step_stabilized_simple(*state, *(p[:, :, t : t + 1] for p in (q, k, v, i_pre, f_pre)))
        hs.append(h)
    return torch.cat(hs, dim=2)


@pytest.mark.parametrize("heads", [1, 4])
def test_mlstm_is_the_xlstm_packages_layer_and_backends(heads, monkeypatch):
    torch.manual_seed(0)
    layer = MLSTMCell(5, 8, num_heads=heads, chunk_size=6).double()
    with torch.no_grad():  # the package starts the gates' weights at 0: move them off it
        layer.igate.weight.normal_(std=0.3)
        layer.fgate.weight.normal_(std=0.3)
    x = torch.randn(2, 30, 5, dtype=torch.float64)
    y_chunk, _ = layer.forward_sequence(x)
    state, outs = layer.initial_state(2, x), []
    for x_t in x.unbind(1):
        out, state = layer(x_t, state)
        outs.append(out)
    y_loop = torch.stack(outs, 1)
    expected = mlstm_layer_reference(layer, x, stepwise)  # the same m at every step: equal to rounding
    torch.testing.assert_close(y_loop, expected, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(y_chunk, expected, rtol=1e-10, atol=1e-12)
    # the package's parallel form stabilises by each row's maximum, not the recurrent m: the same
    # function but for where ε = 1e-6 enters; without ε, equal to rounding
    monkeypatch.setattr("rnnbench.models.mlstm.EPS", 0.0)
    parallel = mlstm_layer_reference(layer, x, functools.partial(parallel_stabilized_simple, eps=0.0))
    torch.testing.assert_close(layer.forward_sequence(x)[0], parallel, rtol=1e-10, atol=1e-12)


def test_slstm_has_no_parallel_form_and_says_so():
    with pytest.raises(ConfigError, match="is 'scan' but SLSTMCell has no parallel form"):
        Recurrent(3, SLSTMCell, 8, impl="scan")


# --- parameters and state --------------------------------------------------------------------------


@pytest.mark.parametrize("I", [3, 8])
def test_parameter_formulas_of_the_readme(I):
    H, N, E, k = 8, 6, 8, 4
    encoder = I * H + H if I != H else 0
    assert n_params(LRUCell(I, H, state_dim=N)) == 4 * N * H + 3 * N + 2 * H * H + 3 * H + encoder
    assert n_params(S4DCell(I, H, state_dim=N)) == 2 * H * H + 2 * H * N + 4 * H + encoder
    n = 2
    gates = 2 * (E * E // n + E)
    assert n_params(RGLRUCell(I, H, num_heads=n)) == 2 * (I * E + E) + (k + 1) * E + gates + E + E * H + H
    E, R = 2 * H, 3
    assert n_params(MambaCell(I, H, state_dim=N, dt_rank=R)) == E * (2 * I + H + 3 * N + 2 * R + k + 3)
    n, d = 2, H // 2
    layer = 4 * I * H + H * H + d
    assert n_params(GLACell(I, H, num_heads=n)) == layer + 16 * (I + H) + H
    conv = 3 * k * H  # the short convolutions on q, k, v, no bias
    assert n_params(DeltaNetCell(I, H, num_heads=n)) == layer + conv + n * I + n
    assert n_params(DeltaNetCell(I, H, num_heads=n, gated=True)) == layer + conv + n * I + n + n * I + 2 * n
    assert n_params(DeltaNetCell(I, H, num_heads=n, conv_size=0)) == layer + n * I + n
    assert n_params(SLSTMCell(I, H, num_heads=n)) == 4 * H * I + 4 * H * H // n + 4 * H + H
    E = 2 * H
    assert (
        n_params(MLSTMCell(I, H, num_heads=n)) == 2 * I * E + (k + 1) * E + 12 * E + 2 * (3 * E * n + n) + 2 * E + E * H
    )


H = 12
STATE_PER_LAYER = {  # model → numbers one layer carries per sample, at hidden_size H and the config's options
    "rnn": H,
    "gru": H,
    "lstm": 2 * H,
    "lstm_peephole": 2 * H,
    "lstm_cifg": 2 * H,
    "lstm_nfg": 2 * H,
    "lstm_ln": 2 * H,
    "mingru": H,
    "minlstm": H,
    "indrnn": H,
    "lru": 2 * H,  # N = H complex
    "s4d": 64 * H,  # N = 64 per channel: H·N/2 complex
    "rglru": 4 * H,  # h and the convolution's last 3 inputs
    "mamba": 2 * H * (16 + 3),  # E = 2H channels: N = 16 each, and 3 convolution inputs
    "gla": H * H // 2,  # 2 heads of (H/2)²
    "deltanet": H * H // 2 + 3 * 3 * H,  # and the q, k, v convolutions' last 3 inputs
    "slstm": 4 * H,  # h, c, n, m
    "mlstm": (2 * H) ** 2 + 2 * H + 1 + 3 * 2 * H,  # one head of d = E = 2H: C, n, m; the convolution's window
}


@pytest.mark.parametrize("model", sorted(STATE_PER_LAYER))
def test_every_recurrent_model_records_its_state_size(model):
    cfg = compose_config(f"model={model}", f"model.hidden_size={H}", "dataset=adding")
    built = build_model(cfg.model, cached_task("adding"))
    layers = cfg.model.get("num_layers", 1)
    assert built.describe()["state_size"] == layers * STATE_PER_LAYER[model]


def test_state_size_of_hybrids_bidirectional_and_baselines():
    task = cached_task("adding")
    size = {
        m: build_model(compose_config(f"model={m}", f"model.hidden_size={H}", *extra).model, task).describe()[
            "state_size"
        ]
        for m, extra in [
            ("hybrid_stacked", []),
            ("hybrid_parallel", []),
            ("transformer", []),
            ("tcn", []),
        ]
    }
    assert size["hybrid_stacked"] == size["hybrid_parallel"] == 2 * H + H  # one LSTM and one GRU layer
    assert size["transformer"] is None and size["tcn"] is None  # no fixed-size state
    cfg = compose_config("model=lstm", f"model.hidden_size={H}", "model.bidirectional=true", "model.num_layers=2")
    assert build_model(cfg.model, task).describe()["state_size"] == 2 * 2 * 2 * H  # two directions, two layers


@pytest.mark.parametrize("model", ["gru", "lstm", "mamba", "lru", "s4d", "deltanet", "slstm", "mlstm"])
def test_a_state_budget_sizes_the_model_to_the_nearest_state(model):
    task = cached_task("adding")
    built = build_model(compose_config(f"model={model}", "model.state_budget=1000").model, task)
    state = built.describe()["state_size"]
    assert built.sizing["state_budget"] == 1000 and built.sizing["state_vs_budget"] == state / 1000
    twice = build_model(compose_config(f"model={model}", "model.state_budget=2000").model, task)
    assert abs(state - 1000) < abs(twice.describe()["state_size"] - 1000)  # and grows with the budget


@pytest.mark.parametrize(
    "overrides, message",
    [
        (["model=transformer", "model.state_budget=1000"], "model=transformer carries no fixed-size state"),
        (["model=mamba", "model.state_budget=10"], "model.state_budget=10 is below the smallest model=mamba"),
        (["model=gru", "model.state_budget=-5"], "model.state_budget must be an integer"),
        (["model=gru", "model.state_budget=100", "model.param_budget=1000"], "has both model.param_budget and"),
    ],
)
def test_a_wrong_state_budget_is_one_clear_error(overrides, message):
    with pytest.raises(UserError, match=message):
        build_model(compose_config(*overrides).model, cached_task("adding"))


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: S4DCell(3, 8, state_dim=5), "state_dim must be even"),
        (lambda: RGLRUCell(3, 8, num_heads=3), "num_heads must divide hidden_size=8"),
        (lambda: LRUCell(3, 8, r_min=0.99, r_max=0.9), "r_min must be a number"),
        (lambda: MambaCell(3, 8, expand=0), "expand must be an integer"),
        (lambda: GLACell(3, 8, num_heads=3), "num_heads must divide hidden_size=8"),
        (lambda: DeltaNetCell(3, 8, negative_eigenvalues="yes"), "negative_eigenvalues must be one of"),
        (lambda: DeltaNetCell(3, 8, gated="yes"), "gated must be one of"),
        (lambda: GLACell(3, 8, conv_size=-1), "conv_size must be an integer"),
        (lambda: SLSTMCell(3, 8, num_heads=3), "num_heads must divide hidden_size=8"),
        (lambda: MLSTMCell(3, 6, proj_factor=1), "proj_factor times hidden_size must be a multiple of 4"),
        (lambda: MLSTMCell(3, 8, num_heads=3), "num_heads must divide the inner width"),
    ],
)
def test_bad_options_name_the_option(make, message):
    with pytest.raises(ConfigError, match=message):
        make()


def test_lru_transitions_stay_inside_the_unit_disc_for_any_parameters():
    cell = LRUCell(3, 4)
    with torch.no_grad():
        cell.nu_log.fill_(-30.0)  # exp(−exp(ν)) → 1 from below, never above
    lam = torch.exp(-torch.exp(cell.nu_log))
    assert (lam <= 1).all() and math.isfinite(float(lam.detach().sum()))


def test_a_cell_outside_the_cell_class_trains_without_a_state_size():
    """A cell written against the interface alone (not a `Cell`) has no `state_size` to read."""

    class Leaky(torch.nn.Module):
        def __init__(self, input_size, hidden_size):
            super().__init__()
            self.input_size, self.hidden_size = input_size, hidden_size
            self.linear = torch.nn.Linear(input_size + hidden_size, hidden_size)

        def project_input(self, x):
            return x

        def initial_state(self, batch_size, like):
            return like.new_zeros(batch_size, self.hidden_size)

        def forward(self, x_t, h):
            h = 0.5 * h + torch.tanh(self.linear(torch.cat([x_t, h], -1)))
            return h, h

    core = Recurrent(3, Leaky, 4, impl="reference")
    assert core.state_size is None and core(torch.randn(2, 5, 3))[0].shape == (2, 5, 4)


@pytest.mark.parametrize("capped", [True, False])
def test_mlstm_gradients_stay_finite_when_its_gates_close(capped, monkeypatch):
    """Closed forget and input gates drive the stabiliser m to about ĩ ≈ −100 within 64 steps:
    exp(−m) overflows float32 and its gradient (−inf × 0) turns NaN — the parity study's diverged
    mLSTM seeds — unless the floor is capped, as it is."""
    if not capped:
        monkeypatch.setattr("rnnbench.models.mlstm.floor", lambda m: torch.exp(-m))
    torch.manual_seed(0)
    cell = MLSTMCell(3, 8)
    with torch.no_grad():
        cell.igate.bias.fill_(-100.0)
        cell.fgate.bias.fill_(-6.0)
    y, _ = cell.forward_sequence(torch.randn(4, 64, 3))
    y.sum().backward()
    finite = all(p.grad.isfinite().all() for p in cell.parameters() if p.grad is not None)
    assert y.isfinite().all() and finite == capped


@pytest.mark.parametrize("cell", [MambaCell, GLACell])
def test_auto_runs_the_loop_past_the_measured_crossover(cell, monkeypatch):
    """impl=auto: the parallel form up to the cell's `parallel_tokens_up_to` (batch × steps), the loop
    beyond (the crossover measured in benchmarks/README.md)."""
    import rnnbench.models.recurrent as recurrent

    loops = []

    def counted(*args, **kwargs):
        loops.append(args[1].shape[1])
        return recurrent_run_cell(*args, **kwargs)

    recurrent_run_cell = recurrent.run_cell
    monkeypatch.setattr(recurrent, "run_cell", counted)
    torch.manual_seed(0)
    auto = Recurrent(4, functools.partial(cell), hidden_size=8, impl="auto").double()
    scan = Recurrent(4, functools.partial(cell), hidden_size=8, impl="scan").double()
    scan.load_state_dict(auto.state_dict())
    steps = cell.parallel_tokens_up_to // 1000
    short, long = torch.randn(1000, steps, 4, dtype=torch.double), torch.randn(1000, steps + 1, 4, dtype=torch.double)
    assert torch.allclose(auto(short)[0], scan(short)[0]) and loops == []  # the parallel form
    assert torch.allclose(auto(long)[0], scan(long)[0], atol=1e-10) and loops == [steps + 1]  # the loop
