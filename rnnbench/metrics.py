"""Metrics shared by tasks. Each returns a Python float, the mean over the batch."""
from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor


def mse(pred: Tensor, y: Tensor) -> float:
    return F.mse_loss(pred, y).item()


def cross_entropy(logits: Tensor, y: Tensor) -> float:
    """Mean cross-entropy in nats; logits (..., C), integer targets (...)."""
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1)).item()


def accuracy(logits: Tensor, y: Tensor) -> float:
    """Fraction of positions where the arg-max class is the target."""
    return (logits.argmax(-1) == y).float().mean().item()
