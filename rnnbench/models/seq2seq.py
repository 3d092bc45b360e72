"""Encoder-decoder (Sutskever et al. 2014; Cho et al. 2014) with optional attention, over any core.

    encoder   k = core(embed(x))                         x (B, S) tokens → k (B, S, D); bidirectional allowed
    summary   c = k at the last step ([k→_S ; k←_1] when bidirectional)          (B, D)
    decoder   s_t = core step on [embed(y_{t−1}) ; c_t]  (y_0 = BOS)             (B, H)
              c_t = c                       attention=none or luong
              c_t = attend(s_{t−1}, k)      attention=bahdanau (query: the previous decoder output;
                                            s_0 = tanh(W_s c), as Bahdanau et al.'s initial state)
    output    logits_t = W_o s_t                          attention=none
              logits_t = W_o tanh(W_c [s_t ; a_t])         a_t = attend(s_t, k) for luong, a_t = c_t for bahdanau

Every decoder reads the encoder through its input (the summary c at each step, as in Cho et al.
2014), not by starting from the encoder's final state: this works for any core (state layouts of
fused, reference, bidirectional or hybrid stacks never need converting), and the decoder starts
from the zero state. Padding: inputs are left-padded with PAD, so the forward encoder's last step
follows the last real token; attention never looks at PAD positions.

Training (`target` given, model in training mode): at each step the decoder is fed the true
previous token with probability `teacher_forcing`, else its own arg-max (drawn once per step for
the whole batch, from torch's seeded generator). With teacher_forcing = 1 and no Bahdanau
attention, all steps run in one call of the core. Otherwise (and always at evaluation) the
decoder is greedy: it feeds back its arg-max and stops after `max_output_len` steps or once every
row has produced EOS. Output: logits (B, T_out, V). The attention weights of the last call are
kept in `.attention_weights` (B, T_out, S).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn

from rnnbench.data.metrics import IGNORE
from rnnbench.data.task import InputSpec
from rnnbench.data.transduction import BOS, EOS, PAD
from rnnbench.errors import check_choice, check_float, check_int, check_name
from rnnbench.models.attention import ATTENTIONS, Attention
from rnnbench.models.readout import Readout


class Seq2Seq(nn.Module):
    task_kind = "transduction"

    def __init__(
        self,
        core: Callable[..., nn.Module],
        input_spec: InputSpec,
        output_size: int,
        max_output_len: int,
        attention: str = "bahdanau",
        teacher_forcing: float = 1.0,
        bidirectional: bool = False,
        embedding_dim: int = 32,
        name: str = "seq2seq",
        **core_options: Any,
    ):
        super().__init__()
        self.name = check_name("name", name)
        self.attention_kind = check_choice("attention", attention, ("none", *ATTENTIONS))
        self.teacher_forcing = check_float("teacher_forcing", teacher_forcing, 0.0, 1.0)
        self.max_output_len = check_int("max_output_len", max_output_len, 1)
        embedding_dim = check_int("embedding_dim", embedding_dim, 1)
        self.source_embedding = nn.Embedding(input_spec.size, embedding_dim)
        self.target_embedding = nn.Embedding(output_size, embedding_dim)
        self.encoder = core(embedding_dim, bidirectional=bidirectional, **core_options)
        key_size = self.encoder.output_size
        self.summary = Readout("last", key_size, bidirectional)
        self.decoder = core(embedding_dim + key_size, **core_options)
        size = self.decoder.output_size
        self.attention = Attention(attention, size, key_size) if attention != "none" else None
        self.combine = nn.Linear(size + key_size, size) if attention != "none" else None
        self.initial_query = nn.Linear(key_size, size) if attention == "bahdanau" else None
        self.out = nn.Linear(size, output_size)
        self.attention_weights: Tensor | None = None

    def forward(self, x: Tensor, state: Any = None, target: Tensor | None = None) -> tuple[Tensor, None]:
        keys, _ = self.encoder(self.source_embedding(x))  # (B, S, D)
        mask = x != PAD
        summary = self.summary(keys)  # (B, D)
        projected = self.attention.project_keys(keys) if self.attention is not None else None
        teacher = target if (target is not None and self.training) else None
        if teacher is not None and self.teacher_forcing == 1.0 and self.attention_kind != "bahdanau":
            return self._decode_all(teacher, keys, projected, mask, summary), None
        return self._decode_steps(teacher, keys, projected, mask, summary), None

    def _decode_all(
        self, target: Tensor, keys: Tensor, projected: Tensor | None, mask: Tensor, summary: Tensor
    ) -> Tensor:
        """Teacher forcing at every step: the decoder reads [BOS, y_1 … y_{T−1}] in one call."""
        previous = torch.cat([torch.full_like(target[:, :1], BOS), target[:, :-1]], dim=1)
        previous = previous.masked_fill(previous == IGNORE, PAD)  # after EOS: not scored
        inputs = self.target_embedding(previous)  # (B, T, E)
        s, _ = self.decoder(torch.cat([inputs, summary[:, None].expand(-1, inputs.shape[1], -1)], dim=-1))
        context = None
        if self.attention is not None:
            context, self.attention_weights = self.attention(s, keys, projected, mask)
        return self._logits(s, context)

    def _decode_steps(
        self, target: Tensor | None, keys: Tensor, projected: Tensor | None, mask: Tensor, summary: Tensor
    ) -> Tensor:
        B = keys.shape[0]
        steps = target.shape[1] if target is not None else self.max_output_len
        token = torch.full((B,), BOS, dtype=torch.long, device=keys.device)
        query = torch.tanh(self.initial_query(summary)) if self.initial_query is not None else None  # s_0
        state = None
        finished = torch.zeros(B, dtype=torch.bool, device=keys.device)
        logits, weights = [], []
        for t in range(steps):
            context = summary
            if self.attention_kind == "bahdanau":
                context, w = self.attention(query[:, None], keys, projected, mask)
                context = context[:, 0]
                weights.append(w)
            step_input = torch.cat([self.target_embedding(token), context], dim=-1)[:, None]
            s, state = self.decoder(step_input, state)
            s = s[:, 0]  # (B, H)
            if self.attention_kind == "luong":
                context, w = self.attention(s[:, None], keys, projected, mask)
                context = context[:, 0]
                weights.append(w)
            step_logits = self._logits(s, context)
            logits.append(step_logits)
            query = s
            if (
                target is not None and torch.rand((), device="cpu") < self.teacher_forcing
            ):  # torch's CPU RNG, on any device
                token = target[:, t].masked_fill(target[:, t] == IGNORE, PAD)
            else:
                token = step_logits.argmax(-1)
            if target is None:
                finished |= token == EOS
                if finished.all():
                    break
        self.attention_weights = torch.cat(weights, dim=1) if weights else None
        return torch.stack(logits, dim=1)  # (B, T_out, V)

    def _logits(self, s: Tensor, context: Tensor | None) -> Tensor:
        """W_o s, or W_o tanh(W_c [s ; a]) with attention; s (..., H), a (..., D)."""
        if self.attention is None:
            return self.out(s)
        return self.out(torch.tanh(self.combine(torch.cat([s, context], dim=-1))))

    def describe(self) -> dict:
        cores = (self.encoder, self.decoder)
        return {
            "name": self.name,
            "impl": getattr(self.encoder, "impl", None),
            "attention": self.attention_kind,
            "params": sum(p.numel() for p in self.parameters()),
            "core_params": sum(p.numel() for core in cores for p in core.parameters()),
        }
