"""Metrics shared by tasks. Each returns a Python float, the mean over the batch.

Integer targets equal to -100 (`rnnbench.data.task.IGNORE`, torch's ignore_index) are not scored.
"""
from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

IGNORE = -100


def mse(pred: Tensor, y: Tensor) -> float:
    return F.mse_loss(pred, y).item()


def cross_entropy(logits: Tensor, y: Tensor) -> float:
    """Mean cross-entropy in nats over scored positions; logits (..., C), integer targets (...)."""
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1), ignore_index=IGNORE).item()


def accuracy(logits: Tensor, y: Tensor) -> float:
    """Fraction of scored positions where the arg-max class is the target."""
    scored = y != IGNORE
    return (logits.argmax(-1) == y)[scored].float().mean().item()
