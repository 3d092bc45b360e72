"""Copy memory (Hochreiter & Schmidhuber 1997; the TCN paper's version, Bai et al. 2018).

Alphabet: 0 blank, 1–8 symbols, 9 marker. With K = recall_len (10) and delay T = seq_len,
    x = [s_1 … s_K, 0 × (T−1), 9 × (K+1)]      (length T + 2K)
    y = [0 × (T+K), s_1 … s_K]
so the model must output blanks, then reproduce the K symbols it saw T steps earlier.
Loss: cross-entropy over all T + 2K positions (as in the TCN paper). Metrics: that loss (`ce`,
nats per position) and `recall_acc`, the per-symbol accuracy on the last K positions.

Baseline: the best memoryless strategy — blanks with certainty, then uniform over the 8 symbols —
scores ce = K·ln 8 / (T + 2K) and recall_acc ≈ 1/8.

Causal: a bidirectional core is refused (the task measures memory of the past).

x: (N, T+2K) long, y: (N, T+2K) long.
"""

from __future__ import annotations

import torch
from torch import Tensor

from rnnbench.data import metrics
from rnnbench.data.task import InputSpec, SyntheticTask
from rnnbench.errors import check_int

BLANK, MARKER, N_SYMBOLS = 0, 9, 8
NEG = -1e4  # logit for "impossible" in the baseline predictor (finite, so CE stays finite)


class CopyMemoryTask(SyntheticTask):
    name = "copy"
    metrics = {"ce": "min", "recall_acc": "max"}
    baseline_name = "memoryless"
    per_step = True
    causal = True  # the recall is of the past; a model must not read the sequence backwards
    input = InputSpec("tokens", 10)
    output_size = 10

    def __init__(
        self,
        seq_len: int = 100,
        recall_len: int = 10,
        n_train: int = 20_000,
        n_val: int = 1_000,
        n_test: int = 1_000,
        seed: int = 0,
        solved_at: float | None = None,
        name: str | None = None,
    ):
        super().__init__(seq_len, n_train, n_val, n_test, seed, solved_at, name)
        self.recall_len = check_int("recall_len", recall_len, 1, 1_000)

    def generate(self, n: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        T, K = self.seq_len, self.recall_len
        symbols = torch.randint(1, N_SYMBOLS + 1, (n, K), generator=generator)
        x = torch.cat([symbols, torch.full((n, T - 1), BLANK), torch.full((n, K + 1), MARKER)], dim=1)
        y = torch.cat([torch.full((n, T + K), BLANK), symbols], dim=1)
        return x, y

    def loss(self, pred: Tensor, y: Tensor) -> Tensor:
        return torch.nn.functional.cross_entropy(pred.flatten(0, 1), y.flatten())

    def score(self, pred: Tensor, y: Tensor) -> dict[str, float]:
        K = self.recall_len
        return {"ce": metrics.cross_entropy(pred, y), "recall_acc": metrics.accuracy(pred[:, -K:], y[:, -K:])}

    def trivial_prediction(self, x: Tensor) -> Tensor:
        n, length = x.shape
        logits = torch.full((n, length, self.output_size), NEG, device=x.device)
        logits[:, : length - self.recall_len, BLANK] = 0.0
        logits[:, length - self.recall_len :, 1 : N_SYMBOLS + 1] = 0.0
        return logits

    def describe(self) -> dict:
        return {**super().describe(), "recall_len": self.recall_len}
