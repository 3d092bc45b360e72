"""LSTM variants from Greff et al. 2017 ("LSTM: A Search Space Odyssey") and the layer-normalised
LSTM (Ba et al. 2016), as switches on one cell. With every switch off it is `LSTMCell`: the same
parameters and the same function (tested), and it then runs on the fused kernel.

With pre-activations a = W_ih x_t + b_ih + W_hh h_{t−1} + b_hh split by gate (torch's order
i, f, g, o; no f block when the forget gate is coupled or removed):

    peephole    i = σ(a_i + p_i ⊙ c_{t−1}),  f = σ(a_f + p_f ⊙ c_{t−1}),  o = σ(a_o + p_o ⊙ c_t)
    cifg        coupled input-forget gate: f = 1 − i
    no_forget   no forget gate (NFG): f = 1, so c_t = c_{t−1} + i ⊙ g
    layer_norm  a = LN(W_ih x_t) + b_ih + LN(W_hh h_{t−1}) + b_hh  and  h_t = σ(o) ⊙ tanh(LN(c_t))
                (each LN over the whole pre-activation vector, with a gain; the cell LN also has a bias)

and then c_t = f ⊙ c_{t−1} + i ⊙ tanh(g), h_t = σ(o) ⊙ tanh(c_t).
Parameters per layer: G·H(I + H) + 2·G·H with G = 4 (3 with cifg or no_forget), plus 3H
peepholes (2H without a forget gate), plus 2·G·H + 2H with layer_norm.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnbench.errors import ConfigError, check_choice
from rnnbench.models.lstm import LSTMCell

SWITCHES = ("peephole", "cifg", "no_forget", "layer_norm")


class VariantLSTMCell(LSTMCell):
    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        peephole: bool = False,
        cifg: bool = False,
        no_forget: bool = False,
        layer_norm: bool = False,
    ):
        for key, value in zip(SWITCHES, (peephole, cifg, no_forget, layer_norm)):
            check_choice(key, value, (False, True))
        if cifg and no_forget:
            raise ConfigError("cifg", "and no_forget cannot both be true (both replace the forget gate)", True)
        self.has_forget = not (cifg or no_forget)
        self.num_gates = 4 if self.has_forget else 3
        super().__init__(input_size, hidden_size)
        self.cifg, self.no_forget, self.layer_norm = cifg, no_forget, layer_norm
        self.peephole = None
        if peephole:  # rows p_i, (p_f,) p_o
            bound = 1.0 / math.sqrt(hidden_size)
            self.peephole = nn.Parameter(torch.empty(3 if self.has_forget else 2, hidden_size).uniform_(-bound, bound))
        if layer_norm:
            gh = self.num_gates * hidden_size
            self.norm_ih = nn.LayerNorm(gh, bias=False)
            self.norm_hh = nn.LayerNorm(gh, bias=False)
            self.norm_c = nn.LayerNorm(hidden_size)

    def project_input(self, x: Tensor) -> Tensor:  # (B, T, I) -> (B, T, G·H)
        if not self.layer_norm:
            return super().project_input(x)
        return self.norm_ih(F.linear(x, self.weight_ih)) + self.bias_ih

    def project_hidden(self, h: Tensor) -> Tensor:  # (B, H) -> (B, G·H)
        if not self.layer_norm:
            return super().project_hidden(h)
        return self.norm_hh(F.linear(h, self.weight_hh)) + self.bias_hh

    def forward(self, xp_t: Tensor, state: tuple[Tensor, Tensor]) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        h, c = state
        gates = (xp_t + self.project_hidden(h)).chunk(self.num_gates, dim=-1)
        if self.has_forget:
            a_i, a_f, a_g, a_o = gates
        else:
            a_i, a_g, a_o = gates
        if self.peephole is not None:
            a_i = a_i + self.peephole[0] * c
            if self.has_forget:
                a_f = a_f + self.peephole[1] * c
        i = torch.sigmoid(a_i)
        if self.has_forget:
            f = torch.sigmoid(a_f)
        else:
            f = 1 - i if self.cifg else torch.ones_like(i)
        c = f * c + i * torch.tanh(a_g)
        if self.peephole is not None:
            a_o = a_o + self.peephole[-1] * c
        h = torch.sigmoid(a_o) * torch.tanh(self.norm_c(c) if self.layer_norm else c)
        return h, (h, c)

    @classmethod
    def fused(cls, input_size, hidden_size, num_layers, dropout, bidirectional=False, **switches):
        """The fused LSTM when every switch is off (it is then the plain LSTM), else none."""
        if any(switches.values()):
            return None
        return LSTMCell.fused(input_size, hidden_size, num_layers, dropout, bidirectional)
