"""Transduction tasks: a token sequence in, another token sequence (of its own length) out; the
tasks of an encoder-decoder (models/seq2seq.py).

Token ids 0, 1, 2 are PAD, BOS and EOS in every transduction task; symbols start at 3.
    x (N, S) long: the source, left-padded with PAD to the longest source of the task
    y (N, T_out) long: the target symbols, then EOS, then IGNORE (not scored)

Metrics, on the greedy decoding cut at its first EOS:
    cer          character (symbol) error rate: Levenshtein distance to the target / target
                 length, averaged over sequences (over a split of equal-length targets this is the
                 corpus CER Σ edits / Σ length)
    exact_match  fraction of sequences decoded exactly
Training loss: cross-entropy of the teacher-forced logits per target position (EOS included).
Baseline "identity": the output is the input, unchanged.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor

from rnnbench.data.metrics import IGNORE, edit_distances
from rnnbench.data.task import EXAMPLES, SequenceTask

PAD, BOS, EOS = 0, 1, 2
SPECIALS = 3
LOGIT = 10.0  # a baseline's output token gets this logit, every other 0

log = logging.getLogger("rnnbench")


class TransductionTask(SequenceTask):
    """Subclasses build the splits (`make_splits`), set `input`/`output_size`, and render symbol
    ids as text (`symbols`: the text of id SPECIALS + i is symbols[i])."""

    kind = "transduction"
    metrics = {"cer": "min", "exact_match": "max"}
    baseline_name = "identity"
    per_step = False
    symbols: str
    n_examples: int = 5

    @property
    def sample_len(self) -> int:
        """Tokens per sample: the source read plus the target written."""
        return self.splits()["val"].x.shape[1] + self.splits()["val"].y.shape[1]

    @property
    def max_output_len(self) -> int:
        return max(s.y.shape[1] for s in self.splits().values())

    def model_args(self) -> dict:
        return {"input_spec": self.input, "output_size": self.output_size, "max_output_len": self.max_output_len}

    def loss(self, pred: Tensor, y: Tensor) -> Tensor:
        return F.cross_entropy(pred.reshape(-1, pred.shape[-1]), y.reshape(-1), ignore_index=IGNORE)

    def score(self, pred: Tensor, y: Tensor) -> dict[str, float]:
        guesses, truths = decoded(pred.argmax(-1)), targets(y)  # token lists: counted on the host
        edits = torch.from_numpy(edit_distances(guesses, truths)).double()
        lengths = torch.tensor([max(len(t), 1) for t in truths], dtype=torch.float64, device="cpu")
        exact = [g == t for g, t in zip(guesses, truths)]
        return {"cer": (edits / lengths).mean().item(), "exact_match": sum(exact) / len(exact)}

    def trivial_prediction(self, x: Tensor) -> Tensor:
        """The source tokens (without padding), then EOS, as logits."""
        rows = [row[row != PAD].tolist() + [EOS] for row in x]
        return one_hot_logits(rows, self.output_size, x.device)

    def text(self, ids: list[int]) -> str:
        return "".join(self.symbols[i - SPECIALS] if i >= SPECIALS else "" for i in ids)

    def examine(self, model: torch.nn.Module, run_dir: Path) -> dict:
        """examples.txt: the first test sources with the model's greedy output and the target;
        they are also logged and stored in the summary."""
        test = self.splits()["test"]
        x, y = test.x[: self.n_examples], test.y[: self.n_examples]
        guesses = decoded(model(x)[0].argmax(-1))
        examples = [
            {"input": self.text(row[row != PAD].tolist()), "prediction": self.text(g), "target": self.text(t)}
            for row, g, t in zip(x, guesses, targets(y))
        ]
        lines = []
        for e in examples:
            lines += [
                f"input      {e['input']!r}",
                f"prediction {e['prediction']!r}",
                f"target     {e['target']!r}",
                "",
            ]
        (run_dir / EXAMPLES).write_text("\n".join(lines), encoding="utf-8")
        log.info("examples (test split):\n%s", "\n".join(lines).rstrip())
        return {"examples": examples}


def decoded(tokens: Tensor) -> list[list[int]]:
    """Each row of greedy output up to (not including) its first EOS."""
    rows = []
    for row in tokens.tolist():
        rows.append(row[: row.index(EOS)] if EOS in row else row)
    return rows


def targets(y: Tensor) -> list[list[int]]:
    """Each target row's symbols (before EOS)."""
    return [[t for t in row if t >= SPECIALS] for row in y.tolist()]


def pad_left(rows: list[list[int]], width: int) -> Tensor:
    out = torch.full((len(rows), width), PAD, dtype=torch.long)
    for i, row in enumerate(rows):
        if row:
            out[i, width - len(row) :] = torch.tensor(row)
    return out


def target_tensor(rows: list[list[int]], width: int) -> Tensor:
    """Targets as y: symbols, EOS, then IGNORE up to `width`."""
    out = torch.full((len(rows), width), IGNORE, dtype=torch.long)
    for i, row in enumerate(rows):
        out[i, : len(row) + 1] = torch.tensor(row + [EOS])
    return out


def one_hot_logits(rows: list[list[int]], vocab: int, device: torch.device | str = "cpu") -> Tensor:
    """Token rows (ragged) as logits (N, longest, vocab) on `device`; a short row continues with EOS."""
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), EOS, dtype=torch.long, device=device)
    for i, row in enumerate(rows):
        ids[i, : len(row)] = torch.tensor(row, device=device)
    return F.one_hot(ids, vocab).float() * LOGIT
